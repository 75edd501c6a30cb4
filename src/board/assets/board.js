// git train board: follows the server's event stream and refetches the page when
// the ledger changes. Optional: without it every page is complete and a reload
// shows the news. No inline code anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var body = document.body;
  var live = document.getElementById("live");
  var busy = false;
  var again = false;
  // Says the script runs (a browser test reads it from the DOM).
  document.documentElement.setAttribute("data-board", "script");

  // The server's clock (it may be fixed, GIT_TRAIN_NOW) against this one.
  function serverOffset() {
    var t = document.querySelector("footer time[datetime]");
    var at = t ? Date.parse(t.getAttribute("datetime")) : NaN;
    return isNaN(at) ? 0 : at - Date.now();
  }
  var offset = serverOffset();

  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var pair = function (a, au, b, bu) { return b === 0 ? a + au : a + au + " " + b + bu; };
    if (s < 60) { return s + "s"; }
    if (s < 3600) { return pair(Math.floor(s / 60), "m", s % 60, "s"); }
    if (s < 86400) { return pair(Math.floor(s / 3600), "h", Math.floor(s % 3600 / 60), "m"); }
    return pair(Math.floor(s / 86400), "d", Math.floor(s % 86400 / 3600), "h");
  }

  function tick() {
    var now = Date.now() + offset;
    var running = document.querySelectorAll(".elapsed[data-since]");
    for (var i = 0; i < running.length; i++) {
      var since = Number(running[i].getAttribute("data-since"));
      if (!isNaN(since)) { running[i].textContent = span(now - since); }
    }
  }

  function show(state, title) {
    if (!live) { return; }
    live.textContent = state;
    live.className = "live " + state;
    live.title = title;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok || r.status === 404 ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("main");
        var main = document.getElementById("main");
        if (next && main) {
          main.replaceWith(document.adoptNode(next));
          var foot = doc.querySelector("footer");
          var mine = document.querySelector("footer");
          if (foot && mine) { mine.replaceWith(document.adoptNode(foot)); }
          document.title = doc.title;
          offset = serverOffset();
          tick();
          body.setAttribute("data-updated", String(Date.now()));
        }
      })
      .catch(function () { show("offline", "the board did not answer; retrying"); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  setInterval(tick, 1000);
  // Ages on the page grow old even when nothing happens.
  setInterval(refresh, 60000);

  if (typeof EventSource === "function" && body.getAttribute("data-events")) {
    show("connecting", "opening the event stream");
    var events = new EventSource(body.getAttribute("data-events"));
    events.addEventListener("open", function () {
      body.setAttribute("data-live", "on");
      show("live", "updates as the ledger changes");
    });
    events.addEventListener("change", refresh);
    events.addEventListener("error", function () {
      body.setAttribute("data-live", "off");
      show("reconnecting", "the board did not answer; retrying");
    });
  }
})();
