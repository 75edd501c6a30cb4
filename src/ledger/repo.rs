//! The repository: opening it, resolving revisions, finding trunk, walking it, its
//! refs, remotes and git configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository};

use super::graph::{Graph, Pos};
use crate::config::Config;
use crate::domain::{CommitId, CommitInfo, Timestamp};
use crate::error::{Error, Result};

pub struct Repo {
    pub(super) git: Repository,
    /// git's commit-graph, opened at the first ancestry question.
    graph: std::cell::OnceCell<Option<Graph>>,
    /// Whether history is what the objects say (`plain_history`).
    plain: std::cell::OnceCell<bool>,
    /// What `.git/train/behind` holds, read at the first `behind` (None: not
    /// read yet).
    behind_known: std::cell::RefCell<Option<Vec<super::behind::Known>>>,
    /// The remotes looked up so far, by name: None when there is no such remote,
    /// else its URL (none when it has only a push URL). git-train adds no remote,
    /// and every command asks for the team's one more than once (libgit2 reads the
    /// whole configuration for each lookup).
    remotes: std::cell::RefCell<std::collections::HashMap<String, Option<Option<String>>>>,
    /// The pack files, opened at the first object read from them (`subject`).
    packs: std::cell::OnceCell<super::pack::Packs>,
}

/// The branch deployments are taken from, and its tip.
#[derive(Clone, Debug)]
pub struct Trunk {
    /// The branch name, `main`.
    pub name: String,
    /// The ref its tip was read from: the remote-tracking branch when there is one,
    /// because that is what is merged.
    pub refname: String,
    pub tip: CommitId,
}

impl Repo {
    pub fn open(path: &Path) -> Result<Repo> {
        // Tree objects of a notes root are larger than libgit2's default 4 KiB cache
        // limit; without this every note lookup parses the root again.
        static CACHE: std::sync::Once = std::sync::Once::new();
        CACHE.call_once(|| {
            // SAFETY: runs once, before this process opens any repository.
            let _ = unsafe { git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 2 << 20) };
            // libgit2 hashes every object it reads again to check it (git does not):
            // a quarter of `history` and a fifth of an index rebuild went to SHA-1.
            git2::opts::strict_hash_verification(false);
        });
        // Found as git finds it: `git --git-dir=X train`, GIT_DIR and GIT_WORK_TREE
        // apply to the repository of the current directory (not to one named by path).
        let opened = if path == Path::new(".") {
            Repository::open_from_env()
        } else {
            Repository::discover(path)
        };
        let git = opened.map_err(|e| {
            if e.code() == ErrorCode::NotFound {
                Error::usage(format!("not a git repository: {}", path.display()))
                    .hint("run git train inside a repository, or pass -C PATH")
            } else {
                unsupported_format(&e).unwrap_or_else(|| Error::from(e))
            }
        })?;
        Ok(Repo {
            git,
            graph: std::cell::OnceCell::new(),
            plain: std::cell::OnceCell::new(),
            behind_known: Default::default(),
            remotes: Default::default(),
            packs: Default::default(),
        })
    }

    /// `.git/train/`: caches and logs, safe to delete.
    pub fn train_dir(&self) -> PathBuf {
        self.git.commondir().join("train")
    }

    /// The work tree, if the repository has one (not a bare repository).
    pub fn work_tree(&self) -> Option<&Path> {
        self.git.workdir()
    }

    pub fn workdir(&self) -> PathBuf {
        self.git
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.git.path().to_path_buf())
    }

    /// Resolves a revision the user typed to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId> {
        if rev.starts_with('-') || rev.is_empty() || rev.chars().any(char::is_control) {
            return Err(
                Error::usage(format!("'{}' is not a revision", rev.escape_debug()))
                    .hint("give a commit sha, a branch or a tag"),
            );
        }
        if let Some(found) = self.resolve_by_graph(rev) {
            return Ok(found);
        }
        let obj = self.git.revparse_single(rev).map_err(|e| match e.code() {
            ErrorCode::Ambiguous => Error::usage(format!("revision '{rev}' is ambiguous"))
                .hint("give more characters of the sha"),
            _ => Error::usage(format!("unknown revision '{rev}'"))
                .hint("give a commit sha, a branch or a tag; `git train status` lists trunk"),
        })?;
        let commit = obj
            .peel_to_commit()
            .map_err(|_| Error::usage(format!("'{rev}' is not a commit")))?;
        Ok(commit.id().into())
    }

    /// `BASE~N` and `BASE^N` (in any sequence) walked in git's commit-graph from
    /// BASE's commit: libgit2 parses every commit on the way (a deploy of
    /// `main~3000` spent three quarters of its time there). None when the revision
    /// has no such steps or the graph cannot answer; then libgit2 resolves it (and
    /// says what is wrong with it).
    pub(crate) fn resolve_by_graph(&self, rev: &str) -> Option<CommitId> {
        // After a `:` (`:/text`, `REV:path`) git reads the rest as a pattern or a
        // path, steps and all.
        if rev.contains(':') {
            return None;
        }
        let (base, steps) = split_steps(rev)?;
        let graph = self.graph()?;
        let commit = self.git.revparse_single(base).ok()?.peel_to_commit().ok()?;
        let mut pos = graph.find(commit.id())?;
        let mut parents = Vec::new();
        for (op, n) in steps {
            match op {
                b'~' => {
                    for _ in 0..n {
                        pos = graph.node(pos)?.first_parent?;
                    }
                }
                _ if n == 0 => {}
                _ => {
                    let node = graph.node(pos)?;
                    graph.parents(pos, &node, &mut parents)?;
                    pos = *parents.get(usize::try_from(n - 1).ok()?)?;
                }
            }
        }
        graph.oid(pos).map(CommitId::from)
    }

    pub fn trunk(&self, config: &Config) -> Result<Trunk> {
        if self.git.head().is_err() && self.git.references()?.next().is_none() {
            return Err(Error::usage("the repository has no commits yet")
                .hint("commit to trunk first; git train deploys commits of trunk"));
        }
        let remote = config.remote_name();
        let name = match &config.trunk {
            Some(name) => name.clone(),
            None => self.default_trunk_name(remote)?,
        };
        for refname in [
            format!("refs/remotes/{remote}/{name}"),
            format!("refs/heads/{name}"),
        ] {
            if let Ok(oid) = self.git.refname_to_id(&refname) {
                let tip = self.git.find_commit(oid)?.id().into();
                return Ok(Trunk { name, refname, tip });
            }
        }
        Err(
            Error::usage(format!("trunk branch '{name}' does not exist"))
                .hint("set `trunk = \"BRANCH\"` in .train.toml, or create the branch"),
        )
    }

    /// The name of the trunk branch (`trunk` in .train.toml, else the remote's HEAD,
    /// else main, master or trunk), whether or not this clone has it yet.
    pub fn trunk_name(&self, config: &Config) -> Result<String> {
        match &config.trunk {
            Some(name) => Ok(name.clone()),
            None => self.default_trunk_name(config.remote_name()),
        }
    }

    fn default_trunk_name(&self, remote: &str) -> Result<String> {
        let remote_head = format!("refs/remotes/{remote}/HEAD");
        if let Ok(r) = self.git.find_reference(&remote_head) {
            if let Some(target) = r.symbolic_target() {
                let prefix = format!("refs/remotes/{remote}/");
                if let Some(name) = target.strip_prefix(&prefix) {
                    return Ok(name.to_string());
                }
            }
        }
        for name in ["main", "master", "trunk"] {
            if self
                .git
                .find_reference(&format!("refs/heads/{name}"))
                .is_ok()
            {
                return Ok(name.to_string());
            }
        }
        match self.git.head() {
            Ok(head) if head.is_branch() => Ok(head.shorthand().unwrap_or("main").to_string()),
            _ => Err(Error::usage("cannot tell which branch is trunk")
                .hint("set `trunk = \"main\"` in .train.toml")),
        }
    }

    /// What git reads for this repository, at every level.
    pub fn config(&self) -> Result<GitConfig> {
        Ok(GitConfig {
            config: self.git.config()?,
            command_line: command_line_config(),
        })
    }

    /// The repository's own configuration file (`.git/config`), to change it.
    pub fn local_config(&self) -> Result<GitConfig> {
        Ok(GitConfig {
            config: self.git.config()?.open_level(git2::ConfigLevel::Local)?,
            command_line: Vec::new(),
        })
    }

    pub fn has_remote(&self, name: &str) -> bool {
        self.remote(name).is_some()
    }

    /// The URL of a remote, if the repository has the remote.
    pub fn remote_url(&self, name: &str) -> Option<String> {
        self.remote(name).flatten()
    }

    fn remote(&self, name: &str) -> Option<Option<String>> {
        if let Some(known) = self.remotes.borrow().get(name) {
            return known.clone();
        }
        let found = self
            .git
            .find_remote(name)
            .ok()
            .map(|r| r.url().map(str::to_string));
        self.remotes
            .borrow_mut()
            .insert(name.to_string(), found.clone());
        found
    }

    /// Every ref's value, and HEAD's.
    pub fn refs(&self) -> Result<Refs> {
        refs_of(&self.git)
    }

    /// Who is acting, as git's committer identity: `GIT_COMMITTER_EMAIL`, else the
    /// git user email (`git -c user.email=...` first), else the name, without spaces.
    pub fn identity(&self) -> String {
        let config = self.config().ok();
        let get = |key: &str| config.as_ref().and_then(|c| c.get(key));
        std::env::var("GIT_COMMITTER_EMAIL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| get("user.email"))
            .filter(|s| !s.trim().is_empty())
            .or_else(|| get("user.name"))
            .or_else(|| std::env::var("USER").ok())
            .map(|s| s.trim().replace(char::is_whitespace, "_"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".into())
    }

    pub fn commit_info(&self, oid: CommitId) -> Result<CommitInfo> {
        let commit = self.git.find_commit(oid.into())?;
        let author = commit.author();
        Ok(CommitInfo {
            sha: oid.to_string(),
            subject: commit.summary().unwrap_or("").to_string(),
            author: author.name().unwrap_or("").to_string(),
            author_email: author.email().unwrap_or("").to_string(),
            at: Timestamp::from_secs(commit.time().seconds()),
        })
    }

    /// The messages of `commits`, in order. Many are read through one `git
    /// cat-file --batch` (a rollback over 3,000 merge commits spent 78% of its time
    /// in libgit2 looking up and parsing each commit: 40,000 instructions apiece,
    /// against 20 ms for all 3,000 in git), a few here.
    pub fn messages(&self, commits: &[CommitId]) -> Result<Vec<String>> {
        const THROUGH_GIT: usize = 100;
        if commits.len() >= THROUGH_GIT {
            let ids: Vec<git2::Oid> = commits.iter().map(|&c| c.into()).collect();
            let mut out = Vec::with_capacity(ids.len());
            let read = super::batch::each_object(self.git.path(), "commit", &ids, |_, raw| {
                let message = super::commit_text::message_of(raw);
                out.push(String::from_utf8_lossy(message).into_owned());
                Ok(())
            });
            if let Some(done) = read {
                done?;
                return Ok(out);
            }
        }
        commits.iter().map(|&c| self.message(c)).collect()
    }

    /// The commit's whole message (subject, body, trailers).
    pub fn message(&self, commit: CommitId) -> Result<String> {
        let commit = self.git.find_commit(commit.into())?;
        Ok(String::from_utf8_lossy(commit.message_bytes()).into_owned())
    }

    /// Whether this clone has the commit.
    pub fn has_commit(&self, commit: CommitId) -> bool {
        self.git.find_commit(commit.into()).is_ok()
    }

    /// A commit's subject, if this clone has the commit. Read from the packs when
    /// it is there (`history` shows one per line); libgit2 reads the rest.
    pub fn subject(&self, commit: CommitId) -> Option<String> {
        let oid = Oid::from(commit);
        let packed = self.packs().reader_keeping_nothing().read_one(&oid);
        if let Some((super::pack::Kind::Commit, raw)) = packed {
            if let Some(subject) = super::commit_text::summary_of(&raw) {
                return Some(subject);
            }
        }
        let commit = self.git.find_commit(oid).ok()?;
        commit.summary().map(str::to_string)
    }

    /// The repository's pack files, opened at the first object read from them. An
    /// object's id is its content's hash: what they hold is what libgit2 would read
    /// (from them, or from an alternate).
    fn packs(&self) -> &super::pack::Packs {
        self.packs
            .get_or_init(|| super::pack::Packs::open(&self.git.commondir().join("objects")))
    }

    /// `ancestor` is `descendant` or one of its ancestors.
    ///
    /// On trunk the answer is usually on the first-parent line, found by walking it
    /// down to the ancestor's commit time; git's commit-graph answers the rest with
    /// generation numbers. libgit2's `graph_descendant_of` (a full merge-base walk,
    /// which does not read the commit-graph) is left for what neither can tell.
    pub fn contains(&self, descendant: CommitId, ancestor: CommitId) -> Result<bool> {
        if descendant == ancestor {
            return Ok(true);
        }
        let (d, a) = (Oid::from(descendant), Oid::from(ancestor));
        if let Some(graph) = self.graph() {
            if let (Some(dp), Some(ap)) = (graph.find(d), graph.find(a)) {
                // Trunk's first-parent line first: on trunk that is the answer, and
                // it is a fraction of every commit between the two.
                if graph.on_first_parent_line(dp, ap) == Some(true) {
                    return Ok(true);
                }
                if let Some(answer) = graph.reaches(dp, ap) {
                    return Ok(answer);
                }
            }
        }
        let ancestor_time = self.commit_time(a)?;
        let mut next = Some(d);
        let mut steps = 0usize;
        while let Some(oid) = next {
            if oid == a {
                return Ok(true);
            }
            let (parent, time) = self.first_parent_of(oid)?;
            if time < ancestor_time {
                break;
            }
            steps += 1;
            // Without a commit-graph, each step parses a commit: a long line is
            // left to libgit2.
            if steps > FIRST_PARENT_PROBE && self.graph().is_none() {
                break;
            }
            next = parent;
        }
        Ok(self.git.graph_descendant_of(d, a)?)
    }

    fn graph(&self) -> Option<&Graph> {
        self.graph
            .get_or_init(|| {
                if !self.plain_history() {
                    return None;
                }
                let config = self.git.config().ok()?;
                if config.get_bool("core.commitGraph").ok() == Some(false) {
                    return None;
                }
                let common = self.git.commondir();
                Graph::open(common, &common.join("objects"))
            })
            .as_ref()
    }

    /// History is what the objects say, as git's commit-graph and
    /// `.git/train/behind` take it: no objects from elsewhere, no replace refs, not
    /// a shallow clone (deepening it moves where lines end), no grafts.
    fn plain_history(&self) -> bool {
        *self.plain.get_or_init(|| {
            let common = self.git.commondir();
            !(std::env::var_os("GIT_OBJECT_DIRECTORY").is_some()
                || std::env::var_os("GIT_ALTERNATE_OBJECT_DIRECTORIES").is_some()
                || common.join("shallow").exists()
                || common.join("objects/info/grafts").exists()
                || super::refs::any_under(common, "refs/replace/"))
        })
    }

    /// Where the commit-graph has `oid`.
    fn graph_pos(&self, oid: Oid) -> Option<(&Graph, Pos)> {
        let graph = self.graph()?;
        Some((graph, graph.find(oid)?))
    }

    /// A commit's first parent and its commit time (seconds).
    fn first_parent_of(&self, oid: Oid) -> Result<(Option<Oid>, i64)> {
        if let Some((graph, pos)) = self.graph_pos(oid) {
            if let Some(node) = graph.node(pos) {
                let parent = match node.first_parent {
                    Some(p) => graph.oid(p),
                    None => None,
                };
                if parent.is_some() == node.first_parent.is_some() {
                    return Ok((parent, node.time));
                }
            }
        }
        let commit = self.git.find_commit(oid)?;
        Ok((commit.parent_ids().next(), commit.time().seconds()))
    }

    fn commit_time(&self, oid: Oid) -> Result<i64> {
        if let Some(node) = self.graph_pos(oid).and_then(|(g, p)| g.node(p)) {
            return Ok(node.time);
        }
        Ok(self.git.find_commit(oid)?.time().seconds())
    }

    /// First-parent commits from `tip`, newest first, at most `limit`.
    pub fn first_parent(&self, tip: CommitId, limit: usize) -> Result<Vec<CommitId>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut next = Some(Oid::from(tip));
        while let Some(oid) = next {
            if out.len() >= limit {
                break;
            }
            out.push(oid.into());
            let commit = self.git.find_commit(oid)?;
            next = commit.parent_ids().next();
        }
        Ok(out)
    }

    /// The first-parent commits of `tip` that `base` does not contain, newest first:
    /// the train from `base` to `tip`. Walks at most `limit` commits.
    pub fn train(&self, tip: CommitId, base: Option<CommitId>, limit: usize) -> Result<Walked> {
        if let Some(base) = base {
            if let Some(walked) = self.train_down_to(tip, base, limit)? {
                return Ok(walked);
            }
        }
        let mut walk = self.git.revwalk()?;
        // Unsorted with first-parent returns at once; a sorted walk reads all history.
        walk.set_sorting(git2::Sort::NONE)?;
        walk.simplify_first_parent()?;
        walk.push(tip.into())?;
        if let Some(base) = base {
            walk.hide(base.into())?;
        }
        let mut commits = Vec::new();
        let mut complete = true;
        for oid in walk {
            if commits.len() >= limit {
                complete = false;
                break;
            }
            commits.push(oid?.into());
        }
        Ok(Walked {
            commits,
            complete,
            reached_base: false,
        })
    }

    /// How far `base` is behind `tip`: `train`'s count of the commits `base` lacks
    /// (at most `limit`) and the oldest of them, and whether `base` is on trunk
    /// (`contains`). Known answers are kept in `.git/train/behind` (`ledger::behind`):
    /// the same question is answered from there, and when trunk moved on from a tip
    /// whose first-parent line met `base`, only the commits it gained are walked.
    pub fn behind(&self, tip: CommitId, base: CommitId, limit: usize) -> Result<Behind> {
        let path = self
            .plain_history()
            .then(|| self.train_dir().join("behind"));
        let mut known = self.behind_known.borrow_mut();
        let known = known
            .get_or_insert_with(|| path.as_deref().map(super::behind::load).unwrap_or_default());
        let asked = |k: &&super::behind::Known| k.base == base && k.limit == limit;
        if let Some(k) = known.iter().filter(asked).find(|k| k.tip == tip) {
            return Ok(k.behind);
        }
        let mut found = None;
        for k in known
            .iter()
            .filter(asked)
            .filter(|k| k.reached && k.behind.complete)
        {
            found = self.brought_forward(tip, k)?.map(|behind| (behind, true));
            if found.is_some() {
                break;
            }
        }
        let (behind, reached) = match found {
            Some(found) => found,
            None => self.behind_walked(tip, base, limit)?,
        };
        let found = super::behind::Known {
            tip,
            base,
            limit,
            behind,
            reached,
        };
        super::behind::add(known, found);
        if let Some(path) = path {
            // Only a cache.
            let _ = super::behind::save(&path, known);
        }
        Ok(behind)
    }

    /// `known` (whose `base` is on the first-parent line of its tip, every commit
    /// counted) for `tip`, when trunk's first-parent line from `tip` meets the old
    /// tip within the limit: the commits above it, and those `known` counted. None
    /// when it does not (trunk rewritten, moved back, or too far on).
    fn brought_forward(
        &self,
        tip: CommitId,
        known: &super::behind::Known,
    ) -> Result<Option<Behind>> {
        let old = Oid::from(known.tip);
        let old_time = self.commit_time(old)?;
        let room = known.limit.saturating_sub(known.behind.count);
        let mut next = Some(Oid::from(tip));
        let (mut walked, mut last) = (0usize, None);
        while let Some(oid) = next {
            if oid == old {
                return Ok(Some(Behind {
                    count: walked + known.behind.count,
                    complete: true,
                    oldest: known.behind.oldest.or(last),
                    on_trunk: true,
                }));
            }
            if walked >= room {
                return Ok(None);
            }
            let (parent, time) = self.first_parent_of(oid)?;
            if time < old_time {
                return Ok(None);
            }
            walked += 1;
            last = Some(oid.into());
            next = parent;
        }
        Ok(None)
    }

    /// `behind` walked, and whether the walk met `base` on the first-parent line.
    fn behind_walked(&self, tip: CommitId, base: CommitId, limit: usize) -> Result<(Behind, bool)> {
        let (t, b) = (Oid::from(tip), Oid::from(base));
        if let Some((graph, tip_pos)) = self.graph_pos(t) {
            if let Some(base_pos) = graph.find(b) {
                let base_time = graph.node(base_pos).map(|n| n.time);
                let found = base_time
                    .and_then(|time| graph.distance_down_to(tip_pos, base_pos, time, limit));
                if let Some(Some(d)) = found {
                    let oldest = match d.oldest {
                        Some(pos) => graph.oid(pos).map(|oid| Some(oid.into())),
                        None => Some(None),
                    };
                    if let Some(oldest) = oldest {
                        let behind = Behind {
                            count: d.count,
                            complete: d.complete,
                            oldest,
                            on_trunk: true,
                        };
                        return Ok((behind, true));
                    }
                }
            }
        }
        let walked = self.train(tip, Some(base), limit)?;
        let behind = Behind {
            count: walked.commits.len(),
            complete: walked.complete,
            oldest: walked.commits.last().copied(),
            on_trunk: walked.reached_base || self.contains(tip, base)?,
        };
        Ok((behind, walked.reached_base))
    }

    /// `train` in the usual case, where `base` is on the first-parent line of `tip`,
    /// without `hide`: with a hidden commit libgit2 marks everything between tip and
    /// base before it returns the first commit, whatever the limit (150 ms for
    /// 30,000 commits, where this takes microseconds for a short train). `None` when
    /// the line goes below `base`'s commit time or ends without meeting it: `base`
    /// is elsewhere, and the revwalk decides.
    fn train_down_to(&self, tip: CommitId, base: CommitId, limit: usize) -> Result<Option<Walked>> {
        let (tip, base) = (Oid::from(tip), Oid::from(base));
        let base_time = self.commit_time(base)?;
        let mut commits = Vec::new();
        let mut next = Some(tip);
        if let Some((graph, tip_pos)) = self.graph_pos(tip) {
            if let Some(walked) = graph.first_parents_down_to(tip_pos, base, base_time, limit) {
                return Ok(walked.map(|(commits, reached)| Walked {
                    commits: commits.into_iter().map(CommitId::from).collect(),
                    complete: reached,
                    reached_base: reached,
                }));
            }
        }
        while let Some(oid) = next {
            if oid == base {
                return Ok(Some(Walked {
                    commits,
                    complete: true,
                    reached_base: true,
                }));
            }
            if commits.len() >= limit {
                return Ok(Some(Walked {
                    commits,
                    complete: false,
                    reached_base: false,
                }));
            }
            let (parent, time) = self.first_parent_of(oid)?;
            if time < base_time {
                return Ok(None);
            }
            commits.push(oid.into());
            next = parent;
        }
        Ok(None)
    }
}

/// First-parent steps `contains` walks through libgit2 before it asks libgit2's
/// merge-base instead (with a commit-graph it walks the whole line).
const FIRST_PARENT_PROBE: usize = 1_000;

/// Whether `name` can be a branch (`refs/heads/NAME` is a valid ref name).
pub fn is_branch_name(name: &str) -> bool {
    git2::Reference::is_valid_name(&format!("refs/heads/{name}"))
}

/// Every ref's value, and HEAD's.
pub type Refs = BTreeMap<String, CommitId>;

/// The refs of the repository at `path`.
pub fn read_refs(path: &Path) -> Result<Refs> {
    let git = Repository::open(path)?;
    refs_of(&git)
}

/// Where git keeps the refs of the repository at `path` (the common dir).
pub fn git_dir(path: &Path) -> Result<PathBuf> {
    let git = Repository::open(path)?;
    Ok(git.commondir().to_path_buf())
}

fn refs_of(git: &Repository) -> Result<Refs> {
    let mut out = Refs::new();
    for r in git.references()? {
        let r = r?;
        if let (Some(name), Some(oid)) = (r.name(), r.resolve().ok().and_then(|r| r.target())) {
            out.insert(name.to_string(), oid.into());
        }
    }
    if let Ok(head) = git.head() {
        if let Some(oid) = head.target() {
            out.insert("HEAD".into(), oid.into());
        }
    }
    Ok(out)
}

/// What libgit2 says when it cannot open a repository of a newer format, said for
/// people (exit 2).
fn unsupported_format(e: &git2::Error) -> Option<Error> {
    let m = e.message();
    if m.contains("refstorage") || m.contains("reftable") {
        return Some(
            Error::usage("this repository keeps its refs in the reftable format, which git-train (libgit2) cannot read")
                .hint("convert it to the files format with `git refs migrate --ref-format=files` (git 2.46 or newer), then run git train again"),
        );
    }
    if m.contains("objectformat") || m.contains("sha256") {
        return Some(
            Error::usage("this repository uses SHA-256 object ids, which git-train (libgit2) cannot read")
                .hint("git-train works with SHA-1 repositories (`git init --object-format=sha1`, git's default)"),
        );
    }
    None
}

/// Configuration given on git's command line (`git -c key=value train`): git passes
/// it in `GIT_CONFIG_PARAMETERS` (and `GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_n`,
/// `GIT_CONFIG_VALUE_n`), which libgit2 ignores. Later entries win.
pub fn command_line_config() -> Vec<(String, String)> {
    let mut out =
        parse_config_parameters(&std::env::var("GIT_CONFIG_PARAMETERS").unwrap_or_default());
    let count: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    for i in 0..count.min(10_000) {
        if let (Ok(k), Ok(v)) = (
            std::env::var(format!("GIT_CONFIG_KEY_{i}")),
            std::env::var(format!("GIT_CONFIG_VALUE_{i}")),
        ) {
            out.push((canonical_key(&k), v));
        }
    }
    out
}

/// `section.key` with section and key in lower case (a subsection keeps its case).
fn canonical_key(key: &str) -> String {
    let key = key.trim();
    match (key.find('.'), key.rfind('.')) {
        (Some(first), Some(last)) => format!(
            "{}{}{}",
            key[..first].to_ascii_lowercase(),
            &key[first..last],
            key[last..].to_ascii_lowercase()
        ),
        _ => key.to_ascii_lowercase(),
    }
}

/// git's quoting: each entry `'key=value'` or `'key'='value'`, single-quoted (a
/// quote inside is `'\''`), entries separated by spaces. A key without `=` is true.
fn parse_config_parameters(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '\'' => {
                    // `'\''`: the quote ends, an escaped quote, the quote goes on.
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                        if chars.next() == Some('\'') && chars.next() == Some('\'') {
                            s.push('\'');
                            continue;
                        }
                        return None;
                    }
                    return Some(s);
                }
                c => s.push(c),
            }
        }
    };
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.next() != Some('\'') {
            break;
        }
        let Some(first) = quoted(&mut chars) else {
            break;
        };
        if chars.peek() == Some(&'=') {
            chars.next();
            let value = if chars.peek() == Some(&'\'') {
                chars.next();
                quoted(&mut chars).unwrap_or_default()
            } else {
                String::new()
            };
            out.push((canonical_key(&first), value));
        } else {
            match first.split_once('=') {
                Some((k, v)) => out.push((canonical_key(k), v.to_string())),
                None => out.push((canonical_key(&first), "true".into())),
            }
        }
    }
    out
}

/// A git configuration: the repository's own file, or what git reads at every level
/// (then with what git's command line gave, which wins).
pub struct GitConfig {
    config: git2::Config,
    command_line: Vec<(String, String)>,
}

impl GitConfig {
    fn given(&self, name: &str) -> impl Iterator<Item = &String> {
        let key = canonical_key(name);
        self.command_line
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// Every value of a key that may have several.
    pub fn values(&self, name: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let given: Vec<String> = self.given(name).cloned().collect();
        if let Ok(entries) = self.config.multivar(name, None) {
            let mut entries = entries;
            while let Some(entry) = entries.next() {
                if let Some(v) = entry?.value() {
                    out.push(v.to_string());
                }
            }
        }
        out.extend(given);
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.given(name).last() {
            return Some(v.clone());
        }
        self.config.get_string(name).ok()
    }

    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        Ok(self.config.set_str(name, value)?)
    }

    /// Adds a value to a key that may have several.
    pub fn add(&mut self, name: &str, value: &str) -> Result<()> {
        // An always-failing pattern makes libgit2 add a value instead of replacing one.
        Ok(self.config.set_multivar(name, "^$a", value)?)
    }

    pub fn remove(&mut self, name: &str) -> Result<()> {
        Ok(self.config.remove(name)?)
    }

    /// Removes the values of a key that match the regular expression `pattern`.
    pub fn remove_matching(&mut self, name: &str, pattern: &str) -> Result<()> {
        Ok(self.config.remove_multivar(name, pattern)?)
    }
}

/// What `Repo::behind` found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behind {
    /// The first-parent commits of the tip that the base lacks, at most the limit.
    pub count: usize,
    /// False when there are more than the limit.
    pub complete: bool,
    /// The oldest of the commits counted.
    pub oldest: Option<CommitId>,
    /// The tip contains the base (it was deployed from trunk, or merged into it).
    pub on_trunk: bool,
}

pub struct Walked {
    pub commits: Vec<CommitId>,
    /// False when the walk stopped at its limit.
    pub complete: bool,
    /// The walk met `base` on tip's first-parent line (so `base` is on trunk).
    pub reached_base: bool,
}

/// A revision as its base and the `~N` and `^N` steps at its end (`main~3^2` is
/// `main` then `~3`, `^2`; a bare `~` or `^` is 1). None without steps.
fn split_steps(rev: &str) -> Option<(&str, Vec<(u8, u64)>)> {
    let b = rev.as_bytes();
    let mut end = b.len();
    let mut steps = Vec::new();
    loop {
        let digits = b[..end]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let at = end - digits;
        let Some(&op @ (b'~' | b'^')) = at.checked_sub(1).and_then(|i| b.get(i)) else {
            break;
        };
        let n = if digits == 0 {
            1
        } else {
            rev[at..end].parse().ok()?
        };
        steps.push((op, n));
        end = at - 1;
    }
    if steps.is_empty() || end == 0 {
        return None;
    }
    steps.reverse();
    Some((&rev[..end], steps))
}

#[cfg(test)]
mod tests {
    use super::{parse_config_parameters, CommitId, Repo};

    /// What `behind` answers through `.git/train/behind` is what a walk answers, as
    /// trunk moves on a commit at a time (every trunk commit a merge), past the
    /// limit, for a base off trunk's first-parent line, after trunk is rewritten,
    /// from a damaged file, and with a commit-graph as without.
    #[test]
    fn behind_from_what_is_known_is_what_a_walk_finds() {
        for with_graph in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let git = git2::Repository::init(dir.path()).unwrap();
            let tree = git
                .find_tree(git.treebuilder(None).unwrap().write().unwrap())
                .unwrap();
            let mut at = 1_700_000_000;
            let mut commit = |parents: &[git2::Oid]| {
                at += 60;
                let sig =
                    git2::Signature::new("t", "t@example.com", &git2::Time::new(at, 0)).unwrap();
                let parents: Vec<_> = parents
                    .iter()
                    .map(|p| git.find_commit(*p).unwrap())
                    .collect();
                let parents: Vec<_> = parents.iter().collect();
                git.commit(None, &sig, &sig, "c", &tree, &parents).unwrap()
            };
            let mut trunk = vec![commit(&[])];
            let mut sides = Vec::new();
            for _ in 0..40 {
                let side = commit(&[*trunk.last().unwrap()]);
                sides.push(side);
                trunk.push(commit(&[*trunk.last().unwrap(), side]));
            }
            // Another line from trunk[20]: trunk rewritten.
            let mut other = vec![trunk[20]];
            for _ in 0..5 {
                other.push(commit(&[*other.last().unwrap()]));
            }
            if with_graph {
                for (i, c) in trunk.iter().chain(&other[1..]).enumerate() {
                    git.reference(&format!("refs/heads/b{i}"), *c, true, "t")
                        .unwrap();
                }
                crate::ledger::testing::git(dir.path(), &["commit-graph", "write", "--reachable"]);
            }
            let repo = Repo::open(dir.path()).unwrap();
            std::fs::create_dir_all(repo.train_dir()).unwrap();
            let cache = repo.train_dir().join("behind");
            let id = |o: git2::Oid| CommitId::from(o);
            let check = |repo: &Repo, tip: git2::Oid, base: git2::Oid, limit: usize| {
                let (tip, base) = (id(tip), id(base));
                let walked = repo.behind_walked(tip, base, limit).unwrap().0;
                assert_eq!(
                    repo.behind(tip, base, limit).unwrap(),
                    walked,
                    "{tip} {base}"
                );
                // Now known, here and to the next process: the same again.
                assert_eq!(repo.behind(tip, base, limit).unwrap(), walked);
                let next = Repo::open(dir.path()).unwrap();
                assert_eq!(next.behind(tip, base, limit).unwrap(), walked);
                walked
            };
            let base = trunk[10];
            for tip in &trunk[10..] {
                check(&repo, *tip, base, 12);
            }
            assert!(!check(&repo, trunk[40], base, 12).complete);
            assert_eq!(check(&repo, trunk[22], base, 12).count, 12);
            for tip in &other {
                check(&repo, *tip, base, 100);
            }
            check(&repo, trunk[40], base, 100);
            // Off the first-parent line: not brought forward.
            for tip in &trunk[12..] {
                assert!(check(&repo, *tip, sides[10], 100).on_trunk);
            }
            // Brought forward from what the file says, by a process that reads it.
            let next = Repo::open(dir.path()).unwrap();
            check(&next, trunk[39], trunk[35], 100);
            let text = std::fs::read_to_string(&cache).unwrap();
            let fresh = Repo::open(dir.path()).unwrap();
            assert_eq!(
                fresh
                    .behind(id(trunk[40]), id(trunk[35]), 100)
                    .unwrap()
                    .count,
                5
            );
            assert!(std::fs::read_to_string(&cache).unwrap() != text, "written");
            // A damaged file is read around, then written anew.
            std::fs::write(&cache, "git-train behind 1\nnot a line\n1 2 3\n").unwrap();
            check(&Repo::open(dir.path()).unwrap(), trunk[30], base, 100);
            std::fs::write(&cache, "something else\n").unwrap();
            check(&Repo::open(dir.path()).unwrap(), trunk[31], base, 100);
            assert!(std::fs::read_to_string(&cache)
                .unwrap()
                .starts_with("git-train behind 1\n"));
        }
    }

    /// Messages read through `git cat-file` (100 or more at once), and subjects read
    /// from the packs, are what libgit2 reads one by one, also for odd commit
    /// objects: leading blank lines, a NUL, no message at all, a wrapped subject.
    #[test]
    fn messages_through_git_and_subjects_from_packs_are_libgit2s() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let git = |args: &[&str], input: Option<&str>| {
            let input = input.unwrap_or_default().as_bytes();
            crate::ledger::testing::git_with_input(d, args, input)
                .trim()
                .to_string()
        };
        git(&["init", "-q", "-b", "main"], None);
        git(
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "Plain\n\nRollback: unsafe",
            ],
            None,
        );
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        git(&["hash-object", "-w", "-t", "tree", "--stdin"], Some(""));
        let head = "author A <a@example.com> 1600000000 +0000\ncommitter A <a@example.com> 1600000000 +0000";
        let mut ids = vec![CommitId::parse(&git(&["rev-parse", "HEAD"], None)).unwrap()];
        for body in [
            "\n\n\nRollback: unsafe\n",
            "\nsubject\0Rollback: unsafe\n",
            "\n",
            "",
            "\nwrapped\n  subject \n \nbody\n",
        ] {
            let raw = format!("tree {tree}\n{head}\n{body}");
            let id = git(
                &[
                    "hash-object",
                    "-w",
                    "-t",
                    "commit",
                    "--literally",
                    "--stdin",
                ],
                Some(&raw),
            );
            ids.push(CommitId::parse(&id).unwrap());
        }
        let repo = Repo::open(d).unwrap();
        let many: Vec<CommitId> = ids.iter().copied().cycle().take(100).collect();
        let through_git = repo.messages(&many).unwrap();
        for (id, message) in many.iter().zip(&through_git) {
            assert_eq!(message, &repo.message(*id).unwrap(), "{id}");
        }

        for (n, id) in ids.iter().enumerate() {
            git(
                &["update-ref", &format!("refs/odd/{n}"), &id.to_string()],
                None,
            );
        }
        git(&["repack", "-adq"], None);
        git(
            &["commit", "-q", "--allow-empty", "-m", "Loose\n\nbody"],
            None,
        );
        let loose = CommitId::parse(&git(&["rev-parse", "HEAD"], None)).unwrap();
        let repo = Repo::open(d).unwrap();
        let libgit2 = |id: CommitId| {
            let commit = repo.git.find_commit(id.into()).unwrap();
            commit.summary().map(str::to_string)
        };
        for &id in &ids {
            let packed = repo.packs().reader_keeping_nothing().read(&id.into());
            assert!(packed.is_some(), "{id} is read from the packs");
            assert_eq!(repo.subject(id), libgit2(id), "{id}");
        }
        assert_eq!(repo.subject(ids[5]).as_deref(), Some("wrapped subject"));
        assert!(repo
            .packs()
            .reader_keeping_nothing()
            .read(&loose.into())
            .is_none());
        assert_eq!(repo.subject(loose).as_deref(), Some("Loose"));
    }

    #[test]
    fn git_command_line_config_is_read_in_either_quoting() {
        let pairs = |t: &str| parse_config_parameters(t);
        assert_eq!(
            pairs("'user.email=x@example.com'"),
            vec![("user.email".to_string(), "x@example.com".to_string())]
        );
        assert_eq!(
            pairs("'User.Email'='x@example.com' 'core.bare'"),
            vec![
                ("user.email".to_string(), "x@example.com".to_string()),
                ("core.bare".to_string(), "true".to_string())
            ]
        );
        assert_eq!(
            pairs("'user.name'='O'\\''Neil'"),
            vec![("user.name".to_string(), "O'Neil".to_string())]
        );
    }
}
