//! Attachment checks, run in the browser before encryption. They spare the citizen a
//! refusal at the authority's gateway; they are no security boundary (the authority scans
//! decrypted attachments as any mail).

use std::fmt;

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

/// Identifies `bytes` by content and checks it against `policy`.
pub fn check_file(bytes: &[u8], policy: &FilePolicy) -> Result<FileType, FileRefusal> {
    let found = identify(bytes)?;
    if policy.allowed.contains(&found) {
        Ok(found)
    } else {
        Err(FileRefusal::NotAllowed {
            found: found.code().to_owned(),
        })
    }
}

/// What a file is, by content alone, or why no form would take it.
pub fn identify(bytes: &[u8]) -> Result<FileType, FileRefusal> {
    if bytes.is_empty() {
        return Err(FileRefusal::Empty);
    }
    match sniff(bytes) {
        Sniffed::Pdf => {
            if contains(bytes, b"/Encrypt") {
                Err(FileRefusal::EncryptedPdf)
            } else if contains(bytes, b"/JavaScript") || contains(bytes, b"/Launch") {
                Err(FileRefusal::ActivePdf)
            } else {
                Ok(FileType::Pdf)
            }
        }
        Sniffed::Jpeg => Ok(FileType::Jpg),
        Sniffed::Png => Ok(FileType::Png),
        Sniffed::Zip => identify_zip(bytes),
        Sniffed::Ole2 => {
            // Encrypted OOXML files are OLE2 containers with an "EncryptedPackage" stream.
            if contains(bytes, &utf16le("EncryptedPackage")) {
                Err(FileRefusal::EncryptedOffice)
            } else {
                Err(FileRefusal::LegacyOffice)
            }
        }
        Sniffed::Executable => Err(FileRefusal::Executable),
        Sniffed::Unknown => identify_text(bytes),
    }
}

fn identify_text(bytes: &[u8]) -> Result<FileType, FileRefusal> {
    let has_nul = bytes.contains(&0);
    match std::str::from_utf8(bytes) {
        Ok(_) if has_nul => Err(FileRefusal::TextWithNul),
        Ok(_) => Ok(FileType::Txt),
        Err(_) if has_nul => Err(FileRefusal::Unknown),
        Err(_) => Err(FileRefusal::TextNotUtf8),
    }
}

fn identify_zip(bytes: &[u8]) -> Result<FileType, FileRefusal> {
    let names = zip_entry_names(bytes).ok_or(FileRefusal::Unknown)?;
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
            &bytes[..bytes.len().min(200)],
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
/// find macros; nothing is decompressed).
fn zip_entry_names(bytes: &[u8]) -> Option<Vec<String>> {
    const EOCD: [u8; 4] = [0x50, 0x4B, 0x05, 0x06];
    const CENTRAL: [u8; 4] = [0x50, 0x4B, 0x01, 0x02];
    let u16_at = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as usize)
    };
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let search_from = bytes.len().saturating_sub(22 + 0xFFFF);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == EOCD)?;
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    let mut names = Vec::with_capacity(entries);
    for _ in 0..entries {
        if bytes.get(at..at + 4)? != CENTRAL {
            return None;
        }
        let name_len = u16_at(at + 28)?;
        let extra_len = u16_at(at + 30)?;
        let comment_len = u16_at(at + 32)?;
        let name = bytes.get(at + 46..at + 46 + name_len)?;
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
