//! An ordinary team day (issue 14): a bare origin and clones, deploying what is
//! meant, one deployment per environment at a time, with answers that say how fresh
//! they are.

mod common;

use common::{Repo, World};

const NOW: &str = "2026-11-20T12:00:00Z";

fn no_ci(repo: &Repo) {
    repo.write(".train.toml", "[checks]\nrequire = false\n");
}

#[test]
fn a_stale_clone_deploys_the_remotes_tip() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 3);
    let (alice, bob) = (&clones[0], &clones[1]);
    no_ci(alice);
    no_ci(bob);
    alice.train(&["deploy", "staging", "--yes", "-q"]).ok();
    let old = alice.rev("HEAD");
    let new = alice.commit("change 4");
    alice.git(&["push", "-q", "origin", "main"]);
    // Bob has not fetched since: his origin/main is the old tip.
    assert_eq!(bob.rev("origin/main"), old);
    let run = bob.train(&["deploy", "staging", "--yes", "--json"]).ok();
    assert_eq!(run.json()["sha"], new.as_str(), "{}", run.stderr);
    assert!(!run.stderr.contains("already runs"), "{}", run.stderr);
    assert_eq!(bob.rev("origin/main"), new);
    // Offline, nothing is fetched.
    let newer = alice.commit("change 5");
    alice.git(&["push", "-q", "origin", "main"]);
    let run = bob
        .train(&["deploy", "staging", "--yes", "--json", "--offline"])
        .ok();
    assert_eq!(run.json()["sha"], new.as_str());
    assert_ne!(bob.rev("origin/main"), newer);
}
