//! A small text-document writer over `pdf-writer`: A4 pages, Helvetica (the PDF's
//! standard fonts, so nothing is embedded), titles, headings and wrapped paragraphs. Text is
//! encoded as WinAnsi (Windows-1252), which covers Dutch and the other Western European
//! letters (é, ë, ï, ö, ü, ç, ñ ...); a character outside it (an emoji, Arabic, Hebrew) is
//! printed as `?`. The dossier's JSON carries every text exactly.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;
const BODY: f32 = 10.5;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// One character in Windows-1252, or `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        'Š' => 0x8a,
        'š' => 0x9a,
        'Œ' => 0x8c,
        'œ' => 0x9c,
        'Ž' => 0x8e,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => b'?',
    }
}

/// Text as WinAnsi bytes; combining accents are first composed where Windows-1252 has the
/// letter (e + ◌́ = é).
fn encode(s: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            if let Some(last) = out.last_mut()
                && let Some(composed) = compose(*last, c)
            {
                *last = composed;
            }
            continue;
        }
        if c == '\n' || c == '\t' {
            out.push(b' ');
        } else {
            out.push(win_ansi(c));
        }
    }
    out
}

fn compose(base: u8, mark: char) -> Option<u8> {
    let table: &[(u8, char, char)] = &[
        (b'e', '\u{301}', 'é'),
        (b'e', '\u{300}', 'è'),
        (b'e', '\u{308}', 'ë'),
        (b'e', '\u{302}', 'ê'),
        (b'a', '\u{301}', 'á'),
        (b'a', '\u{300}', 'à'),
        (b'a', '\u{308}', 'ä'),
        (b'i', '\u{308}', 'ï'),
        (b'i', '\u{301}', 'í'),
        (b'o', '\u{308}', 'ö'),
        (b'o', '\u{301}', 'ó'),
        (b'u', '\u{308}', 'ü'),
        (b'u', '\u{301}', 'ú'),
        (b'c', '\u{327}', 'ç'),
        (b'n', '\u{303}', 'ñ'),
        (b'E', '\u{301}', 'É'),
        (b'O', '\u{308}', 'Ö'),
        (b'U', '\u{308}', 'Ü'),
    ];
    table
        .iter()
        .find(|(b, m, _)| *b == base && *m == mark)
        .map(|(_, _, c)| *c as u32 as u8)
}

/// Approximate Helvetica advance of one WinAnsi byte, in 1/1000 em.
fn advance(b: u8) -> f32 {
    match b {
        b'i' | b'j' | b'l' | b'.' | b',' | b':' | b';' | b'\'' | b'!' | b'|' => 278.0,
        b' ' | b'f' | b't' | b'I' | b'(' | b')' | b'[' | b']' | b'/' => 300.0,
        b'r' => 333.0,
        b'm' | b'w' | b'M' | b'W' => 833.0,
        b'A'..=b'Z' => 690.0,
        _ => 556.0,
    }
}

fn text_width(bytes: &[u8], size: f32) -> f32 {
    bytes.iter().map(|&b| advance(b)).sum::<f32>() * size / 1000.0
}

/// Lays text out on A4 pages.
pub struct Writer {
    pages: Vec<Content>,
    y: f32,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl Writer {
    /// A document with one empty page.
    pub fn new() -> Self {
        Writer {
            pages: vec![Content::new()],
            y: HEIGHT - MARGIN,
        }
    }

    /// Start a new page.
    pub fn new_page(&mut self) {
        self.pages.push(Content::new());
        self.y = HEIGHT - MARGIN;
    }

    fn put(&mut self, font: Name<'static>, size: f32, bytes: &[u8]) {
        let leading = size * 1.35;
        if self.y - leading < MARGIN {
            self.new_page();
        }
        self.y -= leading;
        let y = self.y;
        let page = self.pages.last_mut().expect("a page");
        page.begin_text();
        page.set_font(font, size);
        page.next_line(MARGIN, y);
        page.show(Str(bytes));
        page.end_text();
    }

    fn wrapped(&mut self, font: Name<'static>, size: f32, text: &str) {
        let max = WIDTH - 2.0 * MARGIN;
        let mut line: Vec<u8> = vec![];
        for word in encode(text).split(|&b| b == b' ').filter(|w| !w.is_empty()) {
            let mut candidate = line.clone();
            if !candidate.is_empty() {
                candidate.push(b' ');
            }
            candidate.extend_from_slice(word);
            if text_width(&candidate, size) <= max || line.is_empty() {
                line = candidate;
                // A single word longer than a line is cut.
                while text_width(&line, size) > max && line.len() > 1 {
                    let mut cut = line.len();
                    while cut > 1 && text_width(&line[..cut], size) > max {
                        cut -= 1;
                    }
                    let rest = line.split_off(cut);
                    self.put(font, size, &line);
                    line = rest;
                }
            } else {
                self.put(font, size, &line);
                line = word.to_vec();
            }
        }
        if !line.is_empty() {
            self.put(font, size, &line);
        }
    }

    /// A title (large, bold).
    pub fn title(&mut self, text: &str) {
        self.wrapped(BOLD, 18.0, text);
        self.gap();
    }

    /// A heading (bold).
    pub fn heading(&mut self, text: &str) {
        self.wrapped(BOLD, 12.0, text);
    }

    /// One line of body text (wrapped if long).
    pub fn line(&mut self, text: &str) {
        self.wrapped(REGULAR, BODY, text);
    }

    /// A paragraph of body text, wrapped.
    pub fn paragraph(&mut self, text: &str) {
        self.wrapped(REGULAR, BODY, text);
    }

    /// Some vertical space.
    pub fn gap(&mut self) {
        self.y -= BODY * 0.8;
    }

    /// The PDF file.
    pub fn finish(self) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        let first = 5;
        let n = self.pages.len() as i32;
        let page_ids: Vec<Ref> = (0..n).map(|i| Ref::new(first + 2 * i)).collect();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree).kids(page_ids.iter().copied()).count(n);
        for (i, content) in self.pages.into_iter().enumerate() {
            let id = page_ids[i];
            let content_id = Ref::new(id.get() + 1);
            let mut page = pdf.page(id);
            page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT));
            page.parent(tree);
            page.contents(content_id);
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            fonts.pair(REGULAR, regular);
            fonts.pair(BOLD, bold);
            fonts.finish();
            resources.finish();
            page.finish();
            pdf.stream(content_id, &content.finish());
        }
        pdf.type1_font(regular)
            .base_font(Name(b"Helvetica"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        pdf.type1_font(bold)
            .base_font(Name(b"Helvetica-Bold"))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
        pdf.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_letters_are_win_ansi_and_others_a_question_mark() {
        assert_eq!(encode("één"), vec![0xe9, 0xe9, b'n']);
        assert_eq!(encode("coördinator"), b"co\xf6rdinator".to_vec());
        assert_eq!(encode("cafe\u{301}"), b"caf\xe9".to_vec());
        assert_eq!(encode("😀 שלום"), b"? ????".to_vec());
    }

    #[test]
    fn a_long_text_runs_over_pages() {
        let mut w = Writer::new();
        for _ in 0..200 {
            w.paragraph("Een lange regel tekst over de zorgcoördinator en ideeën.");
        }
        let pdf = w.finish();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(5).filter(|x| x == b"/Page").count() > 3);
    }
}
