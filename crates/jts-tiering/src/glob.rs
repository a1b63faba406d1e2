//! Globs over relative paths, as written in `include` and `exclude`.
//!
//! A glob is matched against the whole path of a file relative to the rule's `from`,
//! with `/` between components; it is anchored there (`*.log` matches only top-level
//! files, `**/*.log` matches at any depth).
//!
//! - `*` matches any run of characters within one component (also a leading `.`);
//! - `?` matches one character other than `/`;
//! - `[abc]`, `[a-z]`, `[!a-z]` match one character in (or not in) the class; a `]`
//!   right after `[` or `[!` is a member;
//! - `**` as a whole component matches zero or more components (`a/**/b` matches `a/b`);
//!   as the last component it matches one or more (`logs/**` matches everything inside
//!   `logs`, not `logs` itself). Elsewhere (`a**`) it is a plain `*`;
//! - `\` makes the next character literal.

use std::fmt;

/// One token of a component pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Star,
    One,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Self::Literal(l) => *l == c,
            Self::One => true,
            Self::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
            Self::Star => false,
        }
    }
}

/// One component of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    AnyComponents,
    Component(Vec<Token>),
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    segments: Vec<Segment>,
}

impl Glob {
    /// Compiles `pattern`; the error says what is wrong and how to write it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let hint = "write a path relative to the rule's `from`, e.g. \"**/*.log\" or \"daily/*.tar.gz\"";
        if pattern.is_empty() {
            return Err(format!("empty glob; {hint}"));
        }
        if pattern.starts_with('/') {
            return Err(format!("glob {pattern:?} starts with `/`; {hint}"));
        }
        let mut segments: Vec<Segment> = Vec::new();
        for component in split_components(pattern) {
            if component.is_empty() {
                return Err(format!("glob {pattern:?} has an empty component (`//` or a trailing `/`); {hint}"));
            }
            if component == "." || component == ".." {
                return Err(format!("glob {pattern:?} contains `{component}`; {hint}"));
            }
            if component == "**" {
                if segments.last() != Some(&Segment::AnyComponents) {
                    segments.push(Segment::AnyComponents);
                }
                continue;
            }
            let tokens = parse_component(component).map_err(|reason| format!("glob {pattern:?}: {reason}; {hint}"))?;
            segments.push(Segment::Component(tokens));
        }
        Ok(Self { source: pattern.to_owned(), segments })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the relative path `path` (components separated by `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        match_segments(&self.segments, &components)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits at `/` that are not escaped.
fn split_components(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (index, c) in pattern.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => {
                parts.push(&pattern[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
}

fn parse_component(component: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = component.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::One),
            '\\' => {
                index += 1;
                let literal = *chars.get(index).ok_or("a trailing `\\` escapes nothing")?;
                if literal == '/' {
                    return Err("`\\/` cannot match: `/` separates components".to_owned());
                }
                tokens.push(Token::Literal(literal));
            }
            '[' => {
                let (token, next) = parse_class(&chars, index)?;
                tokens.push(token);
                index = next;
                continue;
            }
            c => tokens.push(Token::Literal(c)),
        }
        index += 1;
    }
    Ok(tokens)
}

/// Parses the class starting at `chars[open] == '['`; returns the token and the index after `]`.
fn parse_class(chars: &[char], open: usize) -> Result<(Token, usize), String> {
    let mut index = open + 1;
    let negated = matches!(chars.get(index), Some('!' | '^'));
    if negated {
        index += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(index) else {
            return Err("a `[` is not closed; close the class with `]` or write `\\[` for a literal `[`".to_owned());
        };
        if c == ']' && !first {
            index += 1;
            break;
        }
        first = false;
        let lo = if c == '\\' {
            index += 1;
            *chars.get(index).ok_or("a trailing `\\` escapes nothing")?
        } else {
            c
        };
        index += 1;
        if chars.get(index) == Some(&'-') && chars.get(index + 1).is_some_and(|&h| h != ']') {
            let hi = chars[index + 1];
            if hi < lo {
                return Err(format!("the range `{lo}-{hi}` is reversed; write `{hi}-{lo}`"));
            }
            ranges.push((lo, hi));
            index += 2;
        } else {
            ranges.push((lo, lo));
        }
    }
    Ok((Token::Class { negated, ranges }, index))
}

fn match_segments(segments: &[Segment], components: &[&str]) -> bool {
    match segments.split_first() {
        None => components.is_empty(),
        Some((Segment::AnyComponents, [])) => !components.is_empty(),
        Some((Segment::AnyComponents, rest)) => {
            (0..=components.len()).any(|skip| match_segments(rest, &components[skip..]))
        }
        Some((Segment::Component(tokens), rest)) => match components.split_first() {
            Some((first, others)) => match_component(tokens, first) && match_segments(rest, others),
            None => false,
        },
    }
}

/// Wildcard matching with one backtrack point: every token but `*` consumes exactly one
/// character, so retrying from the last `*` is enough.
fn match_component(tokens: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut s) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                backtrack = Some((t, s));
                t += 1;
            }
            Some(token) if token.matches_one(text[s]) => {
                t += 1;
                s += 1;
            }
            _ => match backtrack {
                Some((star, from)) => {
                    backtrack = Some((star, from + 1));
                    t = star + 1;
                    s = from + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn stars_stay_within_a_component() {
        assert!(m("*.log", "a.log"));
        assert!(m("*.log", ".log"));
        assert!(m("*.log", ".hidden.log"));
        assert!(!m("*.log", "d/a.log"));
        assert!(m("*/*.log", "d/a.log"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyybc"));
        assert!(!m("a*b*c", "axxbyybcd"));
        assert!(m("a**", "abc"));
        assert!(!m("a**", "a/b"));
        assert!(m("*", "x"));
        assert!(!m("*", "x/y"));
    }

    #[test]
    fn double_star_spans_components() {
        assert!(m("**/*.log", "a.log"));
        assert!(m("**/*.log", "x/y/z/a.log"));
        assert!(!m("**/*.log", "x/y/z/a.log.gz"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/x/y/c"));
        assert!(m("logs/**", "logs/a"));
        assert!(m("logs/**", "logs/a/b"));
        assert!(!m("logs/**", "logs"));
        assert!(m("**", "anything/at/all"));
        assert!(m("**/**/x", "x"));
        assert!(m("a/**/**/b", "a/q/b"));
    }

    #[test]
    fn question_marks_and_classes() {
        assert!(m("?.log", "a.log"));
        assert!(!m("?.log", "ab.log"));
        assert!(!m("a?b", "a/b"));
        assert!(m("[abc].txt", "b.txt"));
        assert!(!m("[abc].txt", "d.txt"));
        assert!(m("[!a-z]*", "Zed"));
        assert!(!m("[!a-z]*", "zed"));
        assert!(m("[^0-9]", "x"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("db-[0-9][0-9].bak", "db-07.bak"));
        assert!(m("é?", "éa"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(m(r"\*.log", "*.log"));
        assert!(!m(r"\*.log", "a.log"));
        assert!(m(r"\[x]", "[x]"));
    }

    #[test]
    fn invalid_globs_say_how_to_fix_them() {
        for bad in ["", "/abs", "a//b", "a/", "../x", "a/./b", "[abc", "x\\", "[z-a]"] {
            let err = Glob::new(bad).unwrap_err();
            assert!(err.contains("e.g.") || err.contains("write"), "{bad:?}: {err}");
        }
    }
}
