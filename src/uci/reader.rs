//! The UCI reader: a byte-level re-implementation of libuci's `file.c` state machine.
//!
//! Real uci does not tokenise lines up front. It reads one line into a buffer, walks a
//! cursor over it, writes NUL terminators *into* the buffer while it goes (strtok after the
//! command word, the end of each argument, a `#`, a `;`), and appends the next physical
//! line to the buffer when a backslash ends a line or a quote is still open. Several odd
//! but real behaviours fall out of that design (see the module tests and DESIGN.md), e.g.
//! `config a; option x 1` drops the option while `config 'a'; option x 1` keeps it. To be
//! faithful we keep the same model: a buffer whose bytes past its end read as NUL, a
//! cursor, and the same order of writes. Each buffer byte also remembers its offset in the
//! source so that the editor can splice the original text.

use super::{Package, Section, UciError, UciOption, Value};

/// What one command of the file did, with where it sits in the source (for the editor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StmtKind {
    /// `package NAME`: checked and otherwise ignored, as `uci` does for a single file.
    Package,
    Config,
    /// `option NAME VALUE`. `value_span` is the raw value token in the source;
    /// `effective` is false for an empty value, which real uci ignores entirely.
    Option { name: String, value_span: (usize, usize), effective: bool },
    List { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stmt {
    pub kind: StmtKind,
    /// Index into [`Package::sections`] (0 for `package`, which has none).
    pub section: usize,
    /// Index into [`Parsed::lines`].
    pub logical: usize,
}

/// One buffer-full: a physical line plus any lines pulled in by a trailing backslash or
/// an open quote. Offsets are byte offsets into the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    pub start: usize,
    pub end: usize,
    /// 1-based number of its first physical line.
    pub first_line: usize,
    /// How many commands it holds (`;` allows several).
    pub commands: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub package: Package,
    pub stmts: Vec<Stmt>,
    pub lines: Vec<LogicalLine>,
}

/// libuci's reasons, verbatim, so an error can be matched with what `uci` prints.
pub(crate) mod reason {
    pub const INVALID_COMMAND: &str = "invalid command";
    pub const INSUFFICIENT_ARGUMENTS: &str = "insufficient arguments";
    pub const INVALID_NAME: &str = "invalid character in name field";
    pub const INVALID_TYPE: &str = "invalid character in type field";
    pub const TOO_MANY_ARGUMENTS: &str = "too many arguments";
    pub const UNTERMINATED_DOUBLE: &str = "EOF with unterminated \"";
    pub const UNTERMINATED_SINGLE: &str = "EOF with unterminated '";
    pub const PACKAGE_WITHOUT_NAME: &str = "package without name";
    pub const CONFIG_WITHOUT_NAME: &str = "config without name";
    pub const OPTION_WITHOUT_NAME: &str = "option without name";
    pub const OPTION_BEFORE_SECTION: &str = "option/list command found before the first section";
    pub const TYPE_CONFLICT: &str = "section of different type overwrites prior section with same name";
}

/// C `isspace` in the "C" locale (uci never calls setlocale).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// uci_validate_str: names are `[A-Za-z0-9_]+` (package names also allow `-`);
/// types are any printable, non-space ASCII.
pub(crate) fn valid_str(s: &[u8], name: bool, package: bool) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_alphanumeric() || c == b'_' || (c == b'-' && package) || (!name && (33..=126).contains(&c))
        })
}

pub(crate) fn valid_name(s: &str) -> bool {
    valid_str(s.as_bytes(), true, false)
}
pub(crate) fn valid_type(s: &str) -> bool {
    valid_str(s.as_bytes(), false, false)
}
pub(crate) fn valid_package(s: &str) -> bool {
    valid_str(s.as_bytes(), true, true)
}

/// The name libuci gives an anonymous section: `cfg` + creation counter (2 hex digits,
/// more past 255) + 16 bits of a djb hash of the type. The options are not hashed because
/// libuci names the section when it is created, before any option exists.
pub(crate) fn anonymous_id(ordinal: usize, stype: &str) -> String {
    let mut hash: u32 = 5381;
    for &b in stype.as_bytes() {
        // Types are ASCII 33..=126, so C's signed/unsigned `char` does not matter here.
        hash = hash.wrapping_shl(5).wrapping_add(hash).wrapping_add(u32::from(b));
    }
    hash &= 0x7FFF_FFFF;
    format!("cfg{:02x}{:04x}", ordinal, hash % (1 << 16))
}

type Fail = &'static str;

enum Command {
    Package,
    Config,
    Option,
    List,
}

struct Reader<'a> {
    src: &'a [u8],
    /// Next unread source byte.
    next: usize,
    buf: Vec<u8>,
    /// Source offset of each byte of `buf` as read (writes into `buf` do not change it).
    origin: Vec<usize>,
    /// libuci's `buf_filled`: only grows when a read returns data.
    filled: usize,
    pos: usize,
    /// Physical lines read so far (1-based number of the last one).
    phys_line: usize,

    sections: Vec<Section>,
    /// Lookup key of each section: its name, or its generated `cfgXXXXXX` id.
    keys: Vec<String>,
    current: Option<usize>,
    stmts: Vec<Stmt>,
    lines: Vec<LogicalLine>,
}

impl<'a> Reader<'a> {
    fn get(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }
    fn cur(&self) -> u8 {
        self.get(self.pos)
    }
    fn set(&mut self, i: usize, c: u8) {
        if let Some(b) = self.buf.get_mut(i) {
            *b = c;
        }
    }
    /// The NUL-terminated string starting at `i`.
    fn cstr(&self, i: usize) -> &[u8] {
        let tail = self.buf.get(i..).unwrap_or(&[]);
        let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        &tail[..end]
    }
    fn cstring(&self, i: usize) -> String {
        // Source is a &str and we only ever cut at ASCII bytes or drop ASCII bytes, but a
        // backslash before a multi-byte character would split it: stay lossless-safe.
        String::from_utf8_lossy(self.cstr(i)).into_owned()
    }

    /// uci_getln: read the next physical line into the buffer at `offset`.
    fn getln(&mut self, offset: usize) {
        self.set(offset, 0);
        if self.next >= self.src.len() {
            return;
        }
        let rest = &self.src[self.next..];
        let len = rest.iter().position(|&c| c == b'\n').map(|i| i + 1).unwrap_or(rest.len());
        self.buf.truncate(offset);
        self.origin.truncate(offset);
        // `offset` never exceeds the buffer in practice; pad defensively so indexes line up.
        while self.buf.len() < offset {
            self.buf.push(0);
            self.origin.push(self.next);
        }
        self.buf.extend_from_slice(&rest[..len]);
        self.origin.extend(self.next..self.next + len);
        self.next += len;
        self.filled = self.buf.len();
        self.phys_line += 1;
    }

    fn skip_whitespace(&mut self) {
        while self.cur() != 0 && is_space(self.cur()) {
            self.pos += 1;
        }
    }

    fn addc(&mut self, target: &mut usize) {
        let c = self.cur();
        self.set(*target, c);
        *target += 1;
        self.pos += 1;
    }

    /// True when the escaped character is to be taken; false for a line continuation.
    fn parse_backslash(&mut self) -> bool {
        self.pos += 1;
        let c = self.cur();
        if c == 0 || c == b'\n' || (c == b'\r' && self.get(self.pos + 1) == b'\n' && self.get(self.pos + 2) == 0) {
            self.getln(self.pos);
            return false;
        }
        true
    }

    fn parse_double_quote(&mut self, target: &mut usize) -> Result<(), Fail> {
        self.pos += 1;
        loop {
            match self.cur() {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    // A quoted value may span lines; the newline is part of it.
                    self.getln(self.pos);
                    if self.cur() == 0 {
                        return Err(reason::UNTERMINATED_DOUBLE);
                    }
                }
                b'\\' => {
                    if self.parse_backslash() {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    fn parse_single_quote(&mut self, target: &mut usize) -> Result<(), Fail> {
        self.pos += 1;
        loop {
            match self.cur() {
                b'\'' => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    self.getln(self.pos);
                    if self.cur() == 0 {
                        return Err(reason::UNTERMINATED_SINGLE);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    /// parse_str: one argument, unquoting in place. Returns the buffer position where
    /// the raw token ended.
    fn parse_str(&mut self, target: &mut usize) -> Result<usize, Fail> {
        let mut next = true;
        loop {
            match self.cur() {
                b'\'' => self.parse_single_quote(target)?,
                b'"' => self.parse_double_quote(target)?,
                b'#' => {
                    // An unquoted `#` anywhere in a word ends the line.
                    self.set(self.pos, 0);
                    break;
                }
                0 => break,
                b';' => {
                    next = false;
                    break;
                }
                b'\\' => {
                    if self.parse_backslash() {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
            let c = self.cur();
            if c == 0 || is_space(c) {
                break;
            }
        }
        let raw_end = self.pos;
        if self.cur() != 0 && next {
            self.pos += 1;
        }
        self.set(*target, 0);
        Ok(raw_end)
    }

    /// next_arg: returns (buffer position of the unquoted value, source span of the raw token).
    fn next_arg(&mut self, required: bool, name: bool, package: bool) -> Result<(usize, (usize, usize)), Fail> {
        self.skip_whitespace();
        let val = self.pos;
        let mut ptr = self.pos;
        let raw_end = if self.cur() == b';' {
            self.set(self.pos, 0);
            self.pos += 1;
            val
        } else {
            self.parse_str(&mut ptr)?
        };
        let span = if raw_end > val {
            let a = self.origin.get(val).copied().unwrap_or(self.src.len());
            let b = self.origin.get(raw_end - 1).map(|o| o + 1).unwrap_or(self.src.len());
            (a, b.max(a))
        } else {
            let a = self.origin.get(val).copied().unwrap_or(self.src.len());
            (a, a)
        };
        if self.get(val) == 0 {
            if required {
                return Err(reason::INSUFFICIENT_ARGUMENTS);
            }
            return Ok((val, span));
        }
        if name && !valid_str(self.cstr(val), name, package) {
            return Err(reason::INVALID_NAME);
        }
        Ok((val, span))
    }

    fn assert_eol(&mut self) -> Result<(), Fail> {
        self.skip_whitespace();
        let (v, _) = self.next_arg(false, false, false)?;
        if self.get(v) != 0 {
            // Real uci only complains in strict mode, which is its default (and netifd's).
            return Err(reason::TOO_MANY_ARGUMENTS);
        }
        Ok(())
    }

    /// uci_increase_pos(strlen(cur) + 1): step over the command word strtok terminated.
    fn skip_command_word(&mut self, why: Fail) -> Result<(), Fail> {
        let add = self.cstr(self.pos).len() + 1;
        if self.pos + add > self.filled {
            return Err(why);
        }
        self.pos += add;
        Ok(())
    }

    fn record(&mut self, kind: StmtKind, section: usize) {
        let logical = self.lines.len() - 1;
        if let Some(l) = self.lines.last_mut() {
            l.commands += 1;
        }
        self.stmts.push(Stmt { kind, section, logical });
    }

    fn stmt_line(&self) -> usize {
        self.lines.last().map(|l| l.first_line).unwrap_or(0)
    }

    fn parse_package(&mut self) -> Result<(), Fail> {
        self.skip_command_word(reason::PACKAGE_WITHOUT_NAME)?;
        self.next_arg(true, true, true)?;
        self.assert_eol()?;
        self.record(StmtKind::Package, 0);
        Ok(())
    }

    fn parse_config(&mut self) -> Result<(), Fail> {
        self.skip_command_word(reason::CONFIG_WITHOUT_NAME)?;
        let (t, _) = self.next_arg(true, false, false)?;
        if !valid_str(self.cstr(t), false, false) {
            return Err(reason::INVALID_TYPE);
        }
        let (n, _) = self.next_arg(false, true, false)?;
        self.assert_eol()?;
        let stype = self.cstring(t);
        let name = self.cstring(n);
        let line = self.stmt_line();
        let idx = if name.is_empty() {
            self.sections.push(Section { stype: stype.clone(), name: None, line, options: Vec::new() });
            self.keys.push(anonymous_id(self.sections.len(), &stype));
            self.sections.len() - 1
        } else if let Some(i) = self.keys.iter().position(|k| *k == name) {
            // A repeated name reopens the earlier section: options merge into it and it
            // keeps its place. Only a different type is an error (strict mode).
            if self.sections[i].stype != stype {
                return Err(reason::TYPE_CONFLICT);
            }
            i
        } else {
            self.sections.push(Section { stype, name: Some(name.clone()), line, options: Vec::new() });
            self.keys.push(name);
            self.sections.len() - 1
        };
        self.current = Some(idx);
        self.record(StmtKind::Config, idx);
        Ok(())
    }

    fn parse_option(&mut self, list: bool) -> Result<(), Fail> {
        let sidx = self.current.ok_or(reason::OPTION_BEFORE_SECTION)?;
        self.skip_command_word(reason::OPTION_WITHOUT_NAME)?;
        let (n, _) = self.next_arg(true, true, false)?;
        let (v, span) = self.next_arg(false, false, false)?;
        self.assert_eol()?;
        let name = self.cstring(n);
        let value = self.cstring(v);
        let line = self.stmt_line();
        let options = &mut self.sections[sidx].options;
        let existing = options.iter().position(|o| o.name == name);
        if list {
            match existing {
                None => options.push(UciOption { name: name.clone(), value: Value::List(vec![value]), line }),
                Some(i) => {
                    let o = &mut options[i];
                    // A list after an option of the same name turns it into a list, old value first.
                    match &mut o.value {
                        Value::List(items) => items.push(value),
                        Value::Single(old) => o.value = Value::List(vec![std::mem::take(old), value]),
                    }
                    o.line = line;
                }
            }
            self.record(StmtKind::List { name }, sidx);
        } else {
            // `option x ''` is a no-op in libuci: it neither creates nor clears `x`.
            let effective = !value.is_empty();
            if effective {
                match existing {
                    None => options.push(UciOption { name: name.clone(), value: Value::Single(value), line }),
                    Some(i) => {
                        // The last `option` wins (also over a list) and keeps the first one's place.
                        options[i].value = Value::Single(value);
                        options[i].line = line;
                    }
                }
            }
            self.record(StmtKind::Option { name, value_span: span, effective }, sidx);
        }
        Ok(())
    }

    fn parse_line(&mut self) -> Result<(), Fail> {
        self.skip_whitespace();
        loop {
            // strtok(cur, " \t"): only space and tab separate the command word.
            let mut i = self.pos;
            while matches!(self.get(i), b' ' | b'\t') {
                i += 1;
            }
            if self.get(i) == 0 {
                return Ok(());
            }
            let start = i;
            while !matches!(self.get(i), 0 | b' ' | b'\t') {
                i += 1;
            }
            let end = i;
            if self.get(i) != 0 {
                self.set(i, 0);
            }
            let command = {
                let word = &self.buf[start..end];
                // Abbreviations p/c/o/l are accepted by real uci.
                let is = |full: &[u8]| word.len() == 1 || word == full;
                match word[0] {
                    b'#' => return Ok(()),
                    b'p' if is(b"package") => Command::Package,
                    b'c' if is(b"config") => Command::Config,
                    b'o' if is(b"option") => Command::Option,
                    b'l' if is(b"list") => Command::List,
                    _ => return Err(reason::INVALID_COMMAND),
                }
            };
            match command {
                Command::Package => self.parse_package()?,
                Command::Config => self.parse_config()?,
                Command::Option => self.parse_option(false)?,
                Command::List => self.parse_option(true)?,
            }
        }
    }
}

/// Parse with source positions (used by [`super::parse`] and the editor).
pub(crate) fn parse_located(text: &str, file: &str) -> Result<Parsed, UciError> {
    let src = text.as_bytes();
    if let Some(at) = src.iter().position(|&c| c == 0) {
        // libuci's line reader truncates at a NUL in a buffer-size-dependent way; refuse
        // rather than guess.
        let line = src[..at].iter().filter(|&&c| c == b'\n').count() + 1;
        return Err(UciError { file: file.to_string(), line, message: "NUL byte in file".into() });
    }
    let mut r = Reader {
        src,
        next: 0,
        buf: Vec::with_capacity(128),
        origin: Vec::with_capacity(128),
        filled: 0,
        pos: 0,
        phys_line: 0,
        sections: Vec::new(),
        keys: Vec::new(),
        current: None,
        stmts: Vec::new(),
        lines: Vec::new(),
    };
    while r.next < src.len() {
        r.pos = 0;
        let start = r.next;
        r.getln(0);
        r.lines.push(LogicalLine { start, end: start, first_line: r.phys_line, commands: 0 });
        let res = if r.get(0) != 0 { r.parse_line() } else { Ok(()) };
        let end = r.next;
        if let Some(l) = r.lines.last_mut() {
            l.end = end;
        }
        if let Err(why) = res {
            let first = r.lines.last().map(|l| l.first_line).unwrap_or(0);
            let message = if r.phys_line > first {
                format!("{} (statement spans lines {}-{})", why, first, r.phys_line)
            } else {
                why.to_string()
            };
            return Err(UciError { file: file.to_string(), line: first, message });
        }
    }
    let name = std::path::Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Parsed {
        package: Package { name, file: file.to_string(), sections: r.sections },
        stmts: r.stmts,
        lines: r.lines,
    })
}
