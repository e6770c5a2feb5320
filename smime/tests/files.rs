#![cfg(not(target_arch = "wasm32"))]
//! File checks on fixture files made here: by content, never by name.

use std::io::Write;
use std::process::Command;

use smime::files::{FilePolicy, FileRefusal, FileType, check_file, identify};

/// A ZIP archive with the given entries (Python's zipfile, an independent writer).
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from(
        "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\n",
    );
    for (i, (name, content)) in entries.iter().enumerate() {
        let path = dir.path().join(format!("e{i}"));
        std::fs::write(&path, content).unwrap();
        // ODF wants its mimetype first and stored, uncompressed.
        let method = if *name == "mimetype" {
            "zipfile.ZIP_STORED"
        } else {
            "zipfile.ZIP_DEFLATED"
        };
        script.push_str(&format!(
            "z.write({:?},{:?},{method})\n",
            path.to_str().unwrap(),
            name
        ));
    }
    script.push_str("z.close()\n");
    let out = dir.path().join("out.zip");
    let status = Command::new("python3")
        .args(["-c", &script])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

const CONTENT_TYPES: &[u8] = b"<?xml version=\"1.0\"?><Types/>";

fn docx() -> Vec<u8> {
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", b"<w:document/>"),
    ])
}

fn pdf(extra: &str) -> Vec<u8> {
    format!(
        "%PDF-1.7\n1 0 obj << /Type /Catalog {extra} >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    bytes.extend_from_slice(&[0x1F, 0x15, 0xC4, 0x89]);
    bytes
}

fn ole2(stream_name: &str) -> Vec<u8> {
    let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    bytes.resize(1024, 0);
    bytes.extend(stream_name.encode_utf16().flat_map(u16::to_le_bytes));
    bytes.resize(4096, 0);
    bytes
}

#[test]
fn allowed_types_are_recognised_by_content() {
    let everything = FilePolicy {
        allowed: FileType::ALL.to_vec(),
    };
    let odt = zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content/>"),
    ]);
    for (bytes, expected) in [
        (pdf(""), FileType::Pdf),
        (
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'],
            FileType::Jpg,
        ),
        (png(), FileType::Png),
        (docx(), FileType::Docx),
        (odt, FileType::Odt),
        (
            "Grüße aus München\nZeile zwei\n".as_bytes().to_vec(),
            FileType::Txt,
        ),
        (b"\xEF\xBB\xBFmit BOM".to_vec(), FileType::Txt),
    ] {
        assert_eq!(check_file(&bytes, &everything), Ok(expected));
    }
    // The default policy is pdf, jpg, png: a docx is recognised but not accepted.
    assert_eq!(
        check_file(&png(), &FilePolicy::default()),
        Ok(FileType::Png)
    );
    assert_eq!(
        check_file(&docx(), &FilePolicy::default()),
        Err(FileRefusal::NotAllowed {
            found: "docx".into()
        })
    );
}

#[test]
fn dangerous_or_unreadable_files_are_refused_with_a_reason() {
    let everything = FilePolicy {
        allowed: FileType::ALL.to_vec(),
    };
    let true_binary = std::fs::read("/bin/true").unwrap(); // a real ELF executable
    let mut windows = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    windows.resize(512, 0);
    let docm = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", b"<w:document/>"),
        ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0macro"),
    ]);
    let odt_macro = zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<x/>"),
        ("Basic/Standard/Module1.xml", b"<script/>"),
    ]);
    let xlsx = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("xl/workbook.xml", b"<workbook/>"),
    ]);
    let jar = zip(&[
        ("META-INF/MANIFEST.MF", b"Main-Class: A\n"),
        ("A.class", b"\xCA\xFE\xBA\xBE"),
    ]);
    let latin1 = b"Gr\xfc\xdfe aus M\xfcnchen".to_vec();

    for (what, bytes, refusal) in [
        ("empty", vec![], FileRefusal::Empty),
        ("ELF named .pdf", true_binary, FileRefusal::Executable),
        ("Windows program", windows, FileRefusal::Executable),
        (
            "script",
            b"#!/bin/sh\nrm -rf ~\n".to_vec(),
            FileRefusal::Executable,
        ),
        ("Java archive", jar, FileRefusal::Executable),
        ("docm", docm, FileRefusal::MacroEnabled),
        (
            "odt with Basic macros",
            odt_macro,
            FileRefusal::MacroEnabled,
        ),
        (
            "encrypted PDF",
            pdf("/Encrypt 5 0 R"),
            FileRefusal::EncryptedPdf,
        ),
        (
            "PDF with JavaScript",
            pdf("/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"),
            FileRefusal::ActivePdf,
        ),
        (
            "encrypted docx",
            ole2("EncryptedPackage"),
            FileRefusal::EncryptedOffice,
        ),
        (
            "legacy .doc",
            ole2("WordDocument"),
            FileRefusal::LegacyOffice,
        ),
        (
            "xlsx",
            xlsx,
            FileRefusal::NotAllowed {
                found: "xlsx".into(),
            },
        ),
        ("Latin-1 text", latin1, FileRefusal::TextNotUtf8),
        (
            "text with NUL",
            b"abc\0def".to_vec(),
            FileRefusal::TextWithNul,
        ),
        (
            "random binary",
            vec![0x00, 0x9F, 0x92, 0x96, 0x00, 0xFF],
            FileRefusal::Unknown,
        ),
    ] {
        let refused = check_file(&bytes, &everything).expect_err(what);
        assert_eq!(refused, refusal, "{what}");
        assert!(!refused.to_string().is_empty());
        assert!(refused.code().starts_with("file_"));
    }
    assert_eq!(identify(&pdf("")), Ok(FileType::Pdf));
    let _ = std::io::stdout().flush();
}

/// The checks read a file in windows of 1 MiB (so that in the browser it never enters wasm
/// memory whole). What lies across a window's edge, or far behind the first window, is
/// found as in a small file: a PDF's script, a UTF-8 character, a NUL, a byte that is no
/// UTF-8, an encrypted Office package, a docx's macros behind megabytes of content.
#[test]
fn what_lies_across_a_window_edge_or_far_in_is_found() {
    const WINDOW: usize = 1 << 20;
    let everything = FilePolicy {
        allowed: vec![FileType::Pdf, FileType::Txt, FileType::Docx],
    };
    // `insert` at each offset around the first and the third window edge.
    let around_edges = |base: &[u8], insert: &[u8]| -> Vec<Vec<u8>> {
        let mut cases = Vec::new();
        for edge in [WINDOW, 3 * WINDOW] {
            for back in 0..=insert.len() + 1 {
                let mut bytes = base.to_vec();
                bytes.resize(3 * WINDOW + 4096, b' ');
                let at = edge - back;
                bytes[at..at + insert.len()].copy_from_slice(insert);
                cases.push(bytes);
            }
        }
        cases
    };
    for bytes in around_edges(b"%PDF-1.7\n", b"/JavaScript") {
        assert_eq!(check_file(&bytes, &everything), Err(FileRefusal::ActivePdf));
    }
    for bytes in around_edges(b"%PDF-1.7\n", b"/Encrypt") {
        assert_eq!(
            check_file(&bytes, &everything),
            Err(FileRefusal::EncryptedPdf)
        );
    }
    for character in ["ä", "€", "𝄞"] {
        for bytes in around_edges(b"Sehr geehrte Damen und Herren,\n", character.as_bytes()) {
            assert_eq!(
                check_file(&bytes, &everything),
                Ok(FileType::Txt),
                "{character}"
            );
        }
    }
    for bytes in around_edges(b"Text\n", b"\xE4") {
        assert_eq!(
            check_file(&bytes, &everything),
            Err(FileRefusal::TextNotUtf8)
        );
    }
    for bytes in around_edges(b"Text\n", b"\0") {
        assert_eq!(
            check_file(&bytes, &everything),
            Err(FileRefusal::TextWithNul)
        );
    }
    // A character cut off by the file's end is no UTF-8, however long the file.
    let mut cut = b"Text\n".to_vec();
    cut.resize(2 * WINDOW + 10, b'x');
    cut.extend_from_slice(&"ä".as_bytes()[..1]);
    assert_eq!(check_file(&cut, &everything), Err(FileRefusal::TextNotUtf8));

    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.resize(2 * WINDOW + 100, 0);
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    ole[WINDOW - 10..WINDOW - 10 + name.len()].copy_from_slice(&name);
    assert_eq!(identify(&ole), Err(FileRefusal::EncryptedOffice));

    // Incompressible, so that the archive is as large.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let filler: Vec<u8> = (0..3 * WINDOW)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let with_macros = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/media/scan.bin", &filler),
        ("word/document.xml", b"<w:document/>"),
        ("word/vbaProject.bin", b"macro"),
    ]);
    assert!(with_macros.len() > 3 * WINDOW);
    assert_eq!(
        check_file(&with_macros, &everything),
        Err(FileRefusal::MacroEnabled)
    );
}
