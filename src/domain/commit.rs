//! Commit ids: the 20 bytes of a SHA-1 object id, written as 40 hex digits. git-train's
//! own type, so that nothing above the ledger depends on libgit2's.

use std::fmt;

/// A commit by its object id (also used for the other objects refs point at).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CommitId([u8; 20]);

const HEX: &[u8; 16] = b"0123456789abcdef";

impl CommitId {
    /// The all-zero id git uses for "no object" (a deleted ref on a push).
    pub const ZERO: CommitId = CommitId([0; 20]);

    pub fn from_bytes(bytes: [u8; 20]) -> CommitId {
        CommitId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Parses a full id: 40 hex digits, in either case.
    pub fn parse(hex: &str) -> Option<CommitId> {
        let hex = hex.as_bytes();
        if hex.len() != 40 {
            return None;
        }
        let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut bytes = [0u8; 20];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(CommitId(bytes))
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    /// The first seven hex digits, as people quote a commit.
    pub fn short(&self) -> String {
        self.to_string()[..7].to_string()
    }
}

impl CommitId {
    /// The 40 hex digits, at the end of `out` (an index rebuild writes tens of
    /// thousands; `Display` goes through the formatter for each).
    pub fn push_hex(&self, out: &mut String) {
        out.push_str(self.hex().as_str());
    }

    fn hex(&self) -> HexText {
        let mut text = [0u8; 40];
        for (pair, byte) in text.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        HexText(text)
    }
}

/// 40 ASCII hex digits.
struct HexText([u8; 40]);

impl HexText {
    fn as_str(&self) -> &str {
        // Only ASCII hex digits are written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({self})")
    }
}

impl std::str::FromStr for CommitId {
    type Err = String;

    fn from_str(s: &str) -> Result<CommitId, String> {
        CommitId::parse(s).ok_or_else(|| format!("'{s}' is not a commit id"))
    }
}

impl serde::Serialize for CommitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_forty_hex_digits() {
        let hex = "0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90";
        let id = CommitId::parse(hex).unwrap();
        assert_eq!(id.to_string(), hex);
        assert_eq!(id.short(), "0377e3c");
        assert_eq!(CommitId::parse(&hex.to_uppercase()), Some(id));
        assert!(!id.is_zero());
        assert!(CommitId::parse(&"0".repeat(40)).unwrap().is_zero());
        for bad in ["", "0377e3c", &format!("{hex}0"), &hex.replace('e', "g")] {
            assert_eq!(CommitId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_as_its_hex_does() {
        let a = CommitId::parse("0fffffffffffffffffffffffffffffffffffffff").unwrap();
        let b = CommitId::parse("1000000000000000000000000000000000000000").unwrap();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
