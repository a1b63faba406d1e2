//! [`SpecError`]: a problem in the operator's spec, located so the CLI can print
//! `file:line:col: key: message`.

use std::fmt;
use std::ops::Range;

/// One problem in a spec, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Byte range in the spec file, when known.
    pub span: Option<Range<usize>>,
    /// The key concerned, e.g. `directories[3].mode` or `users.postgres.group`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SpecError {
    /// A new error at `span` about `key`.
    pub fn new(span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { span, key: key.into(), message: message.into() }
    }

    /// The 1-based line and column of the span's start in `source`.
    pub fn line_col(&self, source: &str) -> Option<(usize, usize)> {
        let start = self.span.as_ref()?.start.min(source.len());
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |text| text.chars().count()) + 1;
        Some((line, column))
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.key, self.message) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let source = "a = 1\nbb = \"x\"\n";
        let err = SpecError::new(Some(11..14), "bb", "bad");
        assert_eq!(err.line_col(source), Some((2, 6)));
        assert_eq!(err.to_string(), "bb: bad");
        assert_eq!(SpecError::new(None, "", "x").line_col(source), None);
    }
}
