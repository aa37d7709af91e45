//! A small layout toolkit on top of krilla.
//!
//! * [`Fonts`]: the embedded DejaVu Sans faces; shaping (rustybuzz, the shaper krilla itself uses)
//!   gives both the glyphs to draw and the measured width.
//! * [`Fonts::wrap`]: greedy line breaking of styled text by measured width.
//! * [`Flow`]: a cursor that moves down the page and starts a new page when needed, with helpers
//!   for paragraphs, tables (header repeated, rows split across pages), the administrative header,
//!   signature blocks and QR codes.
//!
//! Layout only builds a display list ([`Op`]s per page); [`Flow::finish`] writes the PDF at the
//! end, which is also what lets the footer say "Trang i/n".
//!
//! Coordinates are PDF points, origin at the top-left corner, y growing downwards (krilla's
//! convention); text is positioned by its baseline.

use std::sync::LazyLock;

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::PdfError;

/// A4 portrait, in points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
/// Margins close to NĐ 30/2020/NĐ-CP (left 30 mm, right 15 mm, top and bottom 20 mm).
pub(crate) const LEFT: f32 = 85.0;
pub(crate) const RIGHT: f32 = PAGE_W - 42.5;
pub(crate) const TOP: f32 = 56.7;
pub(crate) const BOTTOM: f32 = PAGE_H - 56.7;

/// Body text size and line height.
pub(crate) const BODY: f32 = 11.0;
pub(crate) const LEADING: f32 = 1.4;

/// DejaVu Sans vertical metrics (hhea ascender 1901, descender -483, 2048 units per em).
const ASCENT: f32 = 1901.0 / 2048.0;
const DESCENT: f32 = 483.0 / 2048.0;

/// Cell padding in tables.
const PAD: f32 = 3.0;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
static ITALIC: &[u8] = include_bytes!("../fonts/DejaVuSans-Oblique.ttf");

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(Fonts::load);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Regular,
    Bold,
    Italic,
}

impl Style {
    fn index(self) -> usize {
        match self {
            Style::Regular => 0,
            Style::Bold => 1,
            Style::Italic => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// A piece of text in one style, the input of wrapping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    pub text: &'a str,
    pub style: Style,
}

pub(crate) fn regular(text: &str) -> Span<'_> {
    Span {
        text,
        style: Style::Regular,
    }
}

pub(crate) fn bold(text: &str) -> Span<'_> {
    Span {
        text,
        style: Style::Bold,
    }
}

pub(crate) fn italic(text: &str) -> Span<'_> {
    Span {
        text,
        style: Style::Italic,
    }
}

/// Shaped text in one style and size, ready to draw.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    style: Style,
    size: f32,
    text: String,
    glyphs: Vec<KrillaGlyph>,
    width: f32,
}

/// One wrapped line: runs drawn side by side.
#[derive(Debug, Clone, Default)]
pub(crate) struct Line {
    runs: Vec<Run>,
    width: f32,
}

impl Line {
    pub(crate) fn width(&self) -> f32 {
        self.width
    }
}

/// The embedded fonts, parsed once per process.
pub(crate) struct Fonts {
    faces: [rustybuzz::Face<'static>; 3],
    pdf: [Font; 3],
}

impl Fonts {
    fn load() -> Option<Fonts> {
        let face = |data: &'static [u8]| rustybuzz::Face::from_slice(data, 0);
        let font = |data: &'static [u8]| Font::new(data.into(), 0);
        Some(Fonts {
            faces: [face(REGULAR)?, face(BOLD)?, face(ITALIC)?],
            pdf: [font(REGULAR)?, font(BOLD)?, font(ITALIC)?],
        })
    }

    pub(crate) fn get() -> Result<&'static Fonts, PdfError> {
        FONTS.as_ref().ok_or(PdfError::Font)
    }

    /// Shapes one run of already-cleaned text.
    fn shape(&self, text: &str, style: Style, size: f32) -> Run {
        let face = &self.faces[style.index()];
        let upem = face.units_per_em().max(1) as f32;
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.guess_segment_properties();
        let output = rustybuzz::shape(face, &[], buffer);
        let infos = output.glyph_infos();
        // A glyph's text range runs from its cluster start to the next cluster start in logical
        // order; this holds for both directions.
        let mut starts: Vec<usize> = infos.iter().map(|i| i.cluster as usize).collect();
        starts.sort_unstable();
        starts.dedup();
        let mut width = 0.0;
        let glyphs = infos
            .iter()
            .zip(output.glyph_positions())
            .map(|(info, pos)| {
                let start = info.cluster as usize;
                let next = starts.partition_point(|&s| s <= start);
                let end = starts.get(next).copied().unwrap_or(text.len());
                width += pos.x_advance as f32 / upem;
                KrillaGlyph::new(
                    GlyphId::new(info.glyph_id),
                    pos.x_advance as f32 / upem,
                    pos.x_offset as f32 / upem,
                    pos.y_offset as f32 / upem,
                    pos.y_advance as f32 / upem,
                    start..end,
                    None,
                )
            })
            .collect();
        Run {
            style,
            size,
            text: text.to_owned(),
            glyphs,
            width: width * size,
        }
    }

    /// Width in points of cleaned text.
    fn width(&self, text: &str, style: Style, size: f32) -> f32 {
        self.shape(text, style, size).width
    }

    /// A single line without wrapping (text is cleaned; line breaks become spaces).
    pub(crate) fn line(&self, span: Span<'_>, size: f32) -> Line {
        let text = clean(span.text).replace('\n', " ");
        let run = self.shape(&text, span.style, size);
        Line {
            width: run.width,
            runs: vec![run],
        }
    }

    /// Breaks styled text into lines no wider than `max` (words longer than a line are split).
    /// "\n" forces a line break; more than one empty line in a row is collapsed.
    pub(crate) fn wrap(&self, spans: &[Span<'_>], size: f32, max: f32) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut builder = LineBuilder::default();
        let mut breaks = 0;
        for token in tokenize(spans) {
            match token {
                Token::Break => {
                    breaks += 1;
                    if breaks <= 2 {
                        lines.push(self.finish_line(std::mem::take(&mut builder), size));
                    }
                }
                Token::Word {
                    pieces,
                    space_before,
                } => {
                    breaks = 0;
                    let total: f32 = pieces
                        .iter()
                        .map(|(style, text)| self.width(text, *style, size))
                        .sum();
                    if total <= max {
                        self.place(
                            &mut lines,
                            &mut builder,
                            &pieces,
                            total,
                            space_before,
                            size,
                            max,
                        );
                        continue;
                    }
                    // Too wide for a line: give up the glue between pieces and split long pieces.
                    for (i, (style, text)) in pieces.into_iter().enumerate() {
                        for (j, chunk) in self
                            .split_word(&text, style, size, max)
                            .into_iter()
                            .enumerate()
                        {
                            let width = self.width(&chunk, style, size);
                            let space = space_before && i == 0 && j == 0;
                            self.place(
                                &mut lines,
                                &mut builder,
                                &[(style, chunk)],
                                width,
                                space,
                                size,
                                max,
                            );
                        }
                    }
                }
            }
        }
        if !builder.pieces.is_empty() {
            lines.push(self.finish_line(builder, size));
        }
        lines
    }

    /// Appends a word (styled pieces with no break between them) to the line being built, or
    /// starts a new line when it does not fit.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        lines: &mut Vec<Line>,
        builder: &mut LineBuilder,
        word: &[(Style, String)],
        width: f32,
        space_before: bool,
        size: f32,
        max: f32,
    ) {
        let mut space = match builder.pieces.last() {
            Some((last, _)) if space_before => self.width(" ", *last, size),
            _ => 0.0,
        };
        if !builder.pieces.is_empty() && builder.width + space + width > max {
            lines.push(self.finish_line(std::mem::take(builder), size));
            space = 0.0;
        }
        if space > 0.0
            && let Some((_, last)) = builder.pieces.last_mut()
        {
            last.push(' ');
        }
        for (style, text) in word {
            match builder.pieces.last_mut() {
                Some((last_style, last)) if last_style == style => last.push_str(text),
                _ => builder.pieces.push((*style, text.clone())),
            }
        }
        builder.width += space + width;
    }

    /// Splits a word wider than `max` into chunks that fit, never separating a base character from
    /// its combining marks.
    fn split_word(&self, word: &str, style: Style, size: f32, max: f32) -> Vec<String> {
        let mut units: Vec<String> = Vec::new();
        for c in word.chars() {
            match units.last_mut() {
                Some(unit) if is_combining_mark(c) => unit.push(c),
                _ => units.push(c.to_string()),
            }
        }
        // Prefer breaking after URL-ish punctuation when that keeps at least half a line.
        let breaks_after = |unit: &str| {
            matches!(
                unit,
                "/" | "?" | "&" | "=" | "-" | "." | "_" | "," | ";" | ":"
            )
        };
        let mut chunks = Vec::new();
        let mut chunk: Vec<(String, f32)> = Vec::new();
        let mut width = 0.0;
        for unit in units {
            let w = self.width(&unit, style, size);
            if !chunk.is_empty() && width + w > max {
                let mut cut = chunk.len();
                let mut prefix = width;
                for (i, (u, uw)) in chunk.iter().enumerate().rev() {
                    if breaks_after(u) && prefix >= max / 2.0 {
                        cut = i + 1;
                        break;
                    }
                    prefix -= uw;
                }
                let rest = chunk.split_off(cut);
                chunks.push(chunk.iter().map(|(u, _)| u.as_str()).collect::<String>());
                width = rest.iter().map(|(_, uw)| uw).sum();
                chunk = rest;
            }
            chunk.push((unit, w));
            width += w;
        }
        if !chunk.is_empty() {
            chunks.push(chunk.iter().map(|(u, _)| u.as_str()).collect());
        }
        chunks
    }

    fn finish_line(&self, builder: LineBuilder, size: f32) -> Line {
        let runs: Vec<Run> = builder
            .pieces
            .iter()
            .map(|(style, text)| self.shape(text, *style, size))
            .collect();
        Line {
            width: runs.iter().map(|r| r.width).sum(),
            runs,
        }
    }
}

#[derive(Default)]
struct LineBuilder {
    pieces: Vec<(Style, String)>,
    width: f32,
}

enum Token {
    /// Text between break opportunities; pieces of different styles written without a space
    /// between them (e.g. a bold value followed by ".") stay together.
    Word {
        pieces: Vec<(Style, String)>,
        space_before: bool,
    },
    Break,
}

/// Whitespace that separates words; no-break spaces keep words together.
fn is_break_space(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}')
}

fn tokenize(spans: &[Span<'_>]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut pending_space = false;
    fn flush(tokens: &mut Vec<Token>, style: Style, word: &mut String, pending: &mut bool) {
        if word.is_empty() {
            return;
        }
        let text = std::mem::take(word);
        match tokens.last_mut() {
            Some(Token::Word { pieces, .. }) if !*pending => pieces.push((style, text)),
            _ => tokens.push(Token::Word {
                pieces: vec![(style, text)],
                space_before: *pending,
            }),
        }
        *pending = false;
    }
    for span in spans {
        let text = clean(span.text);
        let mut word = String::new();
        for c in text.chars() {
            if c == '\n' {
                flush(&mut tokens, span.style, &mut word, &mut pending_space);
                tokens.push(Token::Break);
                pending_space = false;
            } else if is_break_space(c) {
                flush(&mut tokens, span.style, &mut word, &mut pending_space);
                pending_space = true;
            } else {
                word.push(c);
            }
        }
        flush(&mut tokens, span.style, &mut word, &mut pending_space);
    }
    tokens
}

/// Makes untrusted text safe to draw: drops control characters (except line breaks) and bidi
/// embedding/override/isolate controls, turns tabs into spaces, and normalises to NFC.
pub(crate) fn clean(text: &str) -> String {
    let filtered: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\u{2028}' | '\u{2029}' | '\u{85}' => Some('\n'),
            '\t' => Some(' '),
            '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    filtered.nfc().collect()
}

fn line_height(size: f32) -> f32 {
    size * LEADING
}

/// Baseline of a line box of `size` whose top is at `top`.
fn baseline(top: f32, size: f32) -> f32 {
    top + (line_height(size) - (ASCENT + DESCENT) * size) / 2.0 + ASCENT * size
}

enum Op {
    Text {
        x: f32,
        y: f32,
        run: Run,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
    },
    Rects(Vec<(f32, f32, f32, f32)>),
}

/// A table column: header text, width as a fraction of the content width, and alignment.
pub(crate) struct Column<'a> {
    pub title: &'a str,
    pub width: f32,
    pub align: Align,
}

/// A signature block: role in capitals, hint in italics ("(Ký và ghi rõ họ tên)"), then the name.
pub(crate) struct Signature<'a> {
    pub role: &'a str,
    pub hint: &'a str,
    pub name: &'a str,
}

/// A page's size, in points: A4 portrait for the documents, A4 landscape for the register,
/// whose table has a column per fact of the dossier. The margins are the same.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    w: f32,
    h: f32,
}

impl Page {
    pub(crate) const PORTRAIT: Page = Page {
        w: PAGE_W,
        h: PAGE_H,
    };
    pub(crate) const LANDSCAPE: Page = Page {
        w: PAGE_H,
        h: PAGE_W,
    };

    fn right(self) -> f32 {
        self.w - (PAGE_W - RIGHT)
    }

    fn bottom(self) -> f32 {
        self.h - (PAGE_H - BOTTOM)
    }

    fn content_w(self) -> f32 {
        self.right() - LEFT
    }
}

/// The page cursor and display list.
pub(crate) struct Flow {
    fonts: &'static Fonts,
    pages: Vec<Vec<Op>>,
    y: f32,
    page: Page,
}

impl Flow {
    pub(crate) fn new() -> Result<Flow, PdfError> {
        Flow::with_page(Page::PORTRAIT)
    }

    pub(crate) fn with_page(page: Page) -> Result<Flow, PdfError> {
        Ok(Flow {
            fonts: Fonts::get()?,
            pages: vec![Vec::new()],
            y: TOP,
            page,
        })
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    fn page_break(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` still fits on this one (or the page is empty anyway).
    pub(crate) fn ensure(&mut self, height: f32) {
        if self.y + height > self.page.bottom() && self.y > TOP {
            self.page_break();
        }
    }

    pub(crate) fn gap(&mut self, dy: f32) {
        self.y += dy;
    }

    /// Wraps text; centred text is balanced (lines of similar length, same number of lines).
    fn wrap(&self, spans: &[Span<'_>], size: f32, max: f32, align: Align) -> Vec<Line> {
        let lines = self.fonts.wrap(spans, size, max);
        if align != Align::Center || lines.len() < 2 {
            return lines;
        }
        let (mut lo, mut hi) = (max / 2.0, max);
        for _ in 0..10 {
            let mid = (lo + hi) / 2.0;
            if self.fonts.wrap(spans, size, mid).len() <= lines.len() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        self.fonts.wrap(spans, size, hi)
    }

    /// Draws one line in the box `[x, x + width]` with its line box top at `top`.
    fn draw_line(&mut self, line: &Line, x: f32, width: f32, align: Align, top: f32, size: f32) {
        let mut cx = match align {
            Align::Left => x,
            Align::Center => x + (width - line.width) / 2.0,
            Align::Right => x + width - line.width,
        };
        let y = baseline(top, size);
        for run in &line.runs {
            if !run.glyphs.is_empty() {
                self.push(Op::Text {
                    x: cx,
                    y,
                    run: run.clone(),
                });
            }
            cx += run.width;
        }
    }

    /// Draws lines at a fixed position (no page breaks); returns the height used.
    fn draw_block(
        &mut self,
        lines: &[Line],
        x: f32,
        width: f32,
        align: Align,
        top: f32,
        size: f32,
    ) -> f32 {
        let lh = line_height(size);
        for (i, line) in lines.iter().enumerate() {
            self.draw_line(line, x, width, align, top + i as f32 * lh, size);
        }
        lines.len() as f32 * lh
    }

    /// A wrapped paragraph across the content width, breaking pages between lines.
    pub(crate) fn paragraph(&mut self, spans: &[Span<'_>], size: f32, align: Align) {
        self.paragraph_in(spans, size, align, LEFT, self.page.content_w());
    }

    /// A wrapped paragraph in the box `[x, x + width]`, breaking pages between lines.
    pub(crate) fn paragraph_in(
        &mut self,
        spans: &[Span<'_>],
        size: f32,
        align: Align,
        x: f32,
        width: f32,
    ) {
        let lh = line_height(size);
        for line in self.wrap(spans, size, width, align) {
            self.ensure(lh);
            let top = self.y;
            self.draw_line(&line, x, width, align, top, size);
            self.y += lh;
        }
    }

    /// "Label: value" with the value in bold; an empty value prints as a dotted fill-in line.
    pub(crate) fn field(&mut self, label: &str, value: &str) {
        let value = fill_in(value);
        self.paragraph(
            &[regular(label), regular(" "), bold(&value)],
            BODY,
            Align::Left,
        );
    }

    /// Two short fields on one line, e.g. phone and e-mail.
    pub(crate) fn field_pair(&mut self, label1: &str, value1: &str, label2: &str, value2: &str) {
        let (v1, v2) = (fill_in(value1), fill_in(value2));
        self.paragraph(
            &[
                regular(label1),
                regular(" "),
                bold(&v1),
                regular(";   "),
                regular(label2),
                regular(" "),
                bold(&v2),
            ],
            BODY,
            Align::Left,
        );
    }

    pub(crate) fn rule(&mut self, x1: f32, x2: f32, y: f32, width: f32) {
        self.push(Op::Line {
            x1,
            y1: y,
            x2,
            y2: y,
            width,
        });
    }

    fn vline(&mut self, x: f32, y1: f32, y2: f32) {
        self.push(Op::Line {
            x1: x,
            y1,
            x2: x,
            y2,
            width: 0.6,
        });
    }

    /// The standard header of an administrative document (NĐ 30/2020/NĐ-CP layout): agency
    /// names on the left with a short rule, the national name and motto on the right with a rule
    /// as long as the motto, then "Số: …" and the italic place/date on one row. A small form
    /// number sits in the top margin.
    pub(crate) fn admin_header(&mut self, header: &crate::Header, form_number: &str) {
        const SIZE: f32 = 10.5;
        const LEFT_W: f32 = 190.0;
        let right_x = LEFT + LEFT_W;
        let right_w = self.page.content_w() - LEFT_W;

        let form = self.fonts.line(
            italic(&format!("{form_number} – Thông tư 03/2025/TT-VPCP")),
            8.0,
        );
        self.draw_line(
            &form,
            LEFT,
            self.page.content_w(),
            Align::Right,
            TOP - 22.0,
            8.0,
        );

        let top = self.y;
        // Left column.
        let parent = self.wrap(
            &[regular(&header.agency_parent.to_uppercase())],
            SIZE,
            LEFT_W,
            Align::Center,
        );
        let agency = self.wrap(
            &[bold(&header.agency.to_uppercase())],
            SIZE,
            LEFT_W,
            Align::Center,
        );
        let mut y = top + self.draw_block(&parent, LEFT, LEFT_W, Align::Center, top, SIZE);
        y += self.draw_block(&agency, LEFT, LEFT_W, Align::Center, y, SIZE);
        if let Some(widest) = agency
            .iter()
            .chain(&parent)
            .map(Line::width)
            .reduce(f32::max)
        {
            let rule = (widest / 3.0).clamp(30.0, LEFT_W);
            let cx = LEFT + LEFT_W / 2.0;
            self.rule(cx - rule / 2.0, cx + rule / 2.0, y + 1.5, 0.6);
        }
        let left_bottom = y;

        // Right column.
        let nation = self.wrap(
            &[bold("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")],
            SIZE,
            right_w,
            Align::Center,
        );
        let motto = self.wrap(
            &[bold("Độc lập - Tự do - Hạnh phúc")],
            SIZE + 0.5,
            right_w,
            Align::Center,
        );
        let mut y = top + self.draw_block(&nation, right_x, right_w, Align::Center, top, SIZE);
        y += self.draw_block(&motto, right_x, right_w, Align::Center, y, SIZE + 0.5);
        if let Some(line) = motto.first() {
            let cx = right_x + right_w / 2.0;
            self.rule(cx - line.width / 2.0, cx + line.width / 2.0, y + 1.5, 0.6);
        }
        let right_bottom = y;

        // Number and place/date row.
        let row = left_bottom.max(right_bottom) + 8.0;
        let number = header.number.trim();
        let number = if number.is_empty() {
            "Số: ………………".to_owned()
        } else if number.starts_with("Số") || number.starts_with("SỐ") {
            number.to_owned()
        } else {
            format!("Số: {number}")
        };
        let number = self.wrap(&[regular(&number)], SIZE, LEFT_W, Align::Center);
        let date = self.wrap(&[italic(&header.place_date)], SIZE, right_w, Align::Center);
        let h1 = self.draw_block(&number, LEFT, LEFT_W, Align::Center, row, SIZE);
        let h2 = self.draw_block(&date, right_x, right_w, Align::Center, row, SIZE);
        self.y = row + h1.max(h2) + 14.0;
    }

    /// The centred bold title, with an optional centred sub-line (e.g. the dossier code).
    pub(crate) fn title(&mut self, title: &str, sub: &[Span<'_>]) {
        self.paragraph(&[bold(title)], 13.0, Align::Center);
        if !sub.is_empty() {
            self.gap(2.0);
            self.paragraph(sub, BODY, Align::Center);
        }
        self.gap(10.0);
    }

    /// A ruled table across the content width. The header row is repeated on each page; a row
    /// taller than the rest of the page is moved to the next page, or split if it would not fit
    /// on any page.
    pub(crate) fn table(&mut self, columns: &[Column<'_>], rows: &[Vec<String>], size: f32) {
        let lh = line_height(size);
        let mut xs = vec![LEFT];
        for column in columns {
            let last = xs.last().copied().unwrap_or(LEFT);
            xs.push(last + column.width * self.page.content_w());
        }
        let inner = |i: usize| (xs[i] + PAD, xs[i + 1] - xs[i] - 2.0 * PAD);

        let head: Vec<Vec<Line>> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| self.wrap(&[bold(c.title)], size, inner(i).1, Align::Center))
            .collect();
        let head_h = head.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 2.0 * PAD;

        let draw_head = |flow: &mut Flow| {
            flow.ensure(head_h + lh + 2.0 * PAD);
            let top = flow.y;
            for (i, lines) in head.iter().enumerate() {
                let (x, w) = inner(i);
                let h = lines.len() as f32 * lh;
                // Header cells are centred vertically as well.
                flow.draw_block(
                    lines,
                    x,
                    w,
                    Align::Center,
                    top + PAD + (head_h - 2.0 * PAD - h) / 2.0,
                    size,
                );
            }
            flow.grid(&xs, top, head_h);
            flow.y = top + head_h;
        };
        draw_head(self);

        for row in rows {
            let cells: Vec<Vec<Line>> = columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    let text = row.get(i).map(String::as_str).unwrap_or("");
                    self.wrap(&[regular(text)], size, inner(i).1, column.align)
                })
                .collect();
            let total = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let page_capacity = ((self.page.bottom() - TOP - head_h - 2.0 * PAD) / lh)
                .floor()
                .max(1.0) as usize;
            let mut done = 0;
            while done < total {
                let room = ((self.page.bottom() - self.y - 2.0 * PAD) / lh)
                    .floor()
                    .max(0.0) as usize;
                let left = total - done;
                let at_page_start = self.y <= TOP + head_h + 0.5;
                if room < left && (left <= page_capacity || room == 0) && !at_page_start {
                    self.page_break();
                    draw_head(self);
                    continue;
                }
                let take = left.min(room.max(1));
                let top = self.y;
                for (i, lines) in cells.iter().enumerate() {
                    let (x, w) = inner(i);
                    let end = (done + take).min(lines.len());
                    let part = lines.get(done..end).unwrap_or(&[]);
                    self.draw_block(part, x, w, columns[i].align, top + PAD, size);
                }
                let h = take as f32 * lh + 2.0 * PAD;
                self.grid(&xs, top, h);
                self.y = top + h;
                done += take;
            }
        }
        self.gap(6.0);
    }

    /// Cell borders of one table row.
    fn grid(&mut self, xs: &[f32], top: f32, height: f32) {
        let (x1, x2) = (
            xs.first().copied().unwrap_or(LEFT),
            xs.last().copied().unwrap_or(self.page.right()),
        );
        self.rule(x1, x2, top, 0.6);
        self.rule(x1, x2, top + height, 0.6);
        for &x in xs {
            self.vline(x, top, top + height);
        }
    }

    /// One or two signature blocks side by side (left and right halves); a single block goes on
    /// the right, as in administrative documents. The block is kept on one page.
    pub(crate) fn signatures(&mut self, left: Option<Signature<'_>>, right: Option<Signature<'_>>) {
        const SIGN_SPACE: f32 = 62.0;
        struct Block {
            x: f32,
            role: Vec<Line>,
            hint: Vec<Line>,
            name: Vec<Line>,
        }
        let half = self.page.content_w() / 2.0;
        let w = half - 10.0;
        let blocks: Vec<Block> = [(LEFT, left), (LEFT + half, right)]
            .into_iter()
            .filter_map(|(x, s)| {
                let s = s?;
                Some(Block {
                    x: x + 5.0,
                    role: self.wrap(&[bold(s.role)], BODY, w, Align::Center),
                    hint: self.wrap(&[italic(s.hint)], BODY - 1.0, w, Align::Center),
                    name: self.wrap(&[bold(s.name)], BODY, w, Align::Center),
                })
            })
            .collect();
        let height = blocks
            .iter()
            .map(|b| {
                (b.role.len() + b.name.len()) as f32 * line_height(BODY)
                    + b.hint.len() as f32 * line_height(BODY - 1.0)
                    + SIGN_SPACE
            })
            .fold(0.0, f32::max);
        self.gap(6.0);
        self.ensure(height);
        let top = self.y;
        for b in &blocks {
            let mut y = top + self.draw_block(&b.role, b.x, w, Align::Center, top, BODY);
            y += self.draw_block(&b.hint, b.x, w, Align::Center, y, BODY - 1.0);
            y += SIGN_SPACE;
            self.draw_block(&b.name, b.x, w, Align::Center, y, BODY);
        }
        self.y = top + height;
    }

    /// A QR code of `data` (`side` points square, with its quiet zone) at the left margin and a
    /// caption beside it. The block is kept on one page.
    pub(crate) fn qr_block(
        &mut self,
        data: &str,
        side: f32,
        caption: &[Span<'_>],
    ) -> Result<(), PdfError> {
        let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| PdfError::Qr(e.to_string()))?;
        let text_x = LEFT + side + 10.0;
        let text_w = self.page.right() - text_x;
        let lines = self.wrap(caption, BODY - 1.0, text_w, Align::Left);
        let text_h = lines.len() as f32 * line_height(BODY - 1.0);
        let height = side.max(text_h);
        self.ensure(height);
        let top = self.y;
        self.push(Op::Rects(qr_modules(&code, LEFT, top, side)));
        self.draw_block(
            &lines,
            text_x,
            text_w,
            Align::Left,
            top + (height - text_h) / 2.0,
            BODY - 1.0,
        );
        self.y = top + height + 6.0;
        Ok(())
    }

    /// Adds the page footers and writes the PDF.
    pub(crate) fn finish(mut self, title: &str, footer: &str) -> Result<Vec<u8>, PdfError> {
        let count = self.pages.len();
        if count > 1 {
            let footer = clean(footer).replace('\n', " ");
            for (i, page) in self.pages.iter_mut().enumerate() {
                let label = self
                    .fonts
                    .line(italic(&format!("Trang {}/{}", i + 1, count)), 8.0);
                let y = baseline(self.page.bottom() + 14.0, 8.0);
                let x = self.page.right() - label.width;
                page.extend(label.runs.into_iter().map(|run| Op::Text { x, y, run }));
                let left = self.fonts.line(italic(&footer), 8.0);
                if !footer.is_empty() && left.width < self.page.content_w() - 80.0 {
                    page.extend(
                        left.runs
                            .into_iter()
                            .map(|run| Op::Text { x: LEFT, y, run }),
                    );
                }
            }
        }
        emit(self.fonts, &self.pages, self.page, title)
    }
}

/// Dark modules of a QR code as rectangles (horizontal runs merged), with a 4-module quiet zone.
fn qr_modules(code: &qrcode::QrCode, x: f32, y: f32, side: f32) -> Vec<(f32, f32, f32, f32)> {
    const QUIET: usize = 4;
    let n = code.width();
    let module = side / (n + 2 * QUIET) as f32;
    let colors = code.to_colors();
    let mut rects = Vec::new();
    for (row, cells) in colors.chunks(n.max(1)).enumerate() {
        let mut col = 0;
        while col < cells.len() {
            if cells[col] == qrcode::Color::Dark {
                let start = col;
                while col < cells.len() && cells[col] == qrcode::Color::Dark {
                    col += 1;
                }
                rects.push((
                    x + (QUIET + start) as f32 * module,
                    y + (QUIET + row) as f32 * module,
                    (col - start) as f32 * module,
                    module,
                ));
            } else {
                col += 1;
            }
        }
    }
    rects
}

/// An empty value becomes a dotted fill-in line.
pub(crate) fn fill_in(value: &str) -> String {
    if value.trim().is_empty() {
        "……………………".to_owned()
    } else {
        value.to_owned()
    }
}

/// Serialises the display list with krilla.
fn emit(fonts: &Fonts, pages: &[Vec<Op>], size: Page, title: &str) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(clean(title))
            .language("vi".to_owned())
            .creator("dichvucong".to_owned()),
    );
    for ops in pages {
        let settings = PageSettings::from_wh(size.w, size.h)
            .ok_or_else(|| PdfError::Pdf("page size".to_owned()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text { x, y, run } => {
                    surface.set_stroke(None);
                    surface.set_fill(Some(Fill::default()));
                    surface.draw_glyphs(
                        Point::from_xy(*x, *y),
                        &run.glyphs,
                        fonts.pdf[run.style.index()].clone(),
                        &run.text,
                        run.size,
                        false,
                    );
                }
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    width,
                } => {
                    let mut path = PathBuilder::new();
                    path.move_to(*x1, *y1);
                    path.line_to(*x2, *y2);
                    if let Some(path) = path.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            width: *width,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
                Op::Rects(rects) => {
                    let mut path = PathBuilder::new();
                    for &(x, y, w, h) in rects {
                        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
                            path.push_rect(rect);
                        }
                    }
                    if let Some(path) = path.finish() {
                        surface.set_stroke(None);
                        surface.set_fill(Some(Fill::default()));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| PdfError::Pdf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts() -> &'static Fonts {
        Fonts::get().expect("embedded fonts load")
    }

    fn text(line: &Line) -> String {
        line.runs.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn clean_strips_controls_and_bidi_overrides_and_composes() {
        assert_eq!(clean("a\u{0}b\u{1b}c\td\r\ne"), "abc d\ne");
        assert_eq!(
            clean("\u{202e}abc\u{202c}\u{2067}x\u{2069}\u{feff}"),
            "abcx"
        );
        assert_eq!(clean("Nguye\u{302}\u{303}n"), "Nguyễn");
    }

    #[test]
    fn lines_fit_the_measured_width_and_keep_every_word() {
        let input = "Thời gian giải quyết hồ sơ theo quy định là ba ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ";
        let lines = fonts().wrap(&[regular(input)], BODY, 150.0);
        assert!(lines.len() > 2);
        for line in &lines {
            assert!(
                line.width <= 150.0 + 0.01,
                "{} is {}",
                text(line),
                line.width
            );
        }
        let joined: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(joined.join(" "), input);
    }

    #[test]
    fn measured_width_matches_glyph_advances() {
        let run = fonts().shape("Hồng Bàng", Style::Regular, 10.0);
        let sum: f32 = run.glyphs.iter().map(|g| g.x_advance * 10.0).sum();
        assert!((run.width - sum).abs() < 0.001);
        assert!(run.width > 40.0 && run.width < 70.0, "{}", run.width);
        assert!(fonts().width("Hồng Bàng", Style::Bold, 10.0) > run.width);
    }

    #[test]
    fn glued_pieces_stay_on_one_line() {
        let spans = [
            regular("mã hồ sơ: "),
            bold("000.00.00.H26-261128-0007"),
            regular(", nội dung"),
        ];
        for max in [120.0, 160.0, 200.0, 260.0] {
            for line in fonts().wrap(&spans, BODY, max) {
                assert!(
                    !text(&line).starts_with(','),
                    "comma at line start at width {max}"
                );
            }
        }
    }

    #[test]
    fn long_words_split_at_punctuation_and_never_before_a_combining_mark() {
        let url = "https://dichvucong.example.vn/tra-cuu?ma=000.00.00.H26-261128-0007&lang=vi";
        let lines = fonts().wrap(&[regular(url)], BODY, 150.0);
        assert!(lines.len() >= 2);
        assert_eq!(lines.iter().map(text).collect::<String>(), url);
        assert!(
            lines[..lines.len() - 1]
                .iter()
                .all(|l| text(l).ends_with(['/', '?', '&', '=', '-', '.']))
        );

        // A combining mark that NFC cannot compose stays with its base character.
        let word = "a\u{301}\u{323}\u{330}".repeat(200);
        for line in fonts().wrap(&[regular(&word)], BODY, 80.0) {
            assert!(!text(&line).starts_with(is_combining_mark));
        }
    }

    #[test]
    fn newlines_break_lines_and_blank_runs_collapse() {
        let lines = fonts().wrap(&[regular("a\nb\n\n\n\n\nc\n")], BODY, 300.0);
        let texts: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(texts, ["a", "b", "", "c"]);
        assert!(fonts().wrap(&[regular("")], BODY, 300.0).is_empty());
        assert!(fonts().wrap(&[regular("   ")], BODY, 300.0).is_empty());
    }
}
