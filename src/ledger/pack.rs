//! Objects read straight from the repository's pack files, for an index rebuild: the
//! notes of a ledger are 12,000 small blobs stored as deltas of one another, 25 deep
//! on average. `git cat-file --batch` took 100 ms and more to answer them, libgit2
//! longer (its delta-base cache); read here, each object is inflated once and every
//! base is kept, so the whole ledger costs a tenth of that.
//!
//! Only what is plainly readable is read: pack index version 2 with SHA-1 ids, and
//! objects whole or as deltas within the packs. Anything else (a loose object, an
//! alternate, a base outside the packs, a damaged pack) is answered None, and the
//! caller asks git for it. What is read is checked as git checks it: every length
//! the pack states must come out exactly.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::rc::Rc;

use git2::Oid;
use libdeflater::Decompressor;

use super::mmap::Mapped;

/// An object's type, as the pack numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
    Tag = 4,
}

impl Kind {
    /// The type a pack's object header numbers.
    fn of(number: u8) -> Option<Kind> {
        match number {
            1 => Some(Kind::Commit),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Blob),
            4 => Some(Kind::Tag),
            _ => None,
        }
    }
}

const OFS_DELTA: u8 = 6;
const REF_DELTA: u8 = 7;
/// Deeper chains than git ever writes (`pack.depth` is at most 4095): a loop.
const MAX_CHAIN: usize = 10_000;
/// The largest object read here.
const MAX_OBJECT: usize = 64 << 20;
/// The objects kept while reading, at most; past it the cache starts again.
const CACHE_BYTES: usize = 256 << 20;

/// The pack files of one repository.
pub struct Packs {
    packs: Vec<Pack>,
}

struct Pack {
    idx: Mapped,
    data: Mapped,
    /// Objects in the pack.
    count: usize,
    /// The two files, for objects read one at a time (`Reader::read_one`).
    idx_file: File,
    data_file: File,
}

const IDX_HEADER: usize = 8 + 256 * 4;

impl Pack {
    fn open(idx_path: &Path) -> Option<Pack> {
        let idx_file = File::open(idx_path).ok()?;
        let data_file = File::open(idx_path.with_extension("pack")).ok()?;
        let idx = Mapped::open(&idx_file)?;
        let data = Mapped::open(&data_file)?;
        let i = idx.bytes();
        if i.len() < IDX_HEADER || i[..4] != [0xff, b't', b'O', b'c'] || be32(i, 4)? != 2 {
            return None;
        }
        let count = be32(i, IDX_HEADER - 4)? as usize;
        // Ids, checksums, offsets, the large offsets, and two 20-byte checksums: a
        // length that does not add up is another format (SHA-256) or damage.
        let fixed = IDX_HEADER + count.checked_mul(28)? + 40;
        if i.len() < fixed || (i.len() - fixed) % 8 != 0 {
            return None;
        }
        let d = data.bytes();
        if d.len() < 32 || &d[..4] != b"PACK" || be32(d, 8)? as usize != count {
            return None;
        }
        Some(Pack {
            idx,
            data,
            count,
            idx_file,
            data_file,
        })
    }

    /// Where the object with this id starts in the pack.
    fn offset_of(&self, id: &[u8]) -> Option<usize> {
        let (lo, hi) = self.bucket(id)?;
        let i = self.idx.bytes();
        let ids = &i[IDX_HEADER..IDX_HEADER + self.count * 20];
        self.nth_offset(search(ids, lo, hi, id)?, |at| be32(i, at))
    }

    /// The ids that start with `id`'s first byte: `lo..hi` in the index, from its
    /// fan-out table (the index's first page, shared by every lookup).
    fn bucket(&self, id: &[u8]) -> Option<(usize, usize)> {
        if id.len() != 20 {
            return None;
        }
        let i = self.idx.bytes();
        let first = usize::from(id[0]);
        let lo = if first == 0 {
            0
        } else {
            be32(i, 8 + (first - 1) * 4)? as usize
        };
        let hi = (be32(i, 8 + first * 4)? as usize).min(self.count);
        Some((lo.min(hi), hi))
    }

    /// `offset_of` with reads of the index file instead of its mapping: a window
    /// of ids where `id` should be (ids are hashes, spread evenly), moved until it
    /// holds `id` or shows it is not there, then its offset.
    #[cfg(unix)]
    fn offset_of_read(&self, id: &[u8]) -> Option<usize> {
        // 2.5 KB: a guess is seldom further off in a pack of millions.
        self.offset_of_read_in(id, 128)
    }

    /// `offset_of_read` with windows of `window` ids.
    #[cfg(unix)]
    fn offset_of_read_in(&self, id: &[u8], window: usize) -> Option<usize> {
        let window = window.max(1);
        let (mut lo, mut hi) = self.bucket(id)?;
        // Where `id` falls among the ids with its first byte.
        let within = u128::from(id_prefix(id) & ((1 << 56) - 1));
        let mut guess = lo + ((within * (hi - lo) as u128) >> 56) as usize;
        while lo < hi {
            let end = (guess.saturating_sub(window / 2).max(lo) + window).min(hi);
            let start = end.saturating_sub(window).max(lo);
            let ids = read_exact_at(&self.idx_file, IDX_HEADER + start * 20, (end - start) * 20)?;
            if id < &ids[..20] {
                hi = start;
            } else if id > &ids[ids.len() - 20..] {
                lo = end;
            } else {
                let n = search(&ids, 0, end - start, id)?;
                return self.nth_offset(start + n, |at| {
                    be32(&read_exact_at(&self.idx_file, at, 4)?, 0)
                });
            }
            guess = (lo + hi) / 2;
        }
        None
    }

    /// The offset of the `n`th object of the index, from `be32_at` (a 32-bit
    /// number at a place in the index).
    fn nth_offset(&self, n: usize, be32_at: impl Fn(usize) -> Option<u32>) -> Option<usize> {
        let small = be32_at(IDX_HEADER + self.count * 24 + n * 4)?;
        if small & 0x8000_0000 == 0 {
            return Some(small as usize);
        }
        let at = IDX_HEADER + self.count * 28 + (small & 0x7fff_ffff) as usize * 8;
        let high = u64::from(be32_at(at)?);
        let low = u64::from(be32_at(at + 4)?);
        usize::try_from(high << 32 | low).ok()
    }
}

/// `len` bytes of `file` from `at` (fewer at its end), read without mapping it: for
/// a lookup or two, a page of a mapping costs more to fault in (the kernel maps the
/// pages around it too) than a read costs to copy: 2.4 µs against 0.7 on the
/// bench machine, and a lookup in a large pack touches three or four pages.
#[cfg(unix)]
fn read_at_most(file: &File, at: usize, len: usize) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], (at + got) as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(got);
    Some(buf)
}

/// Exactly `len` bytes of `file` from `at` (`read_at_most`), or None.
#[cfg(unix)]
fn read_exact_at(file: &File, at: usize, len: usize) -> Option<Vec<u8>> {
    read_at_most(file, at, len).filter(|b| b.len() == len && len > 0)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl Packs {
    /// The packs under `objects/pack` this reader can read (none: every read is None).
    pub fn open(objects: &Path) -> Packs {
        let mut paths: Vec<_> = std::fs::read_dir(objects.join("pack"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        paths.sort();
        Packs {
            packs: paths.iter().filter_map(|p| Pack::open(p)).collect(),
        }
    }

    fn find(&self, id: &[u8]) -> Option<(usize, usize)> {
        self.packs
            .iter()
            .enumerate()
            .find_map(|(n, p)| Some((n, p.offset_of(id)?)))
    }

    /// Where the object is in the packs. Reading objects in this order reads each
    /// pack front to back, and a delta near its bases.
    pub fn locate(&self, id: &Oid) -> Option<Location> {
        self.find(id.as_bytes())
            .map(|(pack, at)| Location { pack, at })
    }

    /// The object each delta chain of `objects` starts from (an object that is not
    /// a delta: itself), and every base on the way, told from the headers alone.
    /// Readers given whole chains inflate no base twice.
    pub fn chains(&self, objects: &[Location]) -> Chains {
        let mut known: ByLocation<Location> = ByLocation::default();
        known.reserve(objects.len() * 2);
        let mut bases = ByLocation::default();
        let mut path = Vec::new();
        let starts = objects
            .iter()
            .map(|&object| {
                path.clear();
                let mut at = object;
                let start = loop {
                    if let Some(&start) = known.get(&at) {
                        break start;
                    }
                    path.push(at);
                    match self.base_of(at) {
                        Some(base) if path.len() <= MAX_CHAIN => {
                            bases.insert(base, ());
                            at = base;
                        }
                        _ => break at,
                    }
                };
                for &step in &path {
                    known.insert(step, start);
                }
                start
            })
            .collect();
        Chains { starts, bases }
    }

    /// The base of the delta at `at`; None for an object that is not a delta (or
    /// cannot be read).
    fn base_of(&self, at: Location) -> Option<Location> {
        let bytes = self.packs.get(at.pack)?.data.bytes();
        let (kind, _, start) = header(bytes, at.at)?;
        match kind {
            OFS_DELTA => {
                let (back, _) = ofs_back(bytes.get(start..)?)?;
                let base = at.at.checked_sub(back).filter(|&b| b > 0)?;
                Some(Location {
                    pack: at.pack,
                    at: base,
                })
            }
            REF_DELTA => self.locate_bytes(bytes.get(start..start + 20)?),
            _ => None,
        }
    }

    fn locate_bytes(&self, id: &[u8]) -> Option<Location> {
        self.find(id).map(|(pack, at)| Location { pack, at })
    }

    /// A reader that keeps every object it reads.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            packs: self,
            only: None,
            bases: ByLocation::default(),
            cached: 0,
            z: Decompressor::new(),
        }
    }

    /// A reader that keeps nothing: for a few objects that are seldom deltas of one
    /// another (commits).
    pub fn reader_keeping_nothing(&self) -> Reader<'_> {
        Reader {
            only: Some(&NOTHING),
            ..self.reader()
        }
    }

    /// A reader that keeps only the objects that are `chains`' bases: a ledger's
    /// notes are mostly stored whole, and keeping every note (a copy and a map
    /// entry each) was a tenth of reading them.
    pub fn reader_for<'a>(&'a self, chains: &'a Chains) -> Reader<'a> {
        Reader {
            only: Some(&chains.bases),
            ..self.reader()
        }
    }
}

/// Where the delta chains of some objects start, and the bases on them.
pub struct Chains {
    /// The start of each object's chain, in the order the objects were given.
    pub starts: Vec<Location>,
    bases: ByLocation<()>,
}

/// Locations hashed by multiplying (as rustc's FxHash): SipHash was a tenth of
/// reading a ledger's notes, and offsets are not chosen by anyone to collide.
#[derive(Default, Clone, Copy)]
struct LocationHasher(u64);

impl std::hash::Hasher for LocationHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type ByLocation<V> = HashMap<Location, V, std::hash::BuildHasherDefault<LocationHasher>>;

/// No location: what `reader_keeping_nothing` keeps.
static NOTHING: ByLocation<()> = HashMap::with_hasher(std::hash::BuildHasherDefault::new());

/// An object's content, shared with the reader's cache.
pub type Object = Rc<Vec<u8>>;

/// An object's place in the packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pack: usize,
    at: usize,
}

/// Reads objects one after another, keeping every object it made (any may be the
/// base of a delta read later).
pub struct Reader<'p> {
    packs: &'p Packs,
    /// The objects to keep (None: all).
    only: Option<&'p ByLocation<()>>,
    /// Objects read, by pack and offset.
    bases: ByLocation<(Kind, Object)>,
    cached: usize,
    z: Decompressor,
}

/// One step of a delta chain: the delta at `at` in pack `pack`, its data from
/// `start`, `size` bytes once inflated.
struct Step {
    pack: usize,
    start: usize,
    size: usize,
}

impl Reader<'_> {
    /// The object's type and content, or None when it is not in the packs or not
    /// readable here (git reads it then).
    pub fn read(&mut self, id: &Oid) -> Option<(Kind, Object)> {
        self.read_at(self.packs.locate(id)?)
    }

    /// The object, found and read with a few reads of the files instead of through
    /// their mappings: for one object among many (a commit's subject), not for many
    /// (`read`). A delta is read as `read` reads it.
    pub fn read_one(&mut self, id: &Oid) -> Option<(Kind, Object)> {
        #[cfg(unix)]
        for (pack, p) in self.packs.packs.iter().enumerate() {
            let Some(at) = p.offset_of_read(id.as_bytes()) else {
                continue;
            };
            // The header and, for most commits, all of the object in one read.
            const FIRST: usize = 1024;
            let mut bytes = read_at_most(&p.data_file, at, FIRST)?;
            let (kind, size, start) = header(&bytes, 0)?;
            let Some(kind) = Kind::of(kind).filter(|_| size <= MAX_OBJECT) else {
                return self.read_at(Location { pack, at });
            };
            // What any zlib stream of `size` bytes takes at most: zlib-ng's bound
            // (fixed Huffman codes can grow data by an eighth), with the zlib header
            // and checksum.
            let most = start + size + size.div_ceil(8) + size.div_ceil(64) + 16;
            if bytes.len() == FIRST && most > FIRST {
                bytes = read_at_most(&p.data_file, at, most)?;
            }
            let whole = bytes.get(start..).and_then(|z| self.inflate(z, size));
            // Anything unforeseen is read as `read` reads it.
            return match whole {
                Some(whole) => Some((kind, Rc::new(whole))),
                None => self.read_at(Location { pack, at }),
            };
        }
        #[cfg(not(unix))]
        return self.read(id);
        #[cfg(unix)]
        None
    }

    /// The object at `at` (from `Packs::locate`), or None when it is not readable here.
    pub fn read_at(&mut self, at: Location) -> Option<(Kind, Object)> {
        self.object_at(at.pack, at.at)
    }

    fn object_at(&mut self, pack0: usize, at0: usize) -> Option<(Kind, Object)> {
        let (mut pack, mut at) = (pack0, at0);
        let mut chain: Vec<(Step, Location)> = Vec::new();
        let (kind, mut data) = loop {
            if let Some(hit) = self.bases.get(&Location { pack, at }) {
                break hit.clone();
            }
            let bytes = self.packs.packs[pack].data.bytes();
            let (kind, size, mut start) = header(bytes, at)?;
            match kind {
                1..=4 => {
                    let kind = Kind::of(kind)?;
                    break (kind, Rc::new(self.inflate(bytes.get(start..)?, size)?));
                }
                OFS_DELTA => {
                    let (back, used) = ofs_back(bytes.get(start..)?)?;
                    start += used;
                    let base = at.checked_sub(back).filter(|&b| b > 0)?;
                    chain.push((Step { pack, start, size }, Location { pack, at: base }));
                    at = base;
                }
                REF_DELTA => {
                    let base_id = bytes.get(start..start + 20)?;
                    start += 20;
                    let (base_pack, base) = self.packs.find(base_id)?;
                    chain.push((
                        Step { pack, start, size },
                        Location {
                            pack: base_pack,
                            at: base,
                        },
                    ));
                    (pack, at) = (base_pack, base);
                }
                _ => return None,
            }
            if chain.len() > MAX_CHAIN {
                return None;
            }
        };
        let asked = Location {
            pack: pack0,
            at: at0,
        };
        while let Some((step, base_at)) = chain.pop() {
            self.keep(base_at, kind, &data);
            let bytes = self.packs.packs[step.pack].data.bytes();
            let delta = self.inflate(bytes.get(step.start..)?, step.size)?;
            data = Rc::new(apply_delta(&data, &delta)?);
        }
        // Kept too: read in pack order, an object comes before the deltas made from
        // it, which would inflate it again.
        self.keep(asked, kind, &data);
        Some((kind, data))
    }

    /// Drops what was kept: the chains read so far are done with.
    pub fn forget(&mut self) {
        self.bases.clear();
        self.cached = 0;
    }

    fn keep(&mut self, at: Location, kind: Kind, data: &Object) {
        if self.only.is_some_and(|only| !only.contains_key(&at)) || self.bases.contains_key(&at) {
            return;
        }
        if self.cached + data.len() > CACHE_BYTES {
            self.bases.clear();
            self.cached = 0;
        }
        self.cached += data.len();
        self.bases.insert(at, (kind, data.clone()));
    }

    /// Exactly `size` bytes from the zlib stream at the start of `input` (what
    /// follows it is not read), its checksum checked.
    fn inflate(&mut self, input: &[u8], size: usize) -> Option<Vec<u8>> {
        // Notes and their trees are small: a larger object (or a damaged size) is
        // left to git.
        if size > MAX_OBJECT {
            return None;
        }
        // A stream that holds more than stated does not fit: an error.
        let mut out = vec![0; size];
        let inflated = self.z.zlib_decompress(input, &mut out).ok()?;
        (inflated == size).then_some(out)
    }
}

/// An id's first eight bytes as a number: ids in that order are nearly in the
/// order of the pack index (ids are hashes).
pub fn id_prefix(id: &[u8]) -> u64 {
    u64::from_be_bytes(id[..8].try_into().expect("eight bytes of an id"))
}

/// Where `id` is among the sorted 20-byte `ids`, looked for in `lo..hi`.
fn search(ids: &[u8], lo: usize, hi: usize, id: &[u8]) -> Option<usize> {
    let at = |n: usize| &ids[n * 20..n * 20 + 20];
    let want = id_prefix(id);
    let (mut lo, mut hi) = (lo.min(hi), hi.min(ids.len() / 20));
    // Ids are hashes, spread evenly: where `id` falls between the ids at both ends
    // is a close guess. In a million ids, two or three guesses instead of twelve
    // halvings (a fifth of locating a ledger's notes), each a page of the mapped
    // index fewer to read. Halving finishes what is left.
    for _ in 0..4 {
        if hi.saturating_sub(lo) <= 8 {
            break;
        }
        let (low, high) = (id_prefix(at(lo)), id_prefix(at(hi - 1)));
        if want < low || want > high {
            return None;
        }
        let spread = u128::from(high - low).max(1);
        let guess = lo + (u128::from(want - low) * (hi - 1 - lo) as u128 / spread) as usize;
        match at(guess).cmp(id) {
            std::cmp::Ordering::Less => lo = guess + 1,
            std::cmp::Ordering::Greater => hi = guess,
            std::cmp::Ordering::Equal => return Some(guess),
        }
    }
    while lo < hi {
        let mid = (lo + hi) / 2;
        match at(mid).cmp(id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// An object's header at `at`: its type number, its size (inflated), and where
/// what follows the header starts.
fn header(bytes: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let mut i = at;
    let mut b = *bytes.get(i)?;
    i += 1;
    let kind = (b >> 4) & 7;
    let mut size = u64::from(b & 15);
    let mut shift = 4;
    while b & 0x80 != 0 {
        b = *bytes.get(i)?;
        i += 1;
        if shift > 57 {
            return None;
        }
        size |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    Some((kind, usize::try_from(size).ok()?, i))
}

/// How far back an offset delta's base starts, and the bytes that said it.
fn ofs_back(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    let mut b = *bytes.get(i)?;
    i += 1;
    let mut back = usize::from(b & 0x7f);
    while b & 0x80 != 0 {
        b = *bytes.get(i)?;
        i += 1;
        back = back.checked_add(1)?.checked_mul(128)? | usize::from(b & 0x7f);
    }
    Some((back, i))
}

/// A size at the start of a delta: seven bits a byte, lowest first.
fn delta_size(delta: &mut &[u8]) -> Option<usize> {
    let mut size = 0usize;
    let mut shift = 0;
    loop {
        let (&b, rest) = delta.split_first()?;
        *delta = rest;
        if shift > 57 {
            return None;
        }
        size |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some(size);
        }
    }
}

/// git's delta format: the base's size, the result's size, then copies from the
/// base and inserts of new bytes.
pub fn apply_delta(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut d = delta;
    if delta_size(&mut d)? != base.len() {
        return None;
    }
    let size = delta_size(&mut d)?;
    // Grown as the copies come when the stated size is large (it may be damaged).
    let mut out = Vec::with_capacity(size.min(1 << 20));
    while let Some((&op, rest)) = d.split_first() {
        d = rest;
        if op & 0x80 != 0 {
            let mut arg = |bits: u8, bytes: usize| -> Option<usize> {
                let mut n = 0usize;
                for k in 0..bytes {
                    if op & (bits << k) != 0 {
                        let (&b, rest) = d.split_first()?;
                        d = rest;
                        n |= usize::from(b) << (8 * k);
                    }
                }
                Some(n)
            };
            let from = arg(0x01, 4)?;
            let len = match arg(0x10, 3)? {
                0 => 0x10000,
                n => n,
            };
            out.extend_from_slice(base.get(from..from.checked_add(len)?)?);
        } else if op != 0 {
            let len = usize::from(op);
            out.extend_from_slice(d.get(..len)?);
            d = &d[len..];
        } else {
            return None;
        }
        if out.len() > size {
            return None;
        }
    }
    (out.len() == size).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::testing::{git, git_with_input};

    proptest::proptest! {
        /// The guessing search finds what a binary search finds, for ids present
        /// and absent, spread as hashes or bunched under one long prefix (where
        /// guesses are poor), in the fan-out's range of the first byte or in all.
        #[test]
        fn the_search_finds_what_a_binary_search_finds(
            ids in proptest::collection::btree_set(proptest::prelude::any::<[u8; 20]>(), 0..600),
            absent in proptest::collection::vec(proptest::prelude::any::<[u8; 20]>(), 0..40),
            bunched in proptest::prelude::any::<bool>(),
        ) {
            let bunch = |mut id: [u8; 20]| {
                if bunched {
                    id[1..7].fill(0);
                }
                id
            };
            let ids: std::collections::BTreeSet<[u8; 20]> = ids.into_iter().map(bunch).collect();
            let sorted: Vec<[u8; 20]> = ids.iter().copied().collect();
            let table = sorted.concat();
            for id in ids.iter().copied().chain(absent.into_iter().map(bunch)) {
                let want = sorted.binary_search(&id).ok();
                let lo = sorted.partition_point(|x| x[0] < id[0]);
                let hi = sorted.partition_point(|x| x[0] <= id[0]);
                proptest::prop_assert_eq!(search(&table, lo, hi, &id), want);
                proptest::prop_assert_eq!(search(&table, 0, sorted.len(), &id), want);
            }
        }
    }

    /// Feeds `stream` to `git fast-import` in `dir`.
    fn fast_import(dir: &Path, stream: &[u8]) {
        git_with_input(dir, &["fast-import", "--quiet"], stream);
    }

    /// 400 versions of one growing file, as notes grow, in one commit each.
    fn repository() -> (tempfile::TempDir, Vec<(Oid, Vec<u8>)>) {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        let mut stream = Vec::new();
        let mut blobs = Vec::new();
        let mut content = Vec::new();
        for i in 0..400 {
            content.extend_from_slice(format!("line {i}: deployed to staging by bob\n").as_bytes());
            if i % 3 == 0 {
                content.drain(..content.len() / 4);
            }
            stream.extend_from_slice(
                format!("blob\nmark :{}\ndata {}\n", i + 1, content.len()).as_bytes(),
            );
            stream.extend_from_slice(&content);
            stream.extend_from_slice(
                format!("\ncommit refs/heads/main\ncommitter A <a@x> {i} +0000\ndata 1\nx\nM 100644 :{} f\n", i + 1)
                    .as_bytes(),
            );
            let id = Oid::hash_object(git2::ObjectType::Blob, &content).unwrap();
            blobs.push((id, content.clone()));
        }
        fast_import(tmp.path(), &stream);
        (tmp, blobs)
    }

    fn reads_every_blob(dir: &Path, blobs: &[(Oid, Vec<u8>)]) {
        let packs = Packs::open(&dir.join(".git/objects"));
        assert_eq!(packs.packs.len(), 1);
        let mut reader = packs.reader();
        for (id, content) in blobs {
            let (kind, bytes) = reader.read(id).expect("in the pack");
            assert_eq!((kind, &**bytes), (Kind::Blob, content.as_slice()), "{id}");
        }
        // A fresh reader in another order (deepest first) and chain by chain.
        let mut reader = packs.reader();
        for (id, content) in blobs.iter().rev() {
            assert_eq!(&*reader.read(id).unwrap().1, content.as_slice());
        }
        let at: Vec<Location> = blobs
            .iter()
            .map(|(id, _)| packs.locate(id).unwrap())
            .collect();
        let chains = packs.chains(&at);
        let starts: std::collections::HashSet<_> = chains.starts.iter().collect();
        assert!(
            starts.len() < blobs.len() / 4,
            "deltas: {} chains",
            starts.len()
        );
        for start in &chains.starts {
            assert_eq!(
                packs.base_of(*start),
                None,
                "a chain starts with a whole object"
            );
        }
        // Keeping only the bases, chain by chain as a rebuild reads them: the same
        // contents, and no more kept than the bases.
        let mut order: Vec<usize> = (0..blobs.len()).collect();
        order.sort_by_key(|&n| (chains.starts[n], at[n]));
        let mut reader = packs.reader_for(&chains);
        for n in order {
            let (kind, bytes) = reader.read_at(at[n]).expect("in the pack");
            assert_eq!((kind, &**bytes), (Kind::Blob, blobs[n].1.as_slice()));
        }
        assert!(!reader.bases.is_empty());
        assert!(reader.bases.keys().all(|at| chains.bases.contains_key(at)));
        let absent = Oid::hash_object(git2::ObjectType::Blob, b"absent").unwrap();
        assert_eq!(reader.read(&absent), None);
        // One at a time, with reads of the files: whole objects and deltas.
        let mut reader = packs.reader_keeping_nothing();
        for (id, content) in blobs.iter().rev() {
            let (kind, bytes) = reader.read_one(id).expect("in the pack");
            assert_eq!((kind, &**bytes), (Kind::Blob, content.as_slice()), "{id}");
        }
        assert!(reader.bases.is_empty());
        assert_eq!(reader.read_one(&absent), None);
    }

    /// The index read in windows of a few ids finds what the mapped index finds,
    /// for every id in a pack of 6,000 and for ids it does not hold, the windows
    /// moved down, up, or not at all; an object larger than the first read is read
    /// whole.
    #[test]
    fn the_index_read_in_windows_finds_what_the_mapping_finds() {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q"]);
        let mut stream = Vec::new();
        for i in 0..5999 {
            let data = format!("{i}\n");
            stream.extend_from_slice(format!("blob\ndata {}\n{data}\n", data.len()).as_bytes());
        }
        // 40 KB that do not compress.
        let mut x = 1u32;
        let big: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        stream.extend_from_slice(format!("blob\ndata {}\n", big.len()).as_bytes());
        stream.extend_from_slice(&big);
        stream.push(b'\n');
        fast_import(tmp.path(), &stream);
        let packs = Packs::open(&tmp.path().join(".git/objects"));
        let pack = &packs.packs[0];
        assert_eq!(pack.count, 6000);
        let i = pack.idx.bytes();
        let ids: Vec<&[u8]> = (0..pack.count)
            .map(|n| &i[IDX_HEADER + n * 20..IDX_HEADER + n * 20 + 20])
            .collect();
        let absent: Vec<[u8; 20]> = (0..2000u32)
            .map(|n| {
                let mut id = [0u8; 20];
                id[..4].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
                id[19] = n as u8;
                id
            })
            .collect();
        for window in [1, 2, 5, 16, 128] {
            for id in ids.iter().copied().chain(absent.iter().map(|a| &a[..])) {
                let want = pack.offset_of(id);
                assert_eq!(pack.offset_of_read_in(id, window), want, "{window}");
            }
        }
        assert!(ids.iter().all(|id| pack.offset_of(id).is_some()));
        let big_id = Oid::hash_object(git2::ObjectType::Blob, &big).unwrap();
        let (kind, bytes) = packs.reader_keeping_nothing().read_one(&big_id).unwrap();
        assert_eq!((kind, &**bytes), (Kind::Blob, &big[..]));
    }

    #[test]
    fn reads_what_git_packed_with_offset_deltas_ref_deltas_and_64_bit_offsets() {
        let (tmp, blobs) = repository();
        let dir = tmp.path();
        git(
            dir,
            &[
                "repack",
                "-a",
                "-d",
                "-f",
                "-q",
                "--depth=250",
                "--window=50",
            ],
        );
        reads_every_blob(dir, &blobs);
        git(
            dir,
            &[
                "-c",
                "repack.useDeltaBaseOffset=false",
                "repack",
                "-a",
                "-d",
                "-f",
                "-q",
            ],
        );
        reads_every_blob(dir, &blobs);
        // Every offset from 16 on in the index's table of 64-bit offsets.
        let pack_dir = dir.join(".git/objects/pack");
        let pack = std::fs::read_dir(&pack_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "pack"))
            .unwrap();
        let idx = pack.with_extension("idx");
        std::fs::remove_file(&idx).unwrap();
        let pack_name = pack.file_name().unwrap().to_str().unwrap().to_string();
        git(
            &pack_dir,
            &["index-pack", "--index-version=2,16", &pack_name],
        );
        assert!(
            std::fs::metadata(&idx).unwrap().len() > 1032 + 28 * 800 + 40,
            "large offsets written"
        );
        reads_every_blob(dir, &blobs);
    }

    #[test]
    fn a_damaged_pack_or_index_is_not_read() {
        let (tmp, blobs) = repository();
        let dir = tmp.path();
        git(dir, &["repack", "-a", "-d", "-q"]);
        let pack_dir = dir.join(".git/objects/pack");
        let file = |ext: &str| {
            std::fs::read_dir(&pack_dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
                .unwrap()
        };
        let (pack, idx) = (file("pack"), file("idx"));
        let make_writable = |p: &Path| {
            let mut perms = std::fs::metadata(p).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(p, perms).unwrap();
        };
        make_writable(&pack);
        make_writable(&idx);
        // Every object's data damaged: each read fails its checks, none panics.
        let good = std::fs::read(&pack).unwrap();
        let mut bad = good.clone();
        for b in bad.iter_mut().skip(12).step_by(7) {
            *b ^= 0x55;
        }
        std::fs::write(&pack, &bad).unwrap();
        let packs = Packs::open(&dir.join(".git/objects"));
        let mut reader = packs.reader();
        let read = blobs
            .iter()
            .filter(|(id, c)| reader.read(id).is_some_and(|(_, b)| *b == *c));
        assert_eq!(read.count(), 0);
        // A cut index is not opened at all.
        std::fs::write(&pack, &good).unwrap();
        let whole = std::fs::read(&idx).unwrap();
        std::fs::write(&idx, &whole[..whole.len() - 1]).unwrap();
        assert_eq!(Packs::open(&dir.join(".git/objects")).packs.len(), 0);
    }

    #[test]
    fn deltas_copy_and_insert_and_refuse_what_does_not_add_up() {
        let base = b"hello, world";
        // base 12, result 12: copy 7 bytes from 0, insert "there".
        let delta = [12, 12, 0x91, 0, 7, 5, b't', b'h', b'e', b'r', b'e'];
        assert_eq!(apply_delta(base, &delta).unwrap(), b"hello, there");
        let mut wrong_base = delta;
        wrong_base[0] = 13;
        assert_eq!(apply_delta(base, &wrong_base), None);
        let mut wrong_result = delta;
        wrong_result[1] = 11;
        assert_eq!(apply_delta(base, &wrong_result), None);
        // A copy past the end of the base, and the reserved op 0.
        assert_eq!(apply_delta(base, &[12, 5, 0x91, 10, 5]), None);
        assert_eq!(apply_delta(base, &[12, 1, 0]), None);
    }
}
