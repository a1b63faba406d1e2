//! Reading a spec's text and parsing it with every problem reported, not just the first.
//!
//! serde stops at the first value it cannot read. To report every problem at once, a
//! failed parse blanks the `key = value` entry the error points at (its lines become
//! spaces, so every later offset stays where it was) and parses again. When the next
//! error is only the absence of an entry it blanked itself, the table that lost it is
//! blanked too (its other problems are already reported). It stops at a problem that is
//! not inside one entry or table (a syntax error).

use std::path::Path;

use jts_core::SpecError;
use serde::de::DeserializeOwned;

/// At most this many problems are collected from one spec.
const MAX_ERRORS: usize = 50;

/// The spec file's text; `Err` is the problem, located where it can be.
pub(crate) fn read_text(file: &Path) -> Result<String, (String, SpecError)> {
    let bytes = std::fs::read(file).map_err(|err| {
        (String::new(), SpecError::new(None, "", format!("cannot read the spec: {err}; pass --config FILE")))
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        let byte = err.as_bytes()[at];
        let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
        let message = format!(
            "the spec is not UTF-8 text (byte 0x{byte:02x} here); save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        );
        (text, SpecError::new(Some(at..at + 1), "", message))
    })
}

/// Parses `text`; returns what could be read (with the entries in error left out) and
/// every problem found, in the order they stand in the text.
pub(crate) fn parse_every_error<T: DeserializeOwned>(text: &str) -> (Option<T>, Vec<SpecError>) {
    let (parsed, mut errors) = parse_until_stuck(text);
    errors.sort_by_key(|err| err.span.as_ref().map(|span| span.start));
    (parsed, errors)
}

fn parse_until_stuck<T: DeserializeOwned>(text: &str) -> (Option<T>, Vec<SpecError>) {
    // A syntax error leaves nothing to read on with: it is the one problem reported.
    if let Err(err) = text.parse::<toml::Table>() {
        let message = err.message().trim().to_owned();
        let error =
            if message.contains("recursion limit") { too_deep(text) } else { SpecError::new(err.span(), "", message) };
        return (None, vec![error]);
    }
    let mut working = text.to_owned();
    let mut blanked_keys: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    while errors.len() < MAX_ERRORS {
        let err = match toml::from_str::<T>(&working) {
            Ok(parsed) => return (Some(parsed), errors),
            Err(err) => err,
        };
        let message = err.message().trim().to_owned();
        if blanked_keys.iter().any(|key| message.starts_with(&format!("missing field `{key}`"))) {
            match err.span().and_then(|span| blank_table(&mut working, span.start)) {
                Some(()) => continue,
                None => break,
            }
        }
        errors.push(SpecError::new(err.span(), "", message));
        match err.span().and_then(|span| blank_entry(&mut working, span.start)) {
            Some(key) => blanked_keys.push(key),
            None => break,
        }
    }
    (None, errors)
}

/// Blanks the `key = value` entry that holds byte `at` and returns its key; `None` when
/// `at` is not inside one.
fn blank_entry(text: &mut String, at: usize) -> Option<String> {
    let lines: Vec<(usize, &str)> = line_starts(text);
    let line = lines.iter().rposition(|(start, _)| *start <= at)?;
    let first = (0..=line).rev().find_map(|index| {
        let content = lines[index].1.trim_start();
        if content.starts_with('[') && index != line {
            return Some(None);
        }
        entry_key(content).map(|key| Some((index, key)))
    })??;
    let (first, key) = first;
    let mut depth = 0i32;
    let mut last = first;
    for (index, (_, content)) in lines.iter().enumerate().skip(first) {
        depth += brackets(content);
        last = index;
        if depth <= 0 {
            break;
        }
    }
    let start = lines[first].0;
    let end = lines.get(last + 1).map_or(text.len(), |(start, _)| *start);
    blank(text, start..end);
    Some(key)
}

/// Blanks the table whose header or body holds byte `at`, up to the next header.
fn blank_table(text: &mut String, at: usize) -> Option<()> {
    let lines = line_starts(text);
    let line = lines.iter().rposition(|(start, _)| *start <= at)?;
    let header = (0..=line).rev().find(|index| lines[*index].1.trim_start().starts_with('['))?;
    let next = lines.iter().skip(header + 1).find(|(_, content)| content.trim_start().starts_with('['));
    let (start, end) = (lines[header].0, next.map_or(text.len(), |(start, _)| *start));
    blank(text, start..end);
    Some(())
}

/// Replaces `range` with spaces (newlines kept), byte for byte.
fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let blanked: String = text[range.clone()].chars().flat_map(spaces_for).collect();
    text.replace_range(range, &blanked);
}

/// What stands for `original` in a blanked range: a newline stays, any other character
/// becomes as many spaces as it has bytes.
fn spaces_for(original: char) -> Vec<char> {
    if original == '\n' { vec!['\n'] } else { vec![' '; original.len_utf8()] }
}

/// Each line with the byte offset where it starts.
fn line_starts(text: &str) -> Vec<(usize, &str)> {
    let mut start = 0;
    text.split_inclusive('\n')
        .map(|line| {
            let at = start;
            start += line.len();
            (at, line)
        })
        .collect()
}

/// The key of a line that starts a `key = value` entry.
fn entry_key(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"').trim_matches('\'');
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then(|| key.rsplit('.').next().unwrap_or(key).to_owned())
}

/// Opening minus closing brackets of a line, outside strings and comments.
fn brackets(line: &str) -> i32 {
    let mut depth = 0;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '#') => break,
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// Nesting deeper than the parser allows: located at the first table header with more
/// levels than any jts spec needs.
fn too_deep(text: &str) -> SpecError {
    let deep = line_starts(text).into_iter().find(|(_, line)| {
        let line = line.trim_start();
        line.starts_with('[') && line.matches('.').count() >= 16
    });
    SpecError::new(
        deep.map(|(start, line)| start..start + line.len()),
        "",
        "tables or arrays are nested deeper than the spec parser allows; a jts spec nests at most four levels, e.g. \
         [volume_groups.vg_jts.volumes.lv_postgres]: flatten this table",
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "read by serde only")]
    struct Entry {
        path: String,
        mode: Option<u32>,
        acl: Option<Vec<u32>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "read by serde only")]
    struct Doc {
        entries: BTreeMap<String, Entry>,
    }

    fn lines_of(text: &str, errors: &[SpecError]) -> Vec<usize> {
        errors.iter().map(|err| err.line_col(text).expect("located").0).collect()
    }

    #[test]
    fn every_bad_entry_is_reported_at_its_line() {
        let text = "[entries.a]\npath = \"/a\"\nmode = \"x\"\nbogus = 1\n[entries.b]\npath = \"/b\"\nacl = [\n  1,\n  \"two\",\n]\nmode = 7\n";
        let (parsed, errors) = parse_every_error::<Doc>(text);
        assert_eq!(lines_of(text, &errors), [3, 4, 9], "{errors:?}");
        assert!(parsed.is_some(), "what is left parses");
    }

    #[test]
    fn a_blanked_required_entry_drops_its_table_without_a_spurious_error() {
        let text = "[entries.a]\npath = 1\nmode = \"x\"\n[entries.b]\npath = \"/b\"\nbogus = 2\n";
        let (parsed, errors) = parse_every_error::<Doc>(text);
        assert_eq!(parsed.map(|doc| doc.entries.into_keys().collect::<Vec<_>>()), Some(vec!["b".to_owned()]));
        assert_eq!(lines_of(text, &errors), [2, 3, 6], "{errors:?}");
        assert!(!errors.iter().any(|err| err.to_string().contains("missing field")), "{errors:?}");
    }

    #[test]
    fn a_syntax_error_stops_at_once() {
        let text = "[entries.a]\npath = \"/a\nmode = 1\n";
        let (_, errors) = parse_every_error::<Doc>(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn offsets_survive_multi_byte_characters() {
        let text = "[entries.a]\npath = \"/é\"\nmode = \"é\"\nacl = \"x\"\n";
        let (_, errors) = parse_every_error::<Doc>(text);
        assert_eq!(lines_of(text, &errors), [3, 4], "{errors:?}");
    }

    #[test]
    fn deep_nesting_is_located_with_a_fix() {
        let text = format!("[{}]\n", vec!["a"; 1000].join("."));
        let (_, errors) = parse_every_error::<Doc>(&text);
        assert_eq!(lines_of(&text, &errors), [1], "{errors:?}");
        assert!(errors[0].to_string().contains("flatten"), "{errors:?}");
    }
}
