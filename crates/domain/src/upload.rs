//! Checking an uploaded file by its content before anything is stored (OWASP ASVS 5.0: 5.2.2
//! content matches the expected type, 5.2.6 image pixel limit).
//!
//! [`FileKind::sniff`] only looks at the magic bytes. [`inspect`] goes further, without decoding
//! the image or running a PDF parser:
//!
//! 1. the magic bytes must be those of PDF, JPEG or PNG (archives, GIF, SVG, HTML… are refused);
//! 2. no markup or script: a file whose bytes carry `<script`, `<iframe`, `javascript:`… anywhere,
//!    or `<html`, `<body`, `<svg`… in its first or last kilobyte (where browsers' content
//!    sniffers look), is refused — this catches polyglots such as a PDF header followed by HTML;
//!    a PDF must not name `/JavaScript`, `/JS`, `/Launch`, `/EmbeddedFile(s)` or `/RichMedia`
//!    outside stream data (names are decoded, so `/J#61vaScript` is caught; objects inside
//!    object streams are not inspected — that is the antivirus' job);
//! 3. the structure must hold: a PDF ends with `%%EOF` within its last kilobyte; a JPEG's
//!    segments are well-formed up to the first scan, with a frame header before it and an end
//!    marker after it; a PNG's chunks are well-formed from `IHDR` to `IEND`, with image data;
//! 4. an image may have at most [`MAX_PIXELS`] pixels (a 50 000 × 50 000 PNG header fits in a
//!    few bytes and would take gigabytes to decode: "pixel flood").
//!
//! Every refusal has a Vietnamese message that says what to do.

use crate::form::FileKind;

/// Largest image accepted, in pixels (width × height): 100 megapixels, far above any scan or
/// phone photo (a 600 dpi A4 scan is about 35 megapixels).
pub const MAX_PIXELS: u64 = 100_000_000;

/// How many bytes at each end of the file browsers look at when they guess a type.
const SNIFF_WINDOW: usize = 1024;

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a PDF, JPEG or PNG by its first bytes.
    NotAccepted,
    /// Carries markup, script or active PDF content.
    ActiveContent(FileKind),
    /// The right first bytes, but not the structure of that format (truncated, or a header
    /// followed by something else).
    Damaged(FileKind),
    /// An image with more than [`MAX_PIXELS`] pixels.
    TooManyPixels {
        kind: FileKind,
        width: u32,
        height: u32,
    },
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Pdf => "PDF",
        FileKind::Jpeg => "JPG",
        FileKind::Png => "PNG",
    }
}

/// 50000 → "50.000" (Vietnamese thousands separator).
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

impl Refusal {
    /// The message for the person who uploaded the file. `subject` starts the sentence, e.g.
    /// `Tệp đã chọn cho mục “Giấy chứng sinh”` or `Tệp đã chọn`.
    pub fn message(&self, subject: &str) -> String {
        match self {
            Refusal::NotAccepted => format!(
                "{subject} không phải PDF, JPG hoặc PNG (hệ thống kiểm tra nội dung tệp, không dựa vào tên). Hãy chọn bản quét hoặc ảnh chụp đúng định dạng."
            ),
            Refusal::ActiveContent(kind) => format!(
                "{subject} có chứa mã lệnh hoặc nội dung trang web (JavaScript, HTML) nên không được nhận. Hãy in hoặc quét lại giấy tờ thành tệp {} thông thường rồi chọn lại.",
                kind_name(*kind)
            ),
            Refusal::Damaged(kind) => format!(
                "{subject} bị hỏng hoặc không trọn vẹn: nội dung không đúng cấu trúc của tệp {}. Hãy mở thử tệp trên máy, quét hoặc lưu lại rồi chọn lại.",
                kind_name(*kind)
            ),
            Refusal::TooManyPixels { width, height, .. } => format!(
                "{subject} là ảnh quá lớn: {} × {} điểm ảnh (tối đa {} triệu điểm ảnh). Hãy chụp hoặc quét lại ở độ phân giải thấp hơn rồi chọn lại.",
                group_thousands(u64::from(*width)),
                group_thousands(u64::from(*height)),
                MAX_PIXELS / 1_000_000
            ),
        }
    }
}

/// The message for a file the antivirus scanner found malware in, naming the file as chosen.
pub fn infected_message(client_name: &str) -> String {
    let name = crate::form::shown_file_name(client_name);
    let name = if name.is_empty() {
        "đã chọn".to_string()
    } else {
        format!("“{name}”")
    };
    format!(
        "Tệp {name} có chứa mã độc (virus) nên không được tiếp nhận và không được lưu. Ông/Bà vui lòng quét virus trên máy tính, rồi chọn lại bản sạch của giấy tờ này."
    )
}

/// The message when the antivirus scanner cannot be reached: the upload is refused for now.
pub const SCANNER_UNAVAILABLE: &str = "Hệ thống kiểm tra tệp đang bận, Ông/Bà vui lòng thử lại sau ít phút. Tệp vừa gửi chưa được lưu.";

/// Checks an uploaded file; returns its kind when it may be stored.
pub fn inspect(bytes: &[u8]) -> Result<FileKind, Refusal> {
    let kind = FileKind::sniff(bytes).ok_or(Refusal::NotAccepted)?;
    if has_markup(bytes) || (kind == FileKind::Pdf && pdf_has_active_content(bytes)) {
        return Err(Refusal::ActiveContent(kind));
    }
    let dims = match kind {
        FileKind::Pdf => {
            if !pdf_has_eof(bytes) {
                return Err(Refusal::Damaged(kind));
            }
            None
        }
        FileKind::Jpeg => Some(jpeg_dimensions(bytes).ok_or(Refusal::Damaged(kind))?),
        FileKind::Png => Some(png_dimensions(bytes).ok_or(Refusal::Damaged(kind))?),
    };
    if let Some((width, height)) = dims
        && u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(Refusal::TooManyPixels {
            kind,
            width,
            height,
        });
    }
    Ok(kind)
}

/// Markers refused anywhere in the file: long enough never to occur by chance in compressed
/// image data (a 7-byte marker: about 1 in 10^8 for a 10 MB file).
const MARKUP_ANYWHERE: &[&[u8]] = &[
    b"<script",
    b"<iframe",
    b"<object",
    b"<embed",
    b"javascript:",
    b"vbscript:",
    b"<!doctype html",
];

/// Shorter markers (at least 5 bytes), refused in the first and last kilobyte only.
const MARKUP_AT_ENDS: &[&[u8]] = &[
    b"<html", b"<head", b"<body", b"<svg ", b"<svg>", b"<meta", b"<style", b"<title", b"<link",
    b"<form", b"<?php",
];

fn starts_with_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len()
        && haystack
            .iter()
            .zip(needle)
            .all(|(h, n)| h.to_ascii_lowercase() == *n)
}

/// True when a marker occurs (case-insensitively). Every marker starts with `<`, `j` or `v`:
/// memchr jumps (SIMD) from one such byte to the next, and only there are markers compared.
fn contains_any(haystack: &[u8], needles: &[&[u8]]) -> bool {
    let at = |i: usize| {
        needles
            .iter()
            .any(|n| starts_with_ignore_case(&haystack[i..], n))
    };
    memchr::memchr3_iter(b'<', b'j', b'J', haystack).any(at)
        || memchr::memchr2_iter(b'v', b'V', haystack).any(at)
}

fn has_markup(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_WINDOW)];
    let tail = &bytes[bytes.len().saturating_sub(SNIFF_WINDOW)..];
    contains_any(bytes, MARKUP_ANYWHERE)
        || contains_any(head, MARKUP_AT_ENDS)
        || contains_any(tail, MARKUP_AT_ENDS)
}

/// PDF names that start scripts, launch programs or carry embedded files.
const PDF_ACTIVE_NAMES: &[&[u8]] = &[
    b"JavaScript",
    b"JS",
    b"Launch",
    b"EmbeddedFile",
    b"EmbeddedFiles",
    b"RichMedia",
];

fn is_pdf_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    ) || b.is_ascii_whitespace()
        || b == 0
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// True when a `stream` keyword starts at `i` (its data follows after an end of line).
fn stream_starts_at(bytes: &[u8], i: usize) -> bool {
    bytes[i..].starts_with(b"stream")
        && (i == 0 || !bytes[i - 1].is_ascii_alphabetic())
        && matches!(bytes.get(i + 6), Some(b'\r' | b'\n'))
}

/// Looks for active-content names outside stream data. Stream data is skipped: it is mostly
/// binary (scanned images), where a short name like `/JS` would match by chance.
fn pdf_has_active_content(bytes: &[u8]) -> bool {
    let mut i = 0;
    let mut name = Vec::with_capacity(32);
    // Only a `/` (a name) or an `s` (perhaps `stream`) matters: jump from one to the next.
    while let Some(skip) = memchr::memchr2(b'/', b's', &bytes[i..]) {
        i += skip;
        if bytes[i] == b's' {
            if !stream_starts_at(bytes, i) {
                i += 1;
                continue;
            }
            match memchr::memmem::find(&bytes[i + 6..], b"endstream") {
                Some(p) => {
                    i += 6 + p + 9;
                    continue;
                }
                // A stream that never ends is not skipped (that would hide the rest of the file).
                None => {
                    i += 6;
                    continue;
                }
            }
        }
        // A name: `/` then regular characters, with `#hh` escapes (PDF 32000-1 §7.3.5).
        i += 1;
        name.clear();
        while i < bytes.len() && !is_pdf_delimiter(bytes[i]) && name.len() <= 32 {
            if bytes[i] == b'#'
                && let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                )
            {
                name.push(h * 16 + l);
                i += 3;
                continue;
            }
            name.push(bytes[i]);
            i += 1;
        }
        if PDF_ACTIVE_NAMES.contains(&name.as_slice()) {
            return true;
        }
    }
    false
}

fn pdf_has_eof(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(SNIFF_WINDOW)..];
    tail.windows(5).any(|w| w == b"%%EOF")
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Walks the JPEG segments up to the first scan (ITU T.81 Annex B); returns (width, height).
fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    let mut dims: Option<(u32, u32)> = None;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        // Fill bytes.
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = b[i];
        i += 1;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            // A second start, an end before any image data, or a stuffed zero: not a JPEG.
            0x00 | 0xD8 | 0xD9 => return None,
            _ => {}
        }
        let len = usize::from(be16(b, i)?);
        if len < 2 || i + len > b.len() {
            return None;
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            if len < 8 {
                return None;
            }
            let height = u32::from(be16(b, i + 3)?);
            let width = u32::from(be16(b, i + 5)?);
            dims = Some((width, height));
        }
        if marker == 0xDA {
            let (width, height) = dims?;
            if width == 0 || height == 0 {
                return None;
            }
            // The compressed data must be followed by an end-of-image marker.
            let data = &b[i + len..];
            return data
                .windows(2)
                .rev()
                .any(|w| w == [0xFF, 0xD9])
                .then_some((width, height));
        }
        i += len;
    }
}

/// Walks the PNG chunks (ISO/IEC 15948) from `IHDR` to `IEND`; returns (width, height).
fn png_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: usize = 8;
    let mut i = SIGNATURE;
    let mut dims: Option<(u32, u32)> = None;
    let mut image_data = false;
    loop {
        let len = usize::try_from(be32(b, i)?).ok()?;
        let kind = b.get(i + 4..i + 8)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        // Length, type, data and CRC must all be there.
        let end = i.checked_add(12)?.checked_add(len)?;
        if end > b.len() {
            return None;
        }
        match (dims, kind) {
            (None, b"IHDR") if len == 13 => {
                let width = be32(b, i + 8)?;
                let height = be32(b, i + 12)?;
                // The format caps each side at 2^31 - 1.
                if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32
                {
                    return None;
                }
                dims = Some((width, height));
            }
            (None, _) => return None,
            (Some(_), b"IHDR") => return None,
            (Some(_), b"IDAT") => image_data = true,
            (Some(d), b"IEND") => return image_data.then_some(d),
            _ => {}
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn infected_message_names_the_file_without_its_path_or_controls() {
        let m = infected_message("C:\\Users\\an\\giấy\u{202E}fdp.exe");
        assert!(m.starts_with("Tệp “giấyfdp.exe” có chứa mã độc"), "{m}");
        assert!(m.contains("Ông/Bà"));
        assert!(infected_message("").starts_with("Tệp đã chọn có chứa mã độc"));
    }

    /// The plain definition the fast scan must agree with.
    fn naive_contains(hay: &[u8], needles: &[&[u8]]) -> bool {
        let lower = hay.to_ascii_lowercase();
        needles
            .iter()
            .any(|n| lower.windows(n.len()).any(|w| w == *n))
    }

    proptest! {
        #[test]
        fn markup_scan_agrees_with_the_plain_definition(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            marker in proptest::sample::select(MARKUP_ANYWHERE.iter().chain(MARKUP_AT_ENDS).copied().collect::<Vec<_>>()),
            at in any::<prop::sample::Index>(),
            upper in any::<bool>(),
            insert in any::<bool>(),
        ) {
            if insert {
                let m: Vec<u8> = if upper { marker.to_ascii_uppercase() } else { marker.to_vec() };
                let i = at.index(bytes.len() + 1);
                bytes.splice(i..i, m);
            }
            let head = &bytes[..bytes.len().min(SNIFF_WINDOW)];
            let tail = &bytes[bytes.len().saturating_sub(SNIFF_WINDOW)..];
            let expected = naive_contains(&bytes, MARKUP_ANYWHERE)
                || naive_contains(head, MARKUP_AT_ENDS)
                || naive_contains(tail, MARKUP_AT_ENDS);
            prop_assert_eq!(has_markup(&bytes), expected);
        }
    }

    fn pdf(body: &str) -> Vec<u8> {
        format!("%PDF-1.7\n1 0 obj << /Type /Catalog {body} >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
            .into_bytes()
    }

    pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
        let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        let mut chunk = |kind: &[u8], data: &[u8]| {
            v.extend_from_slice(&(data.len() as u32).to_be_bytes());
            v.extend_from_slice(kind);
            v.extend_from_slice(data);
            v.extend_from_slice(&[0, 0, 0, 0]);
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]);
        chunk(b"IEND", &[]);
        v
    }

    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[1, 1, 0x11, 0]);
        v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0]);
        v.extend_from_slice(&[0x12, 0x34, 0x56, 0xFF, 0x00, 0x78]);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    #[test]
    fn accepts_plain_files() {
        assert_eq!(inspect(&pdf("")), Ok(FileKind::Pdf));
        assert_eq!(inspect(&png(800, 600)), Ok(FileKind::Png));
        assert_eq!(inspect(&jpeg(4000, 3000)), Ok(FileKind::Jpeg));
    }

    #[test]
    fn refuses_polyglots_and_scripts() {
        let mut p = b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF".to_vec();
        assert_eq!(inspect(&p), Err(Refusal::ActiveContent(FileKind::Pdf)));
        p = pdf("/OpenAction << /S /JavaScript /JS (app.alert(1)) >>");
        assert_eq!(inspect(&p), Err(Refusal::ActiveContent(FileKind::Pdf)));
        p = pdf("/OpenAction << /S /J#61vaScript >>");
        assert_eq!(inspect(&p), Err(Refusal::ActiveContent(FileKind::Pdf)));
        p = pdf("/AA << /O << /S /Launch /F (cmd.exe) >> >>");
        assert_eq!(inspect(&p), Err(Refusal::ActiveContent(FileKind::Pdf)));
        let mut j = jpeg(10, 10);
        j.extend_from_slice(b"<SCRIPT>alert(1)</SCRIPT>");
        assert_eq!(inspect(&j), Err(Refusal::ActiveContent(FileKind::Jpeg)));
        let mut g = png(10, 10);
        g.extend_from_slice(b"<html><body>x</body></html>");
        assert_eq!(inspect(&g), Err(Refusal::ActiveContent(FileKind::Png)));
        // Names that merely start like active ones are fine, and so is stream data.
        assert_eq!(inspect(&pdf("/JSX 1 /Launcher 2")), Ok(FileKind::Pdf));
        let mut scanned =
            b"%PDF-1.4\n4 0 obj << /Length 9 /Filter /DCTDecode >>\nstream\n".to_vec();
        scanned.extend_from_slice(b"\x01/JS\x00/JS ");
        scanned.extend_from_slice(b"\nendstream\nendobj\n/Launch\n%%EOF\n");
        assert_eq!(
            inspect(&scanned),
            Err(Refusal::ActiveContent(FileKind::Pdf))
        );
        let cut = scanned.len() - "/Launch\n%%EOF\n".len();
        scanned.truncate(cut);
        scanned.extend_from_slice(b"%%EOF\n");
        assert_eq!(inspect(&scanned), Ok(FileKind::Pdf));
        // An unterminated stream does not hide what follows it.
        let p = pdf("/X 1 >> stream\n garbage /OpenAction << /S /JavaScript >>");
        assert_eq!(inspect(&p), Err(Refusal::ActiveContent(FileKind::Pdf)));
    }

    #[test]
    fn refuses_broken_structure() {
        assert_eq!(
            inspect(b"%PDF-1.4\n1 0 obj"),
            Err(Refusal::Damaged(FileKind::Pdf))
        );
        let j = jpeg(10, 10);
        assert_eq!(
            inspect(&j[..j.len() - 2]),
            Err(Refusal::Damaged(FileKind::Jpeg))
        );
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0xE0, b'x', b'y']),
            Err(Refusal::Damaged(FileKind::Jpeg))
        );
        let p = png(10, 10);
        assert_eq!(
            inspect(&p[..p.len() - 12]),
            Err(Refusal::Damaged(FileKind::Png))
        );
        assert_eq!(inspect(&png(0, 10)), Err(Refusal::Damaged(FileKind::Png)));
        assert_eq!(inspect(b"GIF89a"), Err(Refusal::NotAccepted));
        assert_eq!(inspect(b""), Err(Refusal::NotAccepted));
    }

    /// A 10 MB scan (a PDF around pseudo-random image data, and the same as a PNG) passes: the
    /// markers never match by chance, and the check stays linear.
    #[test]
    fn large_binary_files_pass() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..10 * 1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut scan =
            b"%PDF-1.7\n4 0 obj << /Length 10485760 /Filter /DCTDecode >>\nstream\n".to_vec();
        scan.extend_from_slice(&data);
        scan.extend_from_slice(b"\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
        assert_eq!(inspect(&scan), Ok(FileKind::Pdf));
        let mut img = png(3000, 2000);
        let iend = img.split_off(img.len() - 12);
        img.extend_from_slice(&(data.len() as u32).to_be_bytes());
        img.extend_from_slice(b"IDAT");
        img.extend_from_slice(&data);
        img.extend_from_slice(&[0, 0, 0, 0]);
        img.extend_from_slice(&iend);
        assert_eq!(inspect(&img), Ok(FileKind::Png));
    }

    #[test]
    fn refuses_pixel_floods() {
        assert_eq!(
            inspect(&png(50_000, 50_000)),
            Err(Refusal::TooManyPixels {
                kind: FileKind::Png,
                width: 50_000,
                height: 50_000
            })
        );
        assert!(matches!(
            inspect(&jpeg(65_535, 65_535)),
            Err(Refusal::TooManyPixels { .. })
        ));
        assert_eq!(inspect(&png(10_000, 10_000)), Ok(FileKind::Png));
        let m = inspect(&png(50_000, 50_000))
            .expect_err("refused")
            .message("Tệp đã chọn");
        assert!(m.contains("50.000 × 50.000 điểm ảnh"), "{m}");
        assert!(m.contains("tối đa 100 triệu điểm ảnh"), "{m}");
    }
}
