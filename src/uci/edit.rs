//! Editing a UCI file in place: change the few bytes an edit needs, keep every other
//! byte (comments, blank lines, odd quoting, order) as it was.
//!
//! Each edit is checked before it is accepted: the new text is parsed again and must
//! give exactly the sections the edit intends (the old ones with one change). An edit
//! that cannot be made that way fails and leaves the text untouched, so a strange file
//! is never "fixed" behind the user's back.

use super::reader::{self, Parsed, StmtKind};
use super::{Package, Section, UciError, UciOption, Value};

/// Quote a value the way `uci export`/`uci commit` do: `'...'`, with each embedded
/// single quote written as `'\''`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A section type as uci writes it: bare when that is unambiguous.
fn render_type(stype: &str) -> String {
    if stype.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
        stype.to_string()
    } else {
        quote(stype)
    }
}

/// `pkg` as `uci export` writes a file: every section and value quoted, no comments.
pub fn export(pkg: &Package) -> String {
    let mut out = String::new();
    for s in &pkg.sections {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("config ");
        out.push_str(&render_type(&s.stype));
        if let Some(n) = &s.name {
            out.push(' ');
            out.push_str(&quote(n));
        }
        out.push('\n');
        for o in &s.options {
            out.push_str(&render_option(&o.name, &o.value, "\t", "\n"));
        }
    }
    out
}

/// Edits one UCI file's text. See the module docs for the guarantees.
#[derive(Debug, Clone)]
pub struct Editor {
    text: String,
    file: String,
    parsed: Parsed,
}

/// A replacement of `text[start..end]`.
struct Splice {
    start: usize,
    end: usize,
    with: String,
}

impl Editor {
    /// Start editing `text` (labelled `file` in errors). Fails if real uci would reject it.
    pub fn new(text: &str, file: &str) -> Result<Self, UciError> {
        let parsed = reader::parse_located(text, file)?;
        Ok(Editor { text: text.to_string(), file: file.to_string(), parsed })
    }

    /// The sections as the current text reads.
    pub fn package(&self) -> &Package {
        &self.parsed.package
    }

    /// The current text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The edited text.
    pub fn finish(self) -> String {
        self.text
    }

    fn err(&self, line: usize, message: String) -> UciError {
        UciError { file: self.file.clone(), line, message }
    }

    fn section_index(&self, section_ref: &str) -> Result<usize, UciError> {
        self.parsed.package.resolve(section_ref).ok_or_else(|| self.err(0, format!("no section '{section_ref}'")))
    }

    /// Add a named section at the end of the file unless one of that name exists.
    /// Returns true if it was created. A section of that name but another type is an
    /// error (uci itself would refuse to read such a file).
    pub fn ensure_section(&mut self, stype: &str, name: &str) -> Result<bool, UciError> {
        if !reader::valid_type(stype) {
            return Err(self.err(0, format!("invalid section type '{stype}'")));
        }
        if !reader::valid_name(name) {
            return Err(self.err(0, format!("invalid section name '{name}'")));
        }
        let pkg = &self.parsed.package;
        if let Some(i) = (0..pkg.sections.len()).find(|&i| pkg.uci_id(i) == name) {
            let s = &pkg.sections[i];
            if s.stype == stype {
                return Ok(false);
            }
            return Err(self.err(s.line, format!("section '{name}' exists with type '{}', not '{stype}'", s.stype)));
        }
        let mut expected = pkg.clone();
        expected.sections.push(Section { stype: stype.to_string(), name: Some(name.to_string()), line: 0, options: Vec::new() });

        let eol = self.eol();
        let mut with = String::new();
        if !self.text.is_empty() {
            if !self.text.ends_with('\n') {
                with.push_str(eol);
            }
            if !self.text.ends_with("\n\n") && !self.text.ends_with("\n\r\n") {
                with.push_str(eol);
            }
        }
        with.push_str(&format!("config {} {}{eol}", render_type(stype), quote(name)));
        let at = self.text.len();
        self.apply(vec![Splice { start: at, end: at, with }], &expected, &format!("add section {name}"))?;
        Ok(true)
    }

    /// Remove the named section: its `config` line and every statement in it (a blank
    /// line before it goes too, so removing what [`Editor::ensure_section`] added gives
    /// the text back). Returns true if it existed. Refused when one of its lines also
    /// holds a statement of another section (`;`).
    pub fn delete_section(&mut self, name: &str) -> Result<bool, UciError> {
        let pkg = &self.parsed.package;
        let Some(sidx) = (0..pkg.sections.len()).find(|&i| pkg.uci_id(i) == name && pkg.sections[i].name.is_some()) else { return Ok(false) };
        let mut expected = pkg.clone();
        expected.sections.remove(sidx);
        let mut splices: Vec<Splice> = Vec::new();
        for st in self.parsed.stmts.iter().filter(|s| s.section == sidx && !matches!(s.kind, StmtKind::Package)) {
            let ln = &self.parsed.lines[st.logical];
            if ln.commands != 1 {
                return Err(self.err(ln.first_line, format!("cannot remove section '{name}': line {} holds several statements", ln.first_line)));
            }
            if !splices.iter().any(|s| s.start == ln.start) {
                splices.push(Splice { start: ln.start, end: ln.end, with: String::new() });
            }
        }
        // Lines end with their newline (or the text ends): drop one blank line before.
        if let Some(first) = splices.iter().map(|s| s.start).min() {
            let before = &self.text[..first];
            let blank = if before.ends_with("\n\n") { Some(1) } else if before.ends_with("\n\r\n") { Some(2) } else { None };
            if let (Some(n), Some(s)) = (blank, splices.iter_mut().find(|s| s.start == first)) {
                s.start -= n;
            }
        }
        self.apply(splices, &expected, &format!("delete section {name}"))?;
        Ok(true)
    }

    /// `option NAME 'VALUE'` in the section. An empty value deletes the option, as
    /// `uci set pkg.sec.opt=''` does. Returns true if the text changed.
    pub fn set_option(&mut self, section_ref: &str, name: &str, value: &str) -> Result<bool, UciError> {
        if value.is_empty() {
            return self.delete_option(section_ref, name);
        }
        self.set_value(section_ref, name, Some(Value::Single(value.to_string())))
    }

    /// `list NAME 'V'` lines for each value, replacing whatever the option was. An empty
    /// slice deletes the option. Returns true if the text changed.
    pub fn set_list<S: AsRef<str>>(&mut self, section_ref: &str, name: &str, values: &[S]) -> Result<bool, UciError> {
        if values.is_empty() {
            return self.delete_option(section_ref, name);
        }
        let values = values.iter().map(|v| v.as_ref().to_string()).collect();
        self.set_value(section_ref, name, Some(Value::List(values)))
    }

    /// Remove the option (every statement that contributes to it). Returns true if it existed.
    pub fn delete_option(&mut self, section_ref: &str, name: &str) -> Result<bool, UciError> {
        self.set_value(section_ref, name, None)
    }

    /// The statements that gave a list option its values, one per value and in order,
    /// or `None` when the value is not built that way (a later `option` overrode it).
    fn list_statements(&self, sidx: usize, name: &str) -> Option<Vec<usize>> {
        let Some(Value::List(values)) = self.parsed.package.sections[sidx].option(name).map(|o| &o.value) else { return None };
        let stmts: Vec<usize> = self.contributors(sidx, name);
        (stmts.len() == values.len()).then_some(stmts)
    }

    /// Statements that shaped option `name` of section `sidx` (an empty `option x ''` never does).
    fn contributors(&self, sidx: usize, name: &str) -> Vec<usize> {
        (0..self.parsed.stmts.len())
            .filter(|&i| {
                let s = &self.parsed.stmts[i];
                s.section == sidx
                    && match &s.kind {
                        StmtKind::Option { name: n, effective, .. } => *effective && n == name,
                        StmtKind::List { name: n } => n == name,
                        _ => false,
                    }
            })
            .collect()
    }

    /// The 1-based line of each value of list `name`, in order; the option's own line for
    /// every value when the statements cannot be told apart. Empty if there is no such option.
    pub fn list_value_lines(&self, section_ref: &str, name: &str) -> Result<Vec<usize>, UciError> {
        let sidx = self.section_index(section_ref)?;
        let section = &self.parsed.package.sections[sidx];
        let count = section.list(name).len();
        Ok(match self.list_statements(sidx, name) {
            Some(stmts) => stmts.iter().map(|&i| self.parsed.lines[self.parsed.stmts[i].logical].first_line).collect(),
            None => vec![section.line_of(name); count],
        })
    }

    /// Append `list NAME 'VALUE'` after the option's last `list` line (or at the end of
    /// the section), leaving the other values' lines as they are. Returns true (it
    /// always adds; a value already there is added again, as `uci add_list` does).
    pub fn add_list_value(&mut self, section_ref: &str, name: &str, value: &str) -> Result<bool, UciError> {
        if !reader::valid_name(name) || value.contains('\0') {
            return Err(self.err(0, format!("invalid list value for '{name}'")));
        }
        let sidx = self.section_index(section_ref)?;
        let mut values: Vec<String> = self.parsed.package.sections[sidx].list(name).iter().map(|v| v.to_string()).collect();
        // A single `option` of this name: its line must become a list, not just grow one.
        if !values.is_empty() && self.list_statements(sidx, name).is_none() {
            values.push(value.to_string());
            return self.set_list(section_ref, name, &values);
        }
        let mut expected = self.parsed.package.clone();
        {
            let opts = &mut expected.sections[sidx].options;
            match opts.iter_mut().find(|o| o.name == name) {
                Some(o) => {
                    values.push(value.to_string());
                    o.value = Value::List(values);
                }
                None => opts.push(UciOption { name: name.to_string(), value: Value::List(vec![value.to_string()]), line: 0 }),
            }
        }
        let line = |indent: &str| render_option(name, &Value::List(vec![value.to_string()]), indent, self.eol());
        let splice = match self.contributors(sidx, name).last() {
            Some(&last) => {
                let ln = &self.parsed.lines[self.parsed.stmts[last].logical];
                let mut with = String::new();
                if !self.text[..ln.end].ends_with('\n') {
                    with.push_str(self.eol());
                }
                with.push_str(&line(&self.indent_of(ln.start)));
                Splice { start: ln.end, end: ln.end, with }
            }
            None => self.append_to_section(sidx, &line(&self.section_indent(sidx))),
        };
        self.apply(vec![splice], &expected, &format!("add {section_ref} {name}"))?;
        Ok(true)
    }

    /// Remove the first `list NAME 'VALUE'` line of the section and nothing else (other
    /// values, comments and the rest of the file stay byte for byte). Returns true if a
    /// value was removed. A value that shares its line with another statement, or a list
    /// overridden by a later `option`, is an error: that line is not ours to rewrite.
    pub fn remove_list_value(&mut self, section_ref: &str, name: &str, value: &str) -> Result<bool, UciError> {
        let sidx = self.section_index(section_ref)?;
        let values: Vec<String> = self.parsed.package.sections[sidx].list(name).iter().map(|v| v.to_string()).collect();
        let Some(at) = values.iter().position(|v| v == value) else { return Ok(false) };
        let what = format!("remove {section_ref} {name} '{value}'");
        let stmts = self.list_statements(sidx, name).ok_or_else(|| self.err(self.parsed.package.sections[sidx].line_of(name), format!("cannot {what}: the list is not made of one statement per value")))?;
        let ln = &self.parsed.lines[self.parsed.stmts[stmts[at]].logical];
        if ln.commands != 1 {
            return Err(self.err(ln.first_line, format!("cannot {what}: line {} holds several statements", ln.first_line)));
        }
        let mut expected = self.parsed.package.clone();
        {
            let opts = &mut expected.sections[sidx].options;
            if let Some(i) = opts.iter().position(|o| o.name == name) {
                let mut rest = values.clone();
                rest.remove(at);
                if rest.is_empty() {
                    opts.remove(i);
                } else {
                    opts[i].value = Value::List(rest);
                }
            }
        }
        let splice = Splice { start: ln.start, end: ln.end, with: String::new() };
        self.apply(vec![splice], &expected, &what)?;
        Ok(true)
    }

    fn set_value(&mut self, section_ref: &str, name: &str, new: Option<Value>) -> Result<bool, UciError> {
        if !reader::valid_name(name) {
            return Err(self.err(0, format!("invalid option name '{name}'")));
        }
        let values_ok = match &new {
            Some(Value::Single(v)) => !v.contains('\0'),
            Some(Value::List(vs)) => vs.iter().all(|v| !v.contains('\0')),
            None => true,
        };
        if !values_ok {
            return Err(self.err(0, format!("value of '{name}' contains a NUL byte")));
        }
        let sidx = self.section_index(section_ref)?;
        let section = &self.parsed.package.sections[sidx];
        let current = section.option(name).map(|o| &o.value);
        if current == new.as_ref() {
            return Ok(false);
        }

        let mut expected = self.parsed.package.clone();
        {
            let opts = &mut expected.sections[sidx].options;
            let at = opts.iter().position(|o| o.name == name);
            match (&new, at) {
                (None, Some(i)) => {
                    opts.remove(i);
                }
                (None, None) => {}
                (Some(v), Some(i)) => opts[i].value = v.clone(),
                (Some(v), None) => opts.push(UciOption { name: name.to_string(), value: v.clone(), line: 0 }),
            }
        }

        let contributors = self.contributors(sidx, name);

        let what = format!("{} {}", section_ref, name);
        let mut splices = Vec::new();
        if let (Some(Value::Single(v)), [only]) = (&new, contributors.as_slice()) {
            if let StmtKind::Option { value_span: (a, b), .. } = &self.parsed.stmts[*only].kind {
                // The usual case: rewrite just the value token, keep indentation and any
                // trailing comment.
                splices.push(Splice { start: *a, end: *b, with: quote(v) });
            }
        }
        if splices.is_empty() && !contributors.is_empty() {
            let mut first = true;
            for &ci in &contributors {
                let ln = &self.parsed.lines[self.parsed.stmts[ci].logical];
                if ln.commands != 1 {
                    return Err(self.err(
                        ln.first_line,
                        format!("cannot edit {what}: line {} holds several statements", ln.first_line),
                    ));
                }
                let with = match (&new, first) {
                    (Some(v), true) => render_option(name, v, &self.indent_of(ln.start), self.eol()),
                    _ => String::new(),
                };
                first = false;
                // Two contributors on one logical line were rejected above, so spans are disjoint.
                splices.push(Splice { start: ln.start, end: ln.end, with });
            }
        }
        if splices.is_empty() {
            let Some(v) = &new else { return Ok(false) };
            splices.push(self.append_to_section(sidx, &render_option(name, v, &self.section_indent(sidx), self.eol())));
        }
        self.apply(splices, &expected, &format!("set {what}"))?;
        Ok(true)
    }

    /// Line ending for new lines: CRLF if the file's first line uses it (uci reads both).
    fn eol(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if self.text[..i].ends_with('\r') => "\r\n",
            _ => "\n",
        }
    }

    /// Leading blanks of the source line starting at `start`.
    fn indent_of(&self, start: usize) -> String {
        self.text[start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
    }

    /// Indentation used by the section's last option line, or a tab as uci writes.
    fn section_indent(&self, sidx: usize) -> String {
        self.parsed
            .stmts
            .iter()
            .rev()
            .find(|s| s.section == sidx && matches!(s.kind, StmtKind::Option { .. } | StmtKind::List { .. }))
            .map(|s| self.indent_of(self.parsed.lines[s.logical].start))
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| "\t".to_string())
    }

    /// Insert `lines` after the last statement of the section (before any blank line or
    /// comment that precedes the next section).
    fn append_to_section(&self, sidx: usize, lines: &str) -> Splice {
        let end = self
            .parsed
            .stmts
            .iter()
            .filter(|s| s.section == sidx && !matches!(s.kind, StmtKind::Package))
            .map(|s| self.parsed.lines[s.logical].end)
            .max()
            .unwrap_or(self.text.len());
        let mut with = String::new();
        if end > 0 && !self.text[..end].ends_with('\n') {
            with.push_str(self.eol());
        }
        with.push_str(lines);
        Splice { start: end, end, with }
    }

    fn apply(&mut self, mut splices: Vec<Splice>, expected: &Package, what: &str) -> Result<(), UciError> {
        crate::sort_small(&mut splices, |a, b| a.start > b.start);
        let mut text = self.text.clone();
        for s in &splices {
            text.replace_range(s.start..s.end, &s.with);
        }
        let parsed = reader::parse_located(&text, &self.file)
            .map_err(|e| self.err(e.line, format!("{what}: the edited text would not parse ({}); left unchanged", e.message)))?;
        if !same_content(&parsed.package, expected) {
            return Err(self.err(0, format!("{what}: the edit would change more than intended; left unchanged")));
        }
        self.text = text;
        self.parsed = parsed;
        Ok(())
    }
}

fn render_option(name: &str, value: &Value, indent: &str, eol: &str) -> String {
    match value {
        Value::Single(v) => format!("{indent}option {name} {}{eol}", quote(v)),
        Value::List(vs) => vs.iter().map(|v| format!("{indent}list {name} {}{eol}", quote(v))).collect(),
    }
}

/// Equal sections, types, names and option values, ignoring line numbers.
fn same_content(a: &Package, b: &Package) -> bool {
    a.sections.len() == b.sections.len()
        && a.sections.iter().zip(&b.sections).all(|(x, y)| {
            x.stype == y.stype
                && x.name == y.name
                && x.options.len() == y.options.len()
                && x.options.iter().zip(&y.options).all(|(o, p)| o.name == p.name && o.value == p.value)
        })
}
