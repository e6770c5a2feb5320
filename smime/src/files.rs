//! Attachment checks, run in the browser before encryption. They spare the citizen a
//! refusal at the authority's gateway; they are no security boundary (the authority scans
//! decrypted attachments as any mail).

use std::fmt;

use crate::mime::Source;
use crate::sniff::{Sniffed, sniff};

/// The kinds of file a form may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Pdf,
    Jpg,
    Png,
    Docx,
    Odt,
    Txt,
}

crate::serde_by_name!(FileType {
    FileType::Pdf => "pdf",
    FileType::Jpg => "jpg",
    FileType::Png => "png",
    FileType::Docx => "docx",
    FileType::Odt => "odt",
    FileType::Txt => "txt",
});

impl FileType {
    pub fn media_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Jpg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            FileType::Odt => "application/vnd.oasis.opendocument.text",
            FileType::Txt => "text/plain; charset=utf-8",
        }
    }

    /// The short name used in policies and shown to citizens (`pdf`, `jpg`, ...).
    pub fn code(self) -> &'static str {
        crate::names::Named::name(self)
    }
}

/// Which file types a form accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilePolicy {
    pub allowed: Vec<FileType>,
}

impl Default for FilePolicy {
    /// PDF, JPEG and PNG, as most authorities accept.
    fn default() -> Self {
        FilePolicy {
            allowed: vec![FileType::Pdf, FileType::Jpg, FileType::Png],
        }
    }
}

/// Why a file is refused. [`FileRefusal::code`] is stable for the app to word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    Empty,
    Executable,
    MacroEnabled,
    EncryptedPdf,
    ActivePdf,
    EncryptedOffice,
    LegacyOffice,
    TextNotUtf8,
    TextWithNul,
    /// A type we recognise that this form does not accept.
    NotAllowed {
        found: String,
    },
    Unknown,
}

impl FileRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            FileRefusal::Empty => "file_empty",
            FileRefusal::Executable => "file_executable",
            FileRefusal::MacroEnabled => "file_macro",
            FileRefusal::EncryptedPdf => "file_encrypted_pdf",
            FileRefusal::ActivePdf => "file_active_pdf",
            FileRefusal::EncryptedOffice => "file_encrypted_office",
            FileRefusal::LegacyOffice => "file_legacy_office",
            FileRefusal::TextNotUtf8 => "file_text_not_utf8",
            FileRefusal::TextWithNul => "file_text_nul",
            FileRefusal::NotAllowed { .. } => "file_type_not_allowed",
            FileRefusal::Unknown => "file_type_unknown",
        }
    }
}

impl fmt::Display for FileRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            FileRefusal::Empty => "the file is empty",
            FileRefusal::Executable => "the file is a program, whatever its name says",
            FileRefusal::MacroEnabled => "the document contains macros",
            FileRefusal::EncryptedPdf => "the PDF is password-protected",
            FileRefusal::ActivePdf => "the PDF contains scripts or launch actions",
            FileRefusal::EncryptedOffice => "the document is password-protected",
            FileRefusal::LegacyOffice => {
                "old Office formats (.doc, .xls, .ppt) are not accepted; save it as PDF or .docx"
            }
            FileRefusal::TextNotUtf8 => "the text file is not UTF-8",
            FileRefusal::TextWithNul => "the text file contains binary data",
            FileRefusal::NotAllowed { found } => {
                return write!(f, "files of type {found} are not accepted by this form");
            }
            FileRefusal::Unknown => "the file type is not recognised",
        };
        f.write_str(text)
    }
}

/// Identifies a file by content and checks it against `policy`.
pub fn check_file(content: &dyn Source, policy: &FilePolicy) -> Result<FileType, FileRefusal> {
    let found = identify(content)?;
    if policy.allowed.contains(&found) {
        Ok(found)
    } else {
        Err(FileRefusal::NotAllowed {
            found: found.code().to_owned(),
        })
    }
}

/// What a file is, by content alone, or why no form would take it. The content is read
/// window by window (see [`Source`]), never whole into this memory.
pub fn identify(content: &dyn Source) -> Result<FileType, FileRefusal> {
    let size = content.size();
    if size == 0 {
        return Err(FileRefusal::Empty);
    }
    let head = read(content, 0, HEAD);
    match sniff(&head) {
        Sniffed::Pdf => match contains_which(content, &[b"/Encrypt", b"/JavaScript", b"/Launch"]) {
            [true, _, _] => Err(FileRefusal::EncryptedPdf),
            [_, true, _] | [_, _, true] => Err(FileRefusal::ActivePdf),
            _ => Ok(FileType::Pdf),
        },
        Sniffed::Jpeg => Ok(FileType::Jpg),
        Sniffed::Png => Ok(FileType::Png),
        Sniffed::Zip => identify_zip(content, &head),
        Sniffed::Ole2 => {
            // Encrypted OOXML files are OLE2 containers with an "EncryptedPackage" stream.
            if contains_which(content, &[&utf16le("EncryptedPackage")]) == [true] {
                Err(FileRefusal::EncryptedOffice)
            } else {
                Err(FileRefusal::LegacyOffice)
            }
        }
        Sniffed::Executable => Err(FileRefusal::Executable),
        Sniffed::Unknown => identify_text(content),
    }
}

/// Bytes read from the start, enough for every signature and an ODF `mimetype` entry.
const HEAD: u64 = 512;
/// Bytes of content looked at in one go by the scans.
const WINDOW: usize = 1 << 20;

/// `content[offset..offset + len]`, cut at the end.
fn read(content: &dyn Source, offset: u64, len: u64) -> Vec<u8> {
    let end = content.size().min(offset.saturating_add(len));
    let mut bytes = vec![0; end.saturating_sub(offset) as usize];
    if !bytes.is_empty() {
        content.read_at(offset, &mut bytes);
    }
    bytes
}

/// Calls `look` with the content in windows that overlap by `overlap` bytes, so that
/// anything up to `overlap + 1` bytes long lies whole in one of them, until it says stop.
fn scan(content: &dyn Source, overlap: usize, mut look: impl FnMut(&[u8]) -> Scan) {
    let size = content.size();
    let mut window = Vec::new();
    let mut at = 0u64;
    while at < size {
        let len = (size - at).min((WINDOW + overlap) as u64) as usize;
        window.resize(len, 0);
        content.read_at(at, &mut window);
        if look(&window) == Scan::Stop || at + len as u64 == size {
            return;
        }
        at += WINDOW as u64;
    }
}

#[derive(PartialEq)]
enum Scan {
    Go,
    Stop,
}

/// Which of `needles` occur in the content, in one pass. They all begin with the same byte
/// (`/` for PDF names): one `memchr` pass finds where they could begin, which is fast even
/// in wasm, and only there are they compared.
fn contains_which<const N: usize>(content: &dyn Source, needles: &[&[u8]; N]) -> [bool; N] {
    let first = needles[0][0];
    debug_assert!(needles.iter().all(|needle| needle[0] == first));
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(1);
    let mut found = [false; N];
    scan(content, longest - 1, |window| {
        for at in memchr::memchr_iter(first, window) {
            for (needle, found) in needles.iter().zip(&mut found) {
                *found = *found || window[at..].starts_with(needle);
            }
        }
        if found.iter().all(|f| *f) {
            Scan::Stop
        } else {
            Scan::Go
        }
    });
    found
}

fn identify_text(content: &dyn Source) -> Result<FileType, FileRefusal> {
    let mut has_nul = false;
    let mut utf8 = true;
    // Windows overlap by 3 bytes, so a character cut by one window's end is whole in it;
    // the next window's check starts at the first character that begins in it.
    let mut skip = 0;
    scan(content, 3, |window| {
        let last = window.len() <= WINDOW;
        let own = window.len().min(WINDOW);
        has_nul = has_nul || window[..own].contains(&0);
        if utf8 {
            let valid_to = match std::str::from_utf8(&window[skip..]) {
                Ok(_) => Some(window.len()),
                // Cut at the window's end: the rest is checked with the next window.
                Err(e) if e.error_len().is_none() && !last => Some(skip + e.valid_up_to()),
                Err(_) => None,
            };
            match valid_to {
                None => utf8 = false,
                Some(valid_to) if !last => {
                    let next = (own..valid_to)
                        .find(|&at| window[at] & 0xC0 != 0x80)
                        .unwrap_or(valid_to);
                    skip = next.saturating_sub(own);
                }
                Some(_) => {}
            }
        }
        if has_nul && !utf8 {
            Scan::Stop
        } else {
            Scan::Go
        }
    });
    match (utf8, has_nul) {
        (true, true) => Err(FileRefusal::TextWithNul),
        (true, false) => Ok(FileType::Txt),
        (false, true) => Err(FileRefusal::Unknown),
        (false, false) => Err(FileRefusal::TextNotUtf8),
    }
}

fn identify_zip(content: &dyn Source, head: &[u8]) -> Result<FileType, FileRefusal> {
    let names = zip_entry_names(content).ok_or(FileRefusal::Unknown)?;
    let has = |wanted: &str| names.iter().any(|n| n.eq_ignore_ascii_case(wanted));
    let has_suffix = |suffix: &str| {
        names
            .iter()
            .any(|n| n.to_ascii_lowercase().ends_with(suffix))
    };
    if has_suffix("vbaproject.bin")
        || names.iter().any(|n| {
            let n = n.to_ascii_lowercase();
            n.starts_with("basic/") || n.starts_with("scripts/")
        })
    {
        return Err(FileRefusal::MacroEnabled);
    }
    if has("META-INF/MANIFEST.MF") && has_suffix(".class") {
        return Err(FileRefusal::Executable);
    }
    if has("word/document.xml") {
        return Ok(FileType::Docx);
    }
    if has("mimetype")
        && contains(
            &head[..head.len().min(200)],
            FileType::Odt.media_type().as_bytes(),
        )
    {
        return Ok(FileType::Odt);
    }
    let found = if has("xl/workbook.xml") {
        "xlsx"
    } else if has("ppt/presentation.xml") {
        "pptx"
    } else if has("mimetype") {
        "odf"
    } else {
        "zip"
    };
    Err(FileRefusal::NotAllowed {
        found: found.to_owned(),
    })
}

/// The names in a ZIP archive's central directory (enough to tell docx from odt and to
/// find macros; nothing is decompressed). Reads the archive's end and its directory only.
fn zip_entry_names(content: &dyn Source) -> Option<Vec<String>> {
    const EOCD: [u8; 4] = [0x50, 0x4B, 0x05, 0x06];
    const CENTRAL: [u8; 4] = [0x50, 0x4B, 0x01, 0x02];
    /// More than 65535 entries with long names need; a claim beyond it is no docx.
    const LARGEST_DIRECTORY: u64 = 16 << 20;
    let u16_at = |bytes: &[u8], at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as usize)
    };
    let u32_at = |bytes: &[u8], at: usize| -> Option<u64> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?).into())
    };
    let tail_len = (22 + 0xFFFF_u64).min(content.size());
    let tail = read(content, content.size() - tail_len, tail_len);
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD)?;
    let entries = u16_at(&tail, eocd + 10)?;
    let directory_len = u32_at(&tail, eocd + 12)?;
    if directory_len > LARGEST_DIRECTORY {
        return None;
    }
    let directory = read(content, u32_at(&tail, eocd + 16)?, directory_len);
    let mut at = 0;
    let mut names = Vec::with_capacity(entries);
    for _ in 0..entries {
        if directory.get(at..at + 4)? != CENTRAL {
            return None;
        }
        let name_len = u16_at(&directory, at + 28)?;
        let extra_len = u16_at(&directory, at + 30)?;
        let comment_len = u16_at(&directory, at + 32)?;
        let name = directory.get(at + 46..at + 46 + name_len)?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(names)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}
