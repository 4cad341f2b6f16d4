//! UCI: the `/etc/config/*` file format, read exactly as real uci reads it.
//!
//! - [`parse`] turns text into a [`Package`]: sections in file order, options with
//!   their line numbers, anonymous sections addressable as `@type[N]` or by the
//!   `cfgNNHHHH` name real uci generates ([`Package::uci_id`], [`Package::resolve`]).
//!   The reader (`reader.rs`) re-implements libuci's parser state machine byte for byte;
//!   tests/uci_differential.rs compares it with the real binary.
//! - [`Editor`] changes a file while keeping every unrelated byte; each edit is re-read
//!   and must yield exactly the intended sections, or it is refused.
//! - [`load_package`] picks the file as libuci does (`/var/run/uci` override first) and
//!   reports uncommitted `uci set` changes ([`pending_changes`]) instead of ignoring them.

use std::fmt;

mod edit;
mod load;
mod reader;

pub use edit::{export, quote, Editor};
pub use load::{load_package, pending_changes, PendingChanges};

/// An option value: `option` (single) or `list` (ordered values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Single(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOption {
    pub name: String,
    pub value: Value,
    /// 1-based line of the (last) statement that set it.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub stype: String,
    /// `None` for an anonymous section.
    pub name: Option<String>,
    /// 1-based line of the `config` statement.
    pub line: usize,
    pub options: Vec<UciOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    pub name: String,
    /// File path or label used in error messages.
    pub file: String,
    pub sections: Vec<Section>,
}

/// A parse error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for UciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
impl std::error::Error for UciError {}

impl Section {
    pub fn option(&self, name: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.name == name)
    }
    /// Value of a single option (the last element for a list, as `uci get` would not; callers wanting lists use [`Section::list`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        match &self.option(name)?.value {
            Value::Single(s) => Some(s.as_str()),
            Value::List(v) => v.last().map(|s| s.as_str()),
        }
    }
    /// Values of a list option; a single option yields one element.
    pub fn list(&self, name: &str) -> Vec<&str> {
        match self.option(name).map(|o| &o.value) {
            Some(Value::Single(s)) => vec![s.as_str()],
            Some(Value::List(v)) => v.iter().map(|s| s.as_str()).collect(),
            None => Vec::new(),
        }
    }
    /// Line of an option, falling back to the section's line.
    pub fn line_of(&self, name: &str) -> usize {
        self.option(name).map(|o| o.line).unwrap_or(self.line)
    }
}

impl Package {
    /// The section called `name` (named sections only).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name.as_deref() == Some(name))
    }
    /// Sections of one type, in file order.
    pub fn sections_of_type<'a>(&'a self, stype: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.stype == stype)
    }
    /// The name real uci gives the section at `index`: its own name, or for an anonymous
    /// section the generated `cfgNNHHHH` that `uci -X show` prints and LuCI uses.
    pub fn uci_id(&self, index: usize) -> String {
        let s = &self.sections[index];
        match &s.name {
            Some(n) => n.clone(),
            None => reader::anonymous_id(index + 1, &s.stype),
        }
    }

    /// Index of the section a uci reference points at: a name, a generated anonymous
    /// name (`cfg0a1b2c`), or `@type[N]` / `@[N]` (N < 0 counts from the end), as
    /// `uci get pkg.REF.option` resolves it.
    pub fn resolve(&self, section_ref: &str) -> Option<usize> {
        if let Some(rest) = section_ref.strip_prefix('@') {
            let (stype, idx) = rest.strip_suffix(']')?.split_once('[')?;
            let idx = crate::parse_i64(idx)?;
            if !stype.is_empty() && !is_valid_type(stype) {
                return None;
            }
            let matching: Vec<usize> =
                (0..self.sections.len()).filter(|&i| stype.is_empty() || self.sections[i].stype == stype).collect();
            let n = i64::try_from(matching.len()).ok()?;
            let idx = if idx < 0 { idx + n } else { idx };
            return usize::try_from(idx).ok().and_then(|i| matching.get(i).copied());
        }
        (0..self.sections.len()).find(|&i| self.uci_id(i) == section_ref)
    }

    /// How `uci show` names a section: its name, or `@type[N]` (N counts sections of that type).
    pub fn display_name(&self, index: usize) -> String {
        let s = &self.sections[index];
        match &s.name {
            Some(n) => n.clone(),
            None => {
                let n = self.sections[..index].iter().filter(|o| o.stype == s.stype).count();
                format!("@{}[{}]", s.stype, n)
            }
        }
    }
}

/// Parse UCI text exactly as real uci (libuci, strict mode — its default and netifd's)
/// reads a file under `/etc/config`. `file` labels errors and is the [`Package::file`];
/// its last path component becomes [`Package::name`]. Errors carry the first line of the
/// offending statement and libuci's own reason text (e.g. `too many arguments`).
///
/// One deliberate difference: a NUL byte is an error here, while libuci silently cuts
/// lines at it in a way that depends on its buffer sizes.
pub fn parse(text: &str, file: &str) -> Result<Package, UciError> {
    reader::parse_located(text, file).map(|p| p.package)
}

/// True if `s` is a valid section or option name for uci: `[A-Za-z0-9_]+`.
pub fn is_valid_name(s: &str) -> bool {
    reader::valid_name(s)
}

/// True if `s` is a valid section type for uci: printable ASCII without spaces (33..=126).
pub fn is_valid_type(s: &str) -> bool {
    reader::valid_type(s)
}

/// True if `s` is a valid package (file) name for uci: `[A-Za-z0-9_-]+`.
pub fn is_valid_package(s: &str) -> bool {
    reader::valid_package(s)
}

#[cfg(test)]
mod tests;
