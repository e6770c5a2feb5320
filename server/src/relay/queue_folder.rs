//! The queue folder's files and their names, in one place. `<data_dir>/queue` holds:
//! - `incoming/<random>.der`: an upload arriving (removed however it ends);
//! - `<receipt>.eml.partial`: a mail being written;
//! - `<receipt>.eml`: a finished mail waiting for delivery (its row says `queued`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `<data_dir>/queue`.
#[derive(Debug, Clone)]
pub struct QueueFolder {
    root: PathBuf,
}

/// A file found in the queue folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueFile {
    /// An upload that was arriving.
    Upload(PathBuf),
    /// A mail that was being written.
    PartialMail(PathBuf),
    /// A finished mail, by its receipt number.
    Mail {
        receipt: String,
        path: PathBuf,
        modified: Option<SystemTime>,
    },
}

impl QueueFolder {
    pub fn new(root: PathBuf) -> QueueFolder {
        QueueFolder { root }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }

    /// A new name for an upload arriving, its folder created.
    pub fn new_upload(&self, random_name: &str) -> std::io::Result<PathBuf> {
        let folder = self.incoming();
        std::fs::create_dir_all(&folder)?;
        Ok(folder.join(format!("{random_name}.der")))
    }

    /// The finished mail of `receipt`.
    pub fn mail(&self, receipt: &str) -> PathBuf {
        self.root.join(format!("{receipt}.eml"))
    }

    /// Where the mail of `receipt` is written before it is renamed into place.
    pub fn partial_mail(&self, receipt: &str) -> PathBuf {
        self.root.join(format!("{receipt}.eml.partial"))
    }

    /// Makes what was renamed into the folder durable.
    pub fn sync(&self) -> std::io::Result<()> {
        std::fs::File::open(&self.root)?.sync_all()
    }

    /// Everything in the folder (uploads, partial and finished mails); other files are
    /// not the queue's and are left out. A folder that cannot be read is said in the log.
    pub fn files(&self) -> Vec<QueueFile> {
        let listing = |folder: &Path| match std::fs::read_dir(folder) {
            Ok(entries) => entries.flatten().collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::error!(folder = %folder.display(), "cannot read the queue folder: {e}");
                Vec::new()
            }
        };
        let mut files: Vec<QueueFile> = listing(&self.incoming())
            .into_iter()
            .map(|entry| QueueFile::Upload(entry.path()))
            .collect();
        for entry in listing(&self.root) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".eml.partial") {
                files.push(QueueFile::PartialMail(path));
            } else if let Some(receipt) = name.strip_suffix(".eml") {
                files.push(QueueFile::Mail {
                    receipt: receipt.to_owned(),
                    modified: entry.metadata().and_then(|m| m.modified()).ok(),
                    path,
                });
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_it_writes_and_finds_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let queue = QueueFolder::new(dir.path().join("queue"));
        assert!(queue.files().is_empty(), "a missing folder holds nothing");
        let upload = queue.new_upload("abc").unwrap();
        std::fs::write(&upload, b"x").unwrap();
        std::fs::write(queue.partial_mail("2026-AAAA-BBBB"), b"x").unwrap();
        std::fs::write(queue.mail("2026-CCCC-DDDD"), b"x").unwrap();
        std::fs::write(queue.path().join("notes.txt"), b"x").unwrap();
        let mut found = queue.files();
        found.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.contains(&QueueFile::Upload(upload)));
        assert!(found.contains(&QueueFile::PartialMail(
            queue.partial_mail("2026-AAAA-BBBB")
        )));
        assert!(found.iter().any(|f| matches!(
            f,
            QueueFile::Mail { receipt, .. } if receipt == "2026-CCCC-DDDD"
        )));
    }
}
