//! Media types by content (magic bytes), never by file name.

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Pdf,
    Jpeg,
    Png,
    /// A ZIP container (docx, odt and friends need a look inside to tell apart).
    Zip,
    /// An OLE2 compound file: legacy Office (.doc, .xls, .ppt) or an encrypted OOXML file.
    Ole2,
    /// A Windows PE, ELF or Mach-O executable.
    Executable,
    Unknown,
}

impl Sniffed {
    /// The media type to declare in a MIME part.
    pub fn media_type(self) -> &'static str {
        match self {
            Sniffed::Pdf => "application/pdf",
            Sniffed::Jpeg => "image/jpeg",
            Sniffed::Png => "image/png",
            Sniffed::Zip => "application/zip",
            Sniffed::Ole2 => "application/x-ole-storage",
            Sniffed::Executable => "application/octet-stream",
            Sniffed::Unknown => "application/octet-stream",
        }
    }
}

/// Identifies a file from its leading bytes.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    const SIGNATURES: &[(&[u8], Sniffed)] = &[
        (b"%PDF-", Sniffed::Pdf),
        (&[0xFF, 0xD8, 0xFF], Sniffed::Jpeg),
        (b"\x89PNG\r\n\x1a\n", Sniffed::Png),
        (b"PK\x03\x04", Sniffed::Zip),
        (
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1],
            Sniffed::Ole2,
        ),
        (b"MZ", Sniffed::Executable),
        (b"\x7fELF", Sniffed::Executable),
        (&[0xCF, 0xFA, 0xED, 0xFE], Sniffed::Executable),
        (&[0xFE, 0xED, 0xFA, 0xCF], Sniffed::Executable),
        (&[0xCA, 0xFE, 0xBA, 0xBE], Sniffed::Executable),
        // Windows shortcut (.lnk) and scripts with an interpreter line.
        (
            &[0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00],
            Sniffed::Executable,
        ),
        (b"#!", Sniffed::Executable),
    ];
    SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map_or(Sniffed::Unknown, |&(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_renamed_executable_is_still_an_executable() {
        let pe = b"MZ\x90\x00\x03\x00\x00\x00This program cannot be run in DOS mode";
        assert_eq!(sniff(pe), Sniffed::Executable);
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), Sniffed::Pdf);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Sniffed::Png);
        assert_eq!(sniff(b"PDF-1.7 without its percent sign"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Unknown);
        assert_eq!(sniff(b"%PDF-1.4").media_type(), "application/pdf");
    }
}
