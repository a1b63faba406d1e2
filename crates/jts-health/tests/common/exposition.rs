//! A strict parser of the Prometheus text exposition format (version 0.0.4), for tests.
//!
//! Stricter than Prometheus itself, on purpose: every family must have exactly one
//! `# HELP` and one `# TYPE` line, both before its samples; a family's samples must be
//! contiguous; no series (name + label set) may appear twice; label names and metric
//! names must match the format's grammar; label values may only use the `\\`, `\"` and
//! `\n` escapes; values must be Go-parsable floats (`NaN`, `+Inf`, `-Inf` included); the
//! text must end with a newline.

use std::collections::{BTreeMap, BTreeSet};

/// One metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: String,
    pub samples: Vec<Sample>,
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if text.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')) => {
            text.parse::<f64>().map_err(|e| format!("bad value {text:?}: {e}"))
        }
        _ => Err(format!("bad value {text:?}")),
    }
}

/// Parses `name{labels} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // label name
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if after[start..].starts_with('}') {
                chars.next();
                rest = &after[start + 1..];
                break;
            }
            let eq = after[start..].find('=').ok_or("label without =")? + start;
            let label = &after[start..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label} value is not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling backslash")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    '\n' => return Err("raw newline in label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} twice"));
            }
            match chars.next().ok_or("unterminated labels")? {
                (_, ',') => {}
                (i, '}') => {
                    rest = &after[i + 1..];
                    break;
                }
                (_, c) => return Err(format!("unexpected {c:?} after a label")),
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value })
}

/// Parses the whole text; an error names the 1-based line.
pub fn parse(text: &str) -> Result<Vec<Family>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("text does not end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut series = BTreeSet::new();
    let mut helps = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let at = |msg: String| format!("line {}: {msg}: {line:?}", index + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), help) => {
                    if !is_metric_name(name) {
                        return Err(at(format!("bad metric name {name:?}")));
                    }
                    if !helps.insert(name.to_owned()) {
                        return Err(at(format!("second HELP for {name}")));
                    }
                    if families.iter().any(|f| f.name == name) {
                        return Err(at("HELP after the family started".into()));
                    }
                    families.push(Family {
                        name: name.to_owned(),
                        help: help.unwrap_or_default().to_owned(),
                        kind: String::new(),
                        samples: Vec::new(),
                    });
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                        return Err(at(format!("bad type {kind:?}")));
                    }
                    let last = families.last_mut().filter(|f| f.name == name && f.samples.is_empty());
                    let Some(family) = last else { return Err(at("TYPE not right after its HELP".into())) };
                    if !family.kind.is_empty() {
                        return Err(at("second TYPE".into()));
                    }
                    kind.clone_into(&mut family.kind);
                }
                (Some("HELP" | "TYPE"), ..) => return Err(at("malformed HELP/TYPE".into())),
                _ => {} // another comment
            }
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let Some(family) = families.last_mut() else { return Err(at("sample before any HELP/TYPE".into())) };
        if family.name != sample.name {
            return Err(at(format!(
                "sample of {} inside family {} (families must be contiguous)",
                sample.name, family.name
            )));
        }
        if family.kind.is_empty() {
            return Err(at("sample before TYPE".into()));
        }
        if !series.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(at("duplicate series".into()));
        }
        family.samples.push(sample);
    }
    if let Some(family) = families.iter().find(|f| f.kind.is_empty()) {
        return Err(format!("family {} has no TYPE", family.name));
    }
    Ok(families)
}

/// The value of the series `name` with exactly `labels`.
pub fn value(families: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    families.iter().find(|f| f.name == name)?.samples.iter().find(|s| s.labels == want).map(|s| s.value)
}

#[test]
fn the_parser_is_strict() {
    let good = "# HELP a_b x\n# TYPE a_b gauge\na_b{m=\"q\\\"\\\\\\n\",t=\"x\"} 1.5\na_b 2\n";
    let families = parse(good).unwrap();
    assert_eq!(families[0].samples[0].labels["m"], "q\"\\\n");
    for bad in [
        "a 1\n",                                                         // no HELP/TYPE
        "# HELP a x\n# TYPE a gauge\na 1",                               // no final newline
        "# HELP a x\n# TYPE a gauge\na{b=\"\\t\"} 1\n",                  // bad escape
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                        // duplicate series
        "# HELP a x\n# TYPE a gauge\na{b=c} 1\n",                        // unquoted
        "# HELP a x\n# TYPE a gauge\na one\n",                           // bad value
        "# HELP a x\n# TYPE a meter\na 1\n",                             // bad type
        "# HELP a x\n# TYPE a gauge\nb 1\n",                             // sample of another family
        "# HELP 1a x\n# TYPE 1a gauge\n",                                // bad name
        "# HELP a x\n# TYPE a gauge\n# HELP b y\n# TYPE b gauge\na 1\n", // not contiguous
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}
