//! Writing a whole file so that a crash cannot lose it or leave half of it: written under
//! a temporary name, synced, renamed into place, and the folder synced. Used where the
//! portal promises something once the write returns (the spool, received reports).

use std::io::Write;
use std::path::Path;

/// Writes `bytes` as `folder/name` (making the folder if needed); once this returns, the
/// file survives a crash or a power cut whole.
pub fn write_file(folder: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let partial = folder.join(format!("{name}.partial"));
    let file = std::fs::File::create(&partial)?;
    (&file).write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&partial, folder.join(name))?;
    std::fs::File::open(folder)?.sync_all()
}
