//! git's commit-graph file (`objects/info/commit-graph`, or a chain under
//! `objects/info/commit-graphs/`), read in place: each commit's parents, commit time
//! and topological level without inflating a commit object. libgit2 does not use it
//! for ancestry (its `graph_descendant_of` is a full merge-base walk), and a first-
//! parent walk of 15,000 commits through libgit2 parses 15,000 commits; here each
//! step is an array read. The format is git's `gitformat-commit-graph(5)`.
//!
//! Only used when git itself would use it: not in a shallow clone, nor with grafts or
//! replace refs, nor with `core.commitGraph = false`. Anything unexpected in the file
//! and the graph is not used (callers fall back to libgit2).

use std::fs::File;
use std::path::Path;

use git2::Oid;

use super::mmap::Mapped;

const HASH: usize = 20;
const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;

/// A commit's place in the graph (over every layer of a chain).
pub type Pos = u32;

struct Layer {
    map: Mapped,
    /// Commits in the layers below this one.
    base: u32,
    count: u32,
    fanout: usize,
    oids: usize,
    data: usize,
    edges: Option<usize>,
}

impl Layer {
    fn open(path: &Path, base: u32) -> Option<Layer> {
        let map = Mapped::open(&File::open(path).ok()?)?;
        let b = map.bytes();
        if b.len() < 8 || &b[..4] != b"CGPH" || b[4] != 1 || b[5] != 1 {
            return None;
        }
        let chunks = b[6] as usize;
        let (mut fanout, mut oids, mut data, mut edges) = (None, None, None, None);
        for i in 0..chunks {
            let at = 8 + i * 12;
            let entry = b.get(at..at + 12)?;
            let offset = u64::from_be_bytes(entry[4..12].try_into().ok()?) as usize;
            match &entry[..4] {
                b"OIDF" => fanout = Some(offset),
                b"OIDL" => oids = Some(offset),
                b"CDAT" => data = Some(offset),
                b"EDGE" => edges = Some(offset),
                _ => {}
            }
        }
        let (fanout, oids, data) = (fanout?, oids?, data?);
        let count = be32(b, fanout + 255 * 4)?;
        // Every table must lie inside the file.
        let n = count as usize;
        if b.len() < fanout + 1024 || b.len() < oids + n * HASH || b.len() < data + n * (HASH + 16)
        {
            return None;
        }
        Some(Layer {
            map,
            base,
            count,
            fanout,
            oids,
            data,
            edges,
        })
    }

    fn find(&self, oid: &[u8]) -> Option<u32> {
        let b = self.map.bytes();
        let first = oid[0] as usize;
        let mut lo = if first == 0 {
            0
        } else {
            be32(b, self.fanout + (first - 1) * 4)?
        };
        let mut hi = be32(b, self.fanout + first * 4)?;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = self.oids + mid as usize * HASH;
            match b[at..at + HASH].cmp(oid) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The commit-graph of one repository, every layer of it.
pub struct Graph {
    layers: Vec<Layer>,
}

/// What `Graph::distance_down_to` found: `base` is on the first-parent line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distance {
    /// Commits above `base`, at most the limit.
    pub count: usize,
    /// All of them were counted.
    pub complete: bool,
    /// The oldest commit counted (None: `base` is `tip`).
    pub oldest: Option<Pos>,
}

/// What the graph knows of one commit.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    pub first_parent: Option<Pos>,
    pub second: u32,
    /// Committer time, seconds.
    pub time: i64,
    /// Topological level: greater than every ancestor's (0: not computed).
    pub level: u32,
}

impl Graph {
    /// The graph of the repository whose objects are in `objects`, if git would use
    /// one there. `git_dir` is the common git dir.
    pub fn open(git_dir: &Path, objects: &Path) -> Option<Graph> {
        if git_dir.join("shallow").exists() || objects.join("info/grafts").exists() {
            return None;
        }
        let info = objects.join("info");
        let mut layers = Vec::new();
        if let Ok(chain) = std::fs::read_to_string(info.join("commit-graphs/commit-graph-chain")) {
            let mut base = 0u32;
            for hash in chain.lines().filter(|l| !l.is_empty()) {
                let path = info.join(format!("commit-graphs/graph-{hash}.graph"));
                let layer = Layer::open(&path, base)?;
                base = base.checked_add(layer.count)?;
                layers.push(layer);
            }
        } else {
            layers.push(Layer::open(&info.join("commit-graph"), 0)?);
        }
        (!layers.is_empty()).then_some(Graph { layers })
    }

    pub fn len(&self) -> u32 {
        self.layers.last().map_or(0, |l| l.base + l.count)
    }

    /// Where `oid` is in the graph, if it is there.
    pub fn find(&self, oid: Oid) -> Option<Pos> {
        let bytes = oid.as_bytes();
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.find(bytes).map(|i| l.base + i))
    }

    fn layer(&self, pos: Pos) -> Option<&Layer> {
        self.layers
            .iter()
            .find(|l| pos >= l.base && pos - l.base < l.count)
    }

    pub fn oid(&self, pos: Pos) -> Option<Oid> {
        let l = self.layer(pos)?;
        let at = l.oids + (pos - l.base) as usize * HASH;
        Oid::from_bytes(l.map.bytes().get(at..at + HASH)?).ok()
    }

    pub fn node(&self, pos: Pos) -> Option<Node> {
        let l = self.layer(pos)?;
        let b = l.map.bytes();
        let at = l.data + (pos - l.base) as usize * (HASH + 16) + HASH;
        let first = be32(b, at)?;
        let second = be32(b, at + 4)?;
        let high = be32(b, at + 8)?;
        let low = be32(b, at + 12)?;
        let first_parent = match first {
            NO_PARENT => None,
            p if p < self.len() => Some(p),
            _ => return None,
        };
        Some(Node {
            first_parent,
            second,
            time: (i64::from(high & 3) << 32) | i64::from(low),
            level: high >> 2,
        })
    }

    /// Every parent of a commit, first parent first.
    pub fn parents(&self, pos: Pos, node: &Node, out: &mut Vec<Pos>) -> Option<()> {
        out.clear();
        out.extend(node.first_parent);
        match node.second {
            NO_PARENT => {}
            s if s & EXTRA_EDGES == 0 => out.push(s),
            s => {
                let l = self.layer(pos)?;
                let mut at = l.edges? + (s & !EXTRA_EDGES) as usize * 4;
                loop {
                    let e = be32(l.map.bytes(), at)?;
                    out.push(e & !LAST_EDGE);
                    if e & LAST_EDGE != 0 {
                        break;
                    }
                    at += 4;
                }
            }
        }
        out.iter().all(|&p| p < self.len()).then_some(())
    }

    /// Whether `ancestor` is on the first-parent line of `descendant`, walked down
    /// to the ancestor's level. None when the graph cannot say.
    pub fn on_first_parent_line(&self, descendant: Pos, ancestor: Pos) -> Option<bool> {
        let floor = self.node(ancestor)?.level;
        let mut pos = descendant;
        loop {
            if pos == ancestor {
                return Some(true);
            }
            let node = self.node(pos)?;
            if node.level == 0 || floor == 0 {
                return None;
            }
            match node.first_parent {
                Some(p) if node.level > floor => pos = p,
                _ => return Some(false),
            }
        }
    }

    /// The first-parent line from `tip` down to `base` (not included), newest
    /// first, as `Repo::train` walks it: `Some((commits, true))` when it meets
    /// `base`, `Some((commits, false))` when it stops at `limit` commits first, and
    /// `Some` of None when it goes below `base_time` or ends. None when the graph
    /// cannot say (a damaged entry).
    #[allow(clippy::type_complexity)]
    pub fn first_parents_down_to(
        &self,
        tip: Pos,
        base: Oid,
        base_time: i64,
        limit: usize,
    ) -> Option<Option<(Vec<Oid>, bool)>> {
        let base_pos = self.find(base);
        let mut commits = Vec::new();
        let mut pos = Some(tip);
        while let Some(p) = pos {
            if Some(p) == base_pos {
                return Some(Some((commits, true)));
            }
            if commits.len() >= limit {
                return Some(Some((commits, false)));
            }
            let node = self.node(p)?;
            if node.time < base_time {
                return Some(None);
            }
            commits.push(self.oid(p)?);
            pos = node.first_parent;
        }
        Some(None)
    }

    /// How far `base` is down the first-parent line of `tip`, counted as
    /// `first_parents_down_to` walks it but without an id per commit: the commits
    /// above `base` (at most `limit`), the oldest of them, and whether the line meets
    /// `base` at all (walked on past `limit` to know, as `on_first_parent_line`
    /// would). `Some` of None when the line goes below `base_time` or ends first;
    /// None when the graph cannot say.
    pub fn distance_down_to(
        &self,
        tip: Pos,
        base: Pos,
        base_time: i64,
        limit: usize,
    ) -> Option<Option<Distance>> {
        let mut steps = 0usize;
        let mut oldest = None;
        let mut pos = Some(tip);
        while let Some(p) = pos {
            if p == base {
                return Some(Some(Distance {
                    count: steps.min(limit),
                    complete: steps <= limit,
                    oldest,
                }));
            }
            let node = self.node(p)?;
            if node.time < base_time {
                return Some(None);
            }
            steps += 1;
            if steps <= limit {
                oldest = Some(p);
            }
            pos = node.first_parent;
        }
        Some(None)
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors, both in the graph:
    /// a walk of every parent that stops at commits whose level is not above the
    /// ancestor's (they cannot reach it). None when the graph cannot say (a level
    /// not computed, a damaged entry).
    pub fn reaches(&self, descendant: Pos, ancestor: Pos) -> Option<bool> {
        if descendant == ancestor {
            return Some(true);
        }
        let floor = self.node(ancestor)?.level;
        if floor == 0 {
            return None;
        }
        let mut seen = vec![0u64; (self.len() as usize).div_ceil(64)];
        let mut stack = vec![descendant];
        let mut parents = Vec::new();
        while let Some(pos) = stack.pop() {
            if pos == ancestor {
                return Some(true);
            }
            let node = self.node(pos)?;
            if node.level == 0 {
                return None;
            }
            if node.level <= floor {
                continue;
            }
            self.parents(pos, &node, &mut parents)?;
            for &p in &parents {
                let (word, bit) = (p as usize / 64, 1u64 << (p % 64));
                if seen[word] & bit == 0 {
                    seen[word] |= bit;
                    stack.push(p);
                }
            }
        }
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::testing::{git, git_with_input};
    use std::process::Command;

    /// A history of merges (two and three parents) and a linear part, with its
    /// commit-graph written in one file or as a chain of two: every answer of
    /// `reaches` is libgit2's `graph_descendant_of`, every parent and time is the
    /// commit's.
    #[test]
    fn the_graph_answers_as_the_commits_do() {
        for split in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            git(d, &["init", "-q", "-b", "main"]);
            let mut script = String::new();
            for i in 1..=60 {
                script.push_str(&format!(
                    "commit refs/heads/main\nmark :{i}\ncommitter A <a@example.com> {} +0000\ndata 2\nc\n",
                    1_600_000_000 + i * 60
                ));
                if i > 1 {
                    script.push_str(&format!("from :{}\n", i - 1));
                }
                if i % 7 == 0 && i > 10 {
                    script.push_str(&format!("merge :{}\n", i - 5));
                }
                if i % 13 == 0 && i > 20 {
                    script.push_str(&format!("merge :{}\nmerge :{}\n", i - 9, i - 11));
                }
            }
            git_with_input(d, &["fast-import", "--quiet"], script.as_bytes());
            if split {
                git(d, &["commit-graph", "write", "--split", "--reachable"]);
                git(d, &["commit", "-q", "--allow-empty", "-m", "x"]);
                git(
                    d,
                    &["commit-graph", "write", "--split=no-merge", "--reachable"],
                );
            } else {
                git(d, &["commit-graph", "write", "--reachable"]);
            }
            let repo = git2::Repository::open(d).unwrap();
            let graph = Graph::open(&d.join(".git"), &d.join(".git/objects")).unwrap();
            if split {
                assert_eq!(graph.layers.len(), 2);
            }
            let all: Vec<Oid> = git(d, &["rev-list", "--all"])
                .lines()
                .map(|l| Oid::from_str(l).unwrap())
                .collect();
            assert_eq!(graph.len() as usize, all.len());
            let mut parents = Vec::new();
            for &oid in &all {
                let pos = graph.find(oid).unwrap();
                assert_eq!(graph.oid(pos), Some(oid));
                let node = graph.node(pos).unwrap();
                let commit = repo.find_commit(oid).unwrap();
                assert_eq!(node.time, commit.time().seconds());
                graph.parents(pos, &node, &mut parents).unwrap();
                let got: Vec<Oid> = parents.iter().map(|&p| graph.oid(p).unwrap()).collect();
                assert_eq!(got, commit.parent_ids().collect::<Vec<_>>());
            }
            for &a in &all {
                let mut line = vec![a];
                while let Some(p) = repo
                    .find_commit(*line.last().unwrap())
                    .unwrap()
                    .parent_ids()
                    .next()
                {
                    line.push(p);
                }
                for &b in &all {
                    let (pa, pb) = (graph.find(a).unwrap(), graph.find(b).unwrap());
                    let want = a == b || repo.graph_descendant_of(a, b).unwrap();
                    assert_eq!(graph.reaches(pa, pb), Some(want), "{a} reaches {b}");
                    let on_line = line.contains(&b);
                    assert_eq!(
                        graph.on_first_parent_line(pa, pb),
                        Some(on_line),
                        "{a} line {b}"
                    );
                    let time = repo.find_commit(b).unwrap().time().seconds();
                    let walked = graph.first_parents_down_to(pa, b, time, 1000).unwrap();
                    match line.iter().position(|&c| c == b) {
                        Some(i) => assert_eq!(walked, Some((line[..i].to_vec(), true))),
                        None => assert_eq!(walked, None),
                    }
                    for limit in [0, 1, 3, 1000] {
                        let distance = graph.distance_down_to(pa, pb, time, limit).unwrap();
                        let want = line.iter().position(|&c| c == b).map(|i| Distance {
                            count: i.min(limit),
                            complete: i <= limit,
                            oldest: line[..i.min(limit)].last().map(|&c| graph.find(c).unwrap()),
                        });
                        assert_eq!(distance, want, "{a} down to {b}, limit {limit}");
                    }
                }
            }
            assert!(graph.find(Oid::zero()).is_none());

            // Revisions with `~N` and `^N` steps, walked in the graph, are what git
            // makes of them, and those git refuses are left to libgit2 (an error).
            let repo = crate::ledger::Repo::open(d).unwrap();
            let mut walked = 0;
            let mut revs: Vec<String> = [0, 1, 2, 7, 17, 33, 59, 60, 61, 200]
                .iter()
                .map(|n| format!("main~{n}"))
                .collect();
            for rev in [
                "main^",
                "main^0",
                "main^1",
                "main^2",
                "main^3",
                "main^4",
                "main~",
                "main~~",
                "main^^2",
                "main~3^2",
                "main~8^2",
                "main~8^3",
                "main~8^4",
                "main~8^2~3",
                "main~6^2^",
                "main~1^0~2",
                "main~99999999999999999999",
                ":/c~1",
            ] {
                revs.push(rev.to_string());
            }
            for rev in &revs {
                let out = Command::new("git")
                    .current_dir(d)
                    .args(["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")])
                    .output()
                    .unwrap();
                let want = String::from_utf8(out.stdout).unwrap();
                let by_graph = repo.resolve_by_graph(rev).map(|c| c.to_string());
                let resolved = repo.resolve(rev).ok().map(|c| c.to_string());
                if out.status.success() {
                    assert_eq!(resolved.as_deref(), Some(want.trim()), "{rev}");
                    assert_eq!(by_graph.as_deref(), Some(want.trim()), "{rev}");
                    walked += 1;
                } else {
                    assert_eq!(resolved, None, "{rev}");
                    assert_eq!(by_graph, None, "{rev}");
                }
            }
            assert!(walked >= 12, "{walked} revisions walked in the graph");
        }
    }
}
