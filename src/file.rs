//! Files that readers must never see half written.

use std::io::Write;
use std::path::Path;

use crate::error::Result;

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_parts_atomically(path, &[bytes])
}

/// `write_atomically` of the parts one after the other, without joining them first.
pub fn write_parts_atomically(path: &Path, parts: &[&[u8]]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    for part in parts {
        tmp.write_all(part)?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
