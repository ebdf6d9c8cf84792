//! Content streams: a tokenizer and a text interpreter that lays glyphs out into lines.
//!
//! Only what text extraction needs is interpreted: the graphics state stack (`q`, `Q`, `cm`),
//! the text operators (`BT` … `ET`, `Tf`, `Tc`, `Tw`, `Tz`, `TL`, `Ts`, `Td`, `TD`, `Tm`, `T*`,
//! `Tj`, `TJ`, `'`, `"`), form XObjects (`Do`, recursively) and images (counted, to tell scanned
//! pages). Glyphs are placed in device space; a space is inserted where the gap to the previous
//! glyph exceeds a tenth of the font size (as pdftotext does), a line break where the baseline
//! moves.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::PdfError;
use crate::filters::{self, Budget, DecodeError};
use crate::font::{Font, Glyph};

/// Deepest nesting of form XObjects followed.
const MAX_FORM_DEPTH: usize = 12;
/// Deepest `q` nesting kept; deeper saves are ignored (as viewers do).
const MAX_STATE_DEPTH: usize = 256;
/// Gap, as a fraction of the font size, above which two glyphs belong to different words.
const WORD_GAP: f64 = 0.1;
/// Baseline shift, as a fraction of the font size, above which a glyph starts a new line.
const LINE_SHIFT: f64 = 0.5;
/// The deadline is checked every this many operators.
const OPERATORS_PER_CHECK: u32 = 1024;

/// An affine matrix `[a b c d e f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Matrix([f64; 6]);

impl Matrix {
    pub(crate) const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(x: f64, y: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, x, y])
    }

    /// `self × other`: apply `self` first, then `other`.
    fn then(&self, other: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    fn apply_vector(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, _, _] = self.0;
        (a * x + c * y, b * x + d * y)
    }

    fn from_operands(operands: &[Operand]) -> Option<Matrix> {
        if operands.len() < 6 {
            return None;
        }
        let mut m = [0.0; 6];
        for (slot, operand) in m.iter_mut().zip(&operands[operands.len() - 6..]) {
            *slot = operand.number()?;
        }
        m.iter().all(|v| v.is_finite()).then_some(Matrix(m))
    }
}

/// An operand of a content-stream operator.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Number(f64),
    String(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Operand>),
    Other,
}

impl Operand {
    fn number(&self) -> Option<f64> {
        match self {
            Operand::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// A token of a content stream.
#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Operand(Operand),
    ArrayStart,
    ArrayEnd,
    DictStart,
    DictEnd,
    Operator(&'a [u8]),
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0C' | b'\0')
}

/// A tokenizer over a content stream. Never fails: malformed bytes become `Other` operands.
struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_space(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if is_space(b) {
                self.pos += 1;
            } else if b == b'%' {
                while self.pos < self.data.len() && !matches!(self.data[self.pos], b'\n' | b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.pos < self.data.len()
            && !is_space(self.data[self.pos])
            && !is_delimiter(self.data[self.pos])
        {
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    fn literal_string(&mut self) -> Vec<u8> {
        let data = self.data;
        let mut out = Vec::new();
        let mut depth = 1usize;
        while let Some(&b) = data.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => {
                    let Some(&e) = data.get(self.pos) else { break };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match data.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(value as u8);
                        }
                        b'\r' => {
                            if data.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
        out
    }

    fn hex_string(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            if b == b'>' {
                break;
            }
            let value = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => continue,
            };
            match high.take() {
                Some(h) => out.push(h << 4 | value),
                None => high = Some(value),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    /// Skips inline image data after `ID`: up to an `EI` between whitespace.
    fn skip_inline_image(&mut self) {
        let data = self.data;
        let mut i = self.pos + 1;
        while i + 1 < data.len() {
            if data[i] == b'E'
                && data[i + 1] == b'I'
                && is_space(data[i - 1])
                && data
                    .get(i + 2)
                    .is_none_or(|&b| is_space(b) || is_delimiter(b))
            {
                self.pos = i + 2;
                return;
            }
            i += 1;
        }
        self.pos = data.len();
    }

    fn next_token(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        let &b = self.data.get(self.pos)?;
        let token = match b {
            b'(' => {
                self.pos += 1;
                Token::Operand(Operand::String(self.literal_string()))
            }
            b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                Token::DictStart
            }
            b'>' if self.data.get(self.pos + 1) == Some(&b'>') => {
                self.pos += 2;
                Token::DictEnd
            }
            b'<' => {
                self.pos += 1;
                Token::Operand(Operand::String(self.hex_string()))
            }
            b'[' => {
                self.pos += 1;
                Token::ArrayStart
            }
            b']' => {
                self.pos += 1;
                Token::ArrayEnd
            }
            b'/' => {
                self.pos += 1;
                Token::Operand(Operand::Name(unescape_name(self.regular_run())))
            }
            b')' | b'>' | b'{' | b'}' => {
                self.pos += 1;
                Token::Operand(Operand::Other)
            }
            _ => {
                let run = self.regular_run();
                if run.is_empty() {
                    self.pos += 1;
                    return Some(Token::Operand(Operand::Other));
                }
                match parse_number(run) {
                    Some(n) => Token::Operand(Operand::Number(n)),
                    None => Token::Operator(run),
                }
            }
        };
        Some(token)
    }
}

fn unescape_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && i + 2 < raw.len()
            && let Some(v) = std::str::from_utf8(&raw[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn parse_number(run: &[u8]) -> Option<f64> {
    let first = *run.first()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return None;
    }
    let text = std::str::from_utf8(run).ok()?;
    if let Ok(n) = text.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    // Producers write things like `--5` or `4.-2`; treat them as 0 as viewers do.
    text.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
        .then_some(0.0)
}

/// Text state parameters (part of the graphics state).
#[derive(Debug, Clone)]
struct TextState {
    font: Option<Rc<Font>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    horizontal_scale: f64,
    leading: f64,
    rise: f64,
}

#[derive(Debug, Clone)]
struct GraphicsState {
    ctm: Matrix,
    text: TextState,
}

/// What was seen on one page.
#[derive(Debug, Default)]
pub(crate) struct PageContent {
    /// The page's text, lines separated by `\n`.
    pub(crate) text: String,
    /// Glyphs that produced visible (non-whitespace) text.
    pub(crate) readable_glyphs: usize,
    /// Glyphs in fonts that give no way to know their text.
    pub(crate) unreadable_glyphs: usize,
    /// Images drawn (XObjects and inline).
    pub(crate) images: usize,
}

/// Where the previous glyph ended, to decide on spaces and line breaks.
#[derive(Debug, Clone, Copy)]
struct LastGlyph {
    end: (f64, f64),
    direction: (f64, f64),
    size: f64,
}

/// Shared across the pages of one document.
#[derive(Debug, Default)]
pub(crate) struct FontCache {
    fonts: HashMap<ObjectId, Rc<Font>>,
}

/// Interprets the content of one page.
pub(crate) struct Interpreter<'d, 'b> {
    doc: &'d Document,
    budget: &'b mut Budget,
    fonts: &'b mut FontCache,
    state: GraphicsState,
    saved: Vec<GraphicsState>,
    text_matrix: Matrix,
    line_matrix: Matrix,
    last: Option<LastGlyph>,
    page: PageContent,
    forms: Vec<ObjectId>,
    operators: u32,
    glyphs: Vec<Glyph>,
}

impl<'d, 'b> Interpreter<'d, 'b> {
    pub(crate) fn new(doc: &'d Document, budget: &'b mut Budget, fonts: &'b mut FontCache) -> Self {
        Interpreter {
            doc,
            budget,
            fonts,
            state: GraphicsState {
                ctm: Matrix::IDENTITY,
                text: TextState {
                    font: None,
                    size: 0.0,
                    char_spacing: 0.0,
                    word_spacing: 0.0,
                    horizontal_scale: 1.0,
                    leading: 0.0,
                    rise: 0.0,
                },
            },
            saved: Vec::new(),
            text_matrix: Matrix::IDENTITY,
            line_matrix: Matrix::IDENTITY,
            last: None,
            page: PageContent::default(),
            forms: Vec::new(),
            operators: 0,
            glyphs: Vec::new(),
        }
    }

    /// Runs a page's content and returns what it showed.
    pub(crate) fn run_page(
        mut self,
        content: &[u8],
        resources: Option<&Dictionary>,
    ) -> Result<PageContent, PdfError> {
        self.run(content, resources)?;
        let trimmed = self.page.text.trim_end().len();
        self.page.text.truncate(trimmed);
        if self.page.text.contains("-\n") {
            self.page.text = join_hyphenated(&self.page.text);
        }
        // Text is memory too: it counts against the document's total.
        self.budget.charge(self.page.text.len() as u64)?;
        Ok(self.page)
    }

    fn run(&mut self, content: &[u8], resources: Option<&Dictionary>) -> Result<(), PdfError> {
        let mut lexer = Lexer {
            data: content,
            pos: 0,
        };
        let mut operands: Vec<Operand> = Vec::new();
        // Open arrays, innermost last.
        let mut arrays: Vec<Vec<Operand>> = Vec::new();
        let mut dict_depth = 0usize;
        while let Some(token) = lexer.next_token() {
            match token {
                Token::Operand(operand) => match arrays.last_mut() {
                    Some(array) => array.push(operand),
                    None if dict_depth > 0 => {}
                    None => operands.push(operand),
                },
                Token::ArrayStart => {
                    if arrays.len() < 32 {
                        arrays.push(Vec::new());
                    }
                }
                Token::ArrayEnd => {
                    if let Some(done) = arrays.pop() {
                        match arrays.last_mut() {
                            Some(outer) => outer.push(Operand::Array(done)),
                            None if dict_depth > 0 => {}
                            None => operands.push(Operand::Array(done)),
                        }
                    }
                }
                Token::DictStart => dict_depth += 1,
                Token::DictEnd => {
                    dict_depth = dict_depth.saturating_sub(1);
                    if dict_depth == 0 && arrays.is_empty() {
                        operands.push(Operand::Other);
                    }
                }
                Token::Operator(op) => {
                    arrays.clear();
                    dict_depth = 0;
                    self.operators = self.operators.wrapping_add(1);
                    if self.operators.is_multiple_of(OPERATORS_PER_CHECK) {
                        self.budget.check_time()?;
                    }
                    if op == b"BI" {
                        // Inline image: skip its dictionary and data.
                        while let Some(t) = lexer.next_token() {
                            if t == Token::Operator(b"ID") {
                                lexer.skip_inline_image();
                                break;
                            }
                        }
                        self.page.images += 1;
                    } else {
                        self.operator(op, &operands, resources)?;
                        if self.page.text.len() as u64 > self.budget.stream_cap() {
                            return Err(self.budget.text_over_cap());
                        }
                    }
                    operands.clear();
                }
            }
            if operands.len() > 4096 {
                operands.clear();
            }
        }
        Ok(())
    }

    fn operator(
        &mut self,
        op: &[u8],
        operands: &[Operand],
        resources: Option<&Dictionary>,
    ) -> Result<(), PdfError> {
        let num = |i: usize| -> Option<f64> {
            let index = operands.len().checked_sub(i)?;
            operands.get(index)?.number()
        };
        match op {
            b"q" if self.saved.len() < MAX_STATE_DEPTH => self.saved.push(self.state.clone()),
            b"Q" => {
                if let Some(state) = self.saved.pop() {
                    self.state = state;
                }
            }
            b"cm" => {
                if let Some(m) = Matrix::from_operands(operands) {
                    self.state.ctm = m.then(&self.state.ctm);
                }
            }
            b"BT" => {
                self.text_matrix = Matrix::IDENTITY;
                self.line_matrix = Matrix::IDENTITY;
            }
            b"ET" => {}
            b"Tf" => {
                if let Some(size) = num(1) {
                    self.state.text.size = size;
                }
                if let Some(Operand::Name(name)) =
                    operands.len().checked_sub(2).and_then(|i| operands.get(i))
                {
                    self.state.text.font = self.font(name, resources)?;
                }
            }
            b"Tc" => self.state.text.char_spacing = num(1).unwrap_or(0.0),
            b"Tw" => self.state.text.word_spacing = num(1).unwrap_or(0.0),
            b"Tz" => self.state.text.horizontal_scale = num(1).unwrap_or(100.0) / 100.0,
            b"TL" => self.state.text.leading = num(1).unwrap_or(0.0),
            b"Ts" => self.state.text.rise = num(1).unwrap_or(0.0),
            b"Td" | b"TD" => {
                let (Some(tx), Some(ty)) = (num(2), num(1)) else {
                    return Ok(());
                };
                if op == b"TD" {
                    self.state.text.leading = -ty;
                }
                self.next_line(tx, ty);
            }
            b"Tm" => {
                if let Some(m) = Matrix::from_operands(operands) {
                    self.text_matrix = m;
                    self.line_matrix = m;
                }
            }
            b"T*" => self.next_line(0.0, -self.state.text.leading),
            b"Tj" => {
                if let Some(Operand::String(s)) = operands.last() {
                    self.show(s);
                }
            }
            b"'" => {
                self.next_line(0.0, -self.state.text.leading);
                if let Some(Operand::String(s)) = operands.last() {
                    self.show(s);
                }
            }
            b"\"" => {
                if operands.len() >= 3 {
                    self.state.text.word_spacing = num(3).unwrap_or(0.0);
                    self.state.text.char_spacing = num(2).unwrap_or(0.0);
                }
                self.next_line(0.0, -self.state.text.leading);
                if let Some(Operand::String(s)) = operands.last() {
                    self.show(s);
                }
            }
            b"TJ" => {
                if let Some(Operand::Array(items)) = operands.last() {
                    for item in items {
                        match item {
                            Operand::String(s) => self.show(s),
                            Operand::Number(n) => self.adjust(*n),
                            _ => {}
                        }
                    }
                }
            }
            b"Do" => {
                if let Some(Operand::Name(name)) = operands.last() {
                    self.draw_xobject(name, resources)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.line_matrix = Matrix::translate(tx, ty).then(&self.line_matrix);
        self.text_matrix = self.line_matrix;
    }

    /// A font by its resource name, loaded once per document.
    fn font(
        &mut self,
        name: &[u8],
        resources: Option<&Dictionary>,
    ) -> Result<Option<Rc<Font>>, PdfError> {
        let doc = self.doc;
        let Some(fonts) = resources.and_then(|r| sub_dictionary(doc, r, b"Font")) else {
            return Ok(None);
        };
        let Ok(entry) = fonts.get(name) else {
            return Ok(None);
        };
        let id = match entry {
            Object::Reference(id) => Some(*id),
            _ => None,
        };
        if let Some(font) = id.and_then(|id| self.fonts.fonts.get(&id)) {
            return Ok(Some(Rc::clone(font)));
        }
        let dict = match filters::resolve(doc, entry) {
            Object::Dictionary(d) => d,
            _ => return Ok(None),
        };
        let font = Rc::new(Font::load(doc, dict, self.budget)?);
        if let Some(id) = id {
            self.fonts.fonts.insert(id, Rc::clone(&font));
        }
        Ok(Some(font))
    }

    /// The matrix from text space (scaled by font size) to device space.
    fn text_to_device(&self) -> Matrix {
        let t = &self.state.text;
        let scale = Matrix([t.size * t.horizontal_scale, 0.0, 0.0, t.size, 0.0, t.rise]);
        scale.then(&self.text_matrix).then(&self.state.ctm)
    }

    fn show(&mut self, bytes: &[u8]) {
        let Some(font) = self.state.text.font.clone() else {
            // Text without a usable font: nothing can be read from it.
            self.page.unreadable_glyphs += bytes.len().min(1);
            return;
        };
        let mut glyphs = std::mem::take(&mut self.glyphs);
        font.glyphs(bytes, &mut glyphs);
        let readable_font = font.has_text_mapping();
        for glyph in &glyphs {
            let t = &self.state.text;
            let spacing = t.char_spacing
                + if glyph.is_word_space {
                    t.word_spacing
                } else {
                    0.0
                };
            let trm = self.text_to_device();
            let origin = trm.apply(0.0, 0.0);
            let (advance_x, advance_y, step) = if font.vertical {
                let ty = -(glyph.width * t.size) - spacing;
                (0.0, -glyph.width, Matrix::translate(0.0, ty))
            } else {
                let tx = (glyph.width * t.size + spacing) * t.horizontal_scale;
                (glyph.width, 0.0, Matrix::translate(tx, 0.0))
            };
            let end = trm.apply(advance_x, advance_y);
            let unit = if font.vertical {
                trm.apply_vector(0.0, -1.0)
            } else {
                trm.apply_vector(1.0, 0.0)
            };
            let size = (unit.0 * unit.0 + unit.1 * unit.1).sqrt();
            let text = if readable_font {
                glyph.text.as_deref()
            } else {
                None
            };
            self.place(origin, end, unit, size, text);
            self.text_matrix = step.then(&self.text_matrix);
        }
        self.glyphs = glyphs;
    }

    /// A `TJ` number: moves the next glyph back by `n` thousandths of the font size.
    fn adjust(&mut self, n: f64) {
        let t = &self.state.text;
        let amount = -n / 1000.0 * t.size;
        let step = if self.state.text.font.as_ref().is_some_and(|f| f.vertical) {
            Matrix::translate(0.0, amount)
        } else {
            Matrix::translate(amount * t.horizontal_scale, 0.0)
        };
        self.text_matrix = step.then(&self.text_matrix);
    }

    /// Appends a glyph's text, with a space or a line break before it where its position says so.
    fn place(
        &mut self,
        origin: (f64, f64),
        end: (f64, f64),
        unit: (f64, f64),
        size: f64,
        text: Option<&str>,
    ) {
        let page = &mut self.page;
        // First the separator the position calls for, for every glyph: a space glyph or an
        // unreadable one at the start of a line must not swallow the line break.
        if size > 0.0
            && let Some(last) = self.last
        {
            let direction = (unit.0 / size, unit.1 / size);
            let size_ref = size.max(last.size).max(1e-9);
            let same_direction = last.size > 0.0
                && direction.0 * last.direction.0 / last.size
                    + direction.1 * last.direction.1 / last.size
                    > 0.9;
            let (dx, dy) = (origin.0 - last.end.0, origin.1 - last.end.1);
            let along = dx * direction.0 + dy * direction.1;
            let across = -dx * direction.1 + dy * direction.0;
            if !same_direction || across.abs() > LINE_SHIFT * size_ref {
                if !page.text.is_empty() && !page.text.ends_with('\n') {
                    let trimmed = page.text.trim_end_matches(' ').len();
                    page.text.truncate(trimmed);
                    page.text.push('\n');
                }
            } else if (along > WORD_GAP * size_ref || along < -size_ref)
                && !page.text.is_empty()
                && !page.text.ends_with(char::is_whitespace)
            {
                page.text.push(' ');
            }
        }
        self.last = Some(LastGlyph {
            end,
            direction: unit,
            size,
        });
        match text {
            // An unreadable glyph still separates what is around it.
            None => {
                page.unreadable_glyphs += 1;
                if !page.text.is_empty() && !page.text.ends_with(char::is_whitespace) {
                    page.text.push(' ');
                }
            }
            Some(text) if text.trim().is_empty() => {
                if !page.text.is_empty() && !page.text.ends_with(char::is_whitespace) {
                    page.text.push(' ');
                }
            }
            Some(text) => {
                page.readable_glyphs += 1;
                for ch in text.chars() {
                    page.text.push(if ch.is_control() && ch != '\n' {
                        ' '
                    } else {
                        ch
                    });
                }
            }
        }
    }

    fn draw_xobject(
        &mut self,
        name: &[u8],
        resources: Option<&Dictionary>,
    ) -> Result<(), PdfError> {
        let doc = self.doc;
        let Some(xobjects) = resources.and_then(|r| sub_dictionary(doc, r, b"XObject")) else {
            return Ok(());
        };
        let Ok(Object::Reference(id)) = xobjects.get(name) else {
            return Ok(());
        };
        let Ok(Object::Stream(stream)) = doc.get_object(*id) else {
            return Ok(());
        };
        let subtype = stream
            .dict
            .get(b"Subtype")
            .ok()
            .and_then(|o| o.as_name().ok())
            .unwrap_or_default();
        match subtype {
            b"Image" => self.page.images += 1,
            b"Form" => {
                if self.forms.len() >= MAX_FORM_DEPTH || self.forms.contains(id) {
                    return Ok(());
                }
                let content = match filters::decode_stream(stream, doc, self.budget) {
                    Ok(content) => content,
                    Err(DecodeError::Fatal(error)) => return Err(error),
                    Err(DecodeError::Unsupported) => return Ok(()),
                };
                let form_resources = match stream
                    .dict
                    .get(b"Resources")
                    .ok()
                    .map(|o| filters::resolve(doc, o))
                {
                    Some(Object::Dictionary(d)) => Some(d),
                    _ => resources,
                };
                let saved = self.state.clone();
                let (saved_tm, saved_lm) = (self.text_matrix, self.line_matrix);
                let saved_depth = self.saved.len();
                if let Some(matrix) =
                    stream
                        .dict
                        .get(b"Matrix")
                        .ok()
                        .and_then(|o| match filters::resolve(doc, o) {
                            Object::Array(items) => {
                                let operands: Vec<Operand> = items
                                    .iter()
                                    .map(|i| {
                                        i.as_float().map_or(Operand::Other, |f| {
                                            Operand::Number(f64::from(f))
                                        })
                                    })
                                    .collect();
                                Matrix::from_operands(&operands)
                            }
                            _ => None,
                        })
                {
                    self.state.ctm = matrix.then(&self.state.ctm);
                }
                self.forms.push(*id);
                let result = self.run(&content, form_resources);
                self.forms.pop();
                self.saved.truncate(saved_depth);
                self.state = saved;
                self.text_matrix = saved_tm;
                self.line_matrix = saved_lm;
                result?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Joins words hyphenated at a line end (`manip-` / `ulation` → `manipulation`), as pdftotext
/// does: a hyphen after a letter, at the end of a line, before a lower-case letter.
fn join_hyphenated(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("-\n") {
        let (before, after) = (&rest[..at], &rest[at + 2..]);
        out.push_str(before);
        let letter_before = before.chars().next_back().is_some_and(char::is_alphabetic);
        let lower_after = after.chars().next().is_some_and(char::is_lowercase);
        if !(letter_before && lower_after) {
            out.push_str("-\n");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A dictionary-valued entry of a resources dictionary (`/Font`, `/XObject`).
fn sub_dictionary<'a>(
    doc: &'a Document,
    resources: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    match filters::resolve(doc, resources.get(key).ok()?) {
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use lopdf::{Stream, dictionary};

    use super::*;
    use crate::PdfLimits;

    fn tokens(data: &[u8]) -> Vec<Token<'_>> {
        let mut lexer = Lexer { data, pos: 0 };
        std::iter::from_fn(|| lexer.next_token()).collect()
    }

    #[test]
    fn lexer_reads_strings_numbers_names_and_operators() {
        let found = tokens(b"/F1 12 Tf (a\\(b\\)\\101\\\nc) Tj <48 65 6c 6C 6> Tj [(x) -250.5 (y)] TJ % comment\n.5 -3 Td");
        assert_eq!(
            found,
            vec![
                Token::Operand(Operand::Name(b"F1".to_vec())),
                Token::Operand(Operand::Number(12.0)),
                Token::Operator(b"Tf"),
                Token::Operand(Operand::String(b"a(b)Ac".to_vec())),
                Token::Operator(b"Tj"),
                Token::Operand(Operand::String(b"Hell`".to_vec())),
                Token::Operator(b"Tj"),
                Token::ArrayStart,
                Token::Operand(Operand::String(b"x".to_vec())),
                Token::Operand(Operand::Number(-250.5)),
                Token::Operand(Operand::String(b"y".to_vec())),
                Token::ArrayEnd,
                Token::Operator(b"TJ"),
                Token::Operand(Operand::Number(0.5)),
                Token::Operand(Operand::Number(-3.0)),
                Token::Operator(b"Td"),
            ]
        );
    }

    #[test]
    fn names_unescape_hex() {
        assert_eq!(unescape_name(b"A#20B"), b"A B");
        assert_eq!(unescape_name(b"A#2"), b"A#2");
        assert_eq!(unescape_name(b"#"), b"#");
    }

    #[test]
    fn inline_images_are_skipped() {
        let mut lexer = Lexer {
            data: b"ID \x01EI(\xFF\nEI Q",
            pos: 2,
        };
        lexer.skip_inline_image();
        assert_eq!(lexer.next_token(), Some(Token::Operator(b"Q")));
    }

    fn run(content: &[u8]) -> PageContent {
        let mut doc = Document::new();
        let font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
        });
        let form = doc.add_object(Stream::new(
            dictionary! { "Subtype" => "Form", "Matrix" => vec![1.into(), 0.into(), 0.into(), 1.into(), 0.into(), (-100).into()] },
            b"BT /F1 10 Tf 72 700 Td (in form) Tj ET /Fm1 Do".to_vec(),
        ));
        let image = doc.add_object(Stream::new(
            dictionary! { "Subtype" => "Image" },
            Vec::new(),
        ));
        let resources = dictionary! {
            "Font" => dictionary! { "F1" => font },
            "XObject" => dictionary! { "Fm1" => form, "Im1" => image },
        };
        let mut budget = Budget::new(&PdfLimits::default());
        let mut fonts = FontCache::default();
        Interpreter::new(&doc, &mut budget, &mut fonts)
            .run_page(content, Some(&resources))
            .unwrap()
    }

    #[test]
    fn tj_kerning_keeps_words_and_splits_at_gaps() {
        let page = run(
            b"BT /F1 12 Tf 72 720 Td [(Conf) -10 (idential)] TJ [( ) 0 (Top) -300 (Secret)] TJ ET",
        );
        assert_eq!(page.text, "Confidential Top Secret");
        assert_eq!(page.readable_glyphs, "ConfidentialTopSecret".len());
    }

    #[test]
    fn baseline_changes_make_lines_and_td_jumps_make_spaces() {
        let page = run(
            b"BT /F1 12 Tf 14 TL 72 720 Td (one) Tj T* (two) Tj 100 0 Td (three) Tj (four) ' ET",
        );
        assert_eq!(page.text, "one\ntwo three\nfour");
    }

    #[test]
    fn a_space_or_unreadable_glyph_at_a_line_start_keeps_the_line_break() {
        let page =
            run(b"BT /F1 12 Tf 72 720 Td (one) Tj 0 -20 Td ( two) Tj 0 -20 Td (\\005three) Tj ET");
        assert_eq!(page.text, "one\ntwo\nthree");
        assert_eq!(page.unreadable_glyphs, 1);
    }

    #[test]
    fn hyphenated_line_ends_are_joined() {
        let page = run(b"BT /F1 12 Tf 14 TL 72 720 Td (manip-) Tj T* (ulation and e-) Tj T* (Mail; 3-) Tj T* (4 pages) Tj ET");
        assert_eq!(page.text, "manipulation and e-\nMail; 3-\n4 pages");
        assert_eq!(join_hyphenated("a-\nb-\nc"), "abc");
        assert_eq!(join_hyphenated("-\nx"), "-\nx");
    }

    #[test]
    fn glyph_by_glyph_positioning_joins_letters() {
        // Each letter placed with Td at exactly its Helvetica advance (12 pt).
        let page = run(b"BT /F1 12 Tf 72 720 Td (A) Tj 8.004 0 Td (B) Tj 8.004 0 Td (C) Tj ET");
        assert_eq!(page.text, "ABC");
    }

    #[test]
    fn forms_recurse_once_and_images_are_counted() {
        let page = run(b"q 1 0 0 1 0 0 cm /Fm1 Do Q /Im1 Do BI /W 1 /H 1 ID x EI");
        assert_eq!(page.text, "in form");
        assert_eq!(page.images, 2);
    }

    #[test]
    fn text_without_font_is_unreadable() {
        let page = run(b"BT (orphan) Tj ET");
        assert_eq!(page.text, "");
        assert_eq!(page.unreadable_glyphs, 1);
    }

    #[test]
    fn garbage_content_never_panics() {
        for content in [
            &b"BT ] ] >> >> ( Tj [ [ [ TJ Tf Tf 1 2 3 Tm cm Q Q Q"[..],
            b"<< /A [ 1 2 ( >> BT",
            b"BI ID",
            b"/F1 1e400 Tf (x) Tj",
            b"BT /F1 12 Tf 0 0 0 0 0 0 Tm (x) Tj ET",
        ] {
            let _ = run(content);
        }
    }
}
