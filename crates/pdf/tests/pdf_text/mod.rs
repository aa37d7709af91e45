//! A minimal text extractor for the PDFs that krilla writes, enough to prove that the text layer
//! (Type0 fonts with ToUnicode maps) reads back as the text we drew. Not a general PDF parser:
//! direct `/Length`s, Flate streams, literal or hex strings, `Tf`/`Tm`/`Tj`/`TJ` only.

use std::collections::HashMap;
use std::io::Read;

pub struct Pdf {
    objects: HashMap<u32, Object>,
}

struct Object {
    dict: String,
    stream: Option<Vec<u8>>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The integer after `key` in a dictionary, e.g. `/Length 552`.
fn int_after(dict: &str, key: &str) -> Option<u32> {
    let rest = &dict[dict.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub fn parse(bytes: &[u8]) -> Pdf {
    let mut objects = HashMap::new();
    let mut at = 0;
    while let Some(pos) = find(bytes, b" 0 obj", at) {
        let mut start = pos;
        while start > 0 && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let number: u32 = std::str::from_utf8(&bytes[start..pos])
            .expect("utf8")
            .parse()
            .expect("object number");
        let body = pos + b" 0 obj".len();
        let end = find(bytes, b"endobj", body).expect("endobj");
        let stream_at = find(bytes, b"stream", body).filter(|&s| s < end);
        let dict_end = stream_at.unwrap_or(end);
        let dict = String::from_utf8_lossy(&bytes[body..dict_end]).into_owned();
        let stream = stream_at.map(|s| {
            let mut data = s + b"stream".len();
            if bytes[data] == b'\r' {
                data += 1;
            }
            if bytes[data] == b'\n' {
                data += 1;
            }
            let length = int_after(&dict, "/Length").expect("direct /Length") as usize;
            let raw = &bytes[data..data + length];
            at = data + length;
            if dict.contains("/FlateDecode") {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(raw)
                    .read_to_end(&mut out)
                    .expect("inflate");
                out
            } else {
                raw.to_vec()
            }
        });
        if stream.is_none() {
            at = end;
        }
        objects.insert(number, Object { dict, stream });
    }
    Pdf { objects }
}

/// `/name N 0 R` entries of the `/Font<<…>>` resource dictionary.
fn font_resources(dict: &str) -> Vec<(String, u32)> {
    let Some(start) = dict.find("/Font<<") else {
        return Vec::new();
    };
    let body = &dict[start + "/Font<<".len()..];
    let body = &body[..body.find(">>").unwrap_or(body.len())];
    body.split('/')
        .filter_map(|entry| {
            let mut parts = entry.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
        })
        .collect()
}

fn hex_tokens(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|t| t.split('>').next())
        .map(str::to_owned)
        .collect()
}

fn utf16_hex(hex: &str) -> String {
    let units: Vec<u16> = (0..hex.len() / 4)
        .map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).expect("hex"))
        .collect();
    String::from_utf16_lossy(&units)
}

fn parse_cmap(cmap: &str) -> HashMap<u16, String> {
    let mut map = HashMap::new();
    let sections = |begin: &str, end: &str| -> Vec<String> {
        cmap.split(begin)
            .skip(1)
            .filter_map(|s| s.split(end).next())
            .map(str::to_owned)
            .collect()
    };
    for section in sections("beginbfchar", "endbfchar") {
        let tokens = hex_tokens(&section);
        for pair in tokens.chunks(2) {
            let cid = u16::from_str_radix(&pair[0], 16).expect("cid");
            map.insert(cid, utf16_hex(&pair[1]));
        }
    }
    for section in sections("beginbfrange", "endbfrange") {
        assert!(
            !section.contains('['),
            "array form of bfrange not supported"
        );
        for triple in hex_tokens(&section).chunks(3) {
            let (lo, hi) = (
                u16::from_str_radix(&triple[0], 16).expect("lo"),
                u16::from_str_radix(&triple[1], 16).expect("hi"),
            );
            let base = utf16_hex(&triple[2]);
            let mut chars: Vec<char> = base.chars().collect();
            for cid in lo..=hi {
                map.insert(cid, chars.iter().collect());
                if let Some(last) = chars.last_mut() {
                    *last = char::from_u32(*last as u32 + 1).unwrap_or(*last);
                }
            }
        }
    }
    map
}

#[derive(Debug)]
enum Token {
    Num(f32),
    Name(String),
    Str(Vec<u8>),
    Op(String),
}

fn tokenize(content: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < content.len() {
        let c = content[i];
        match c {
            b'(' => {
                let mut depth = 1;
                let mut s = Vec::new();
                i += 1;
                while i < content.len() {
                    let c = content[i];
                    match c {
                        b'\\' => {
                            i += 1;
                            let e = content[i];
                            match e {
                                b'n' => s.push(b'\n'),
                                b'r' => s.push(b'\r'),
                                b't' => s.push(b'\t'),
                                b'b' => s.push(8),
                                b'f' => s.push(12),
                                b'0'..=b'7' => {
                                    let mut v = 0u32;
                                    let mut n = 0;
                                    while n < 3
                                        && i < content.len()
                                        && (b'0'..=b'7').contains(&content[i])
                                    {
                                        v = v * 8 + u32::from(content[i] - b'0');
                                        i += 1;
                                        n += 1;
                                    }
                                    i -= 1;
                                    s.push(v as u8);
                                }
                                other => s.push(other),
                            }
                        }
                        b'(' => {
                            depth += 1;
                            s.push(c);
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            s.push(c);
                        }
                        _ => s.push(c),
                    }
                    i += 1;
                }
                tokens.push(Token::Str(s));
                i += 1;
            }
            b'<' if content.get(i + 1) != Some(&b'<') => {
                let end = find(content, b">", i).expect("hex string end");
                let hex: Vec<u8> = content[i + 1..end]
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                let bytes = hex
                    .chunks(2)
                    .map(|p| {
                        u8::from_str_radix(std::str::from_utf8(p).expect("hex"), 16).expect("hex")
                    })
                    .collect();
                tokens.push(Token::Str(bytes));
                i = end + 1;
            }
            b'/' => {
                let start = i + 1;
                i = start;
                while i < content.len() && !b" \n\r\t/[]()<>".contains(&content[i]) {
                    i += 1;
                }
                tokens.push(Token::Name(
                    String::from_utf8_lossy(&content[start..i]).into_owned(),
                ));
            }
            b'[' | b']' | b' ' | b'\n' | b'\r' | b'\t' | b'<' | b'>' => i += 1,
            _ => {
                let start = i;
                while i < content.len() && !b" \n\r\t/[]()<>".contains(&content[i]) {
                    i += 1;
                }
                let word = String::from_utf8_lossy(&content[start..i]).into_owned();
                match word.parse::<f32>() {
                    Ok(n) => tokens.push(Token::Num(n)),
                    Err(_) => tokens.push(Token::Op(word)),
                }
            }
        }
    }
    tokens
}

impl Pdf {
    fn object(&self, number: u32) -> &Object {
        self.objects.get(&number).expect("referenced object exists")
    }

    /// Page object numbers in document order.
    fn pages(&self) -> Vec<u32> {
        let pages = self
            .objects
            .values()
            .find(|o| o.dict.contains("/Type/Pages"))
            .expect("page tree");
        let kids = &pages.dict[pages.dict.find("/Kids[").expect("kids") + 6..];
        let kids = &kids[..kids.find(']').expect("kids end")];
        let numbers: Vec<u32> = kids
            .split_whitespace()
            .filter_map(|t| t.parse().ok())
            .collect();
        numbers.chunks(2).map(|c| c[0]).collect()
    }

    pub fn page_count(&self) -> usize {
        self.pages().len()
    }

    /// Decompressed content streams, one per page.
    pub fn contents(&self) -> Vec<String> {
        self.pages()
            .into_iter()
            .map(|page| {
                let contents = int_after(&self.object(page).dict, "/Contents").expect("contents");
                String::from_utf8_lossy(self.object(contents).stream.as_deref().expect("stream"))
                    .into_owned()
            })
            .collect()
    }

    /// All object dictionaries, for checks on font embedding.
    pub fn dicts(&self) -> impl Iterator<Item = &str> {
        self.objects.values().map(|o| o.dict.as_str())
    }

    /// The text of every page: runs on the same baseline are joined left to right, lines top to
    /// bottom, pages separated by a form feed.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        for page in self.pages() {
            let page_dict = &self.object(page).dict;
            let resources_dict = match int_after(page_dict, "/Resources") {
                Some(n) if !page_dict.contains("/Resources<<") => self.object(n).dict.clone(),
                _ => page_dict.clone(),
            };
            let fonts: HashMap<String, HashMap<u16, String>> = font_resources(&resources_dict)
                .into_iter()
                .map(|(name, number)| {
                    let font = &self.object(number).dict;
                    let cmap =
                        int_after(font, "/ToUnicode").expect("every font has a ToUnicode map");
                    let cmap =
                        String::from_utf8_lossy(self.object(cmap).stream.as_deref().expect("cmap"))
                            .into_owned();
                    (name, parse_cmap(&cmap))
                })
                .collect();
            let contents = int_after(page_dict, "/Contents").expect("contents");
            let content = self
                .object(contents)
                .stream
                .as_deref()
                .expect("content stream");

            let mut runs: Vec<(f32, f32, String)> = Vec::new();
            let mut font: Option<&HashMap<u16, String>> = None;
            let (mut x, mut y) = (0.0, 0.0);
            let mut operands: Vec<Token> = Vec::new();
            for token in tokenize(content) {
                let Token::Op(op) = &token else {
                    operands.push(token);
                    continue;
                };
                match op.as_str() {
                    "Tf" => {
                        if let Some(Token::Name(name)) = operands.first() {
                            font = fonts.get(name);
                        }
                    }
                    "Tm" => {
                        let nums: Vec<f32> = operands
                            .iter()
                            .filter_map(|t| {
                                if let Token::Num(n) = t {
                                    Some(*n)
                                } else {
                                    None
                                }
                            })
                            .collect();
                        if nums.len() >= 6 {
                            (x, y) = (nums[4], nums[5]);
                        }
                    }
                    "Tj" | "TJ" => {
                        let map = font.expect("font selected before text");
                        let mut text = String::new();
                        for operand in &operands {
                            if let Token::Str(bytes) = operand {
                                for pair in bytes.chunks(2) {
                                    let cid =
                                        u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
                                    text.push_str(
                                        map.get(&cid).map(String::as_str).unwrap_or("\u{fffd}"),
                                    );
                                }
                            }
                        }
                        runs.push((y, x, text));
                    }
                    _ => {}
                }
                operands.clear();
            }
            runs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let mut lines: Vec<(f32, String)> = Vec::new();
            for (y, _, text) in runs {
                match lines.last_mut() {
                    Some((ly, line)) if (*ly - y).abs() < 0.5 => line.push_str(&text),
                    _ => lines.push((y, text)),
                }
            }
            out.push(
                lines
                    .into_iter()
                    .map(|(_, l)| l)
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        out.join("\n\u{c}\n")
    }
}
