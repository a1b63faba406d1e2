//! Parsing what the observing commands print: lvm2's JSON reports
//! (`pvs`/`vgs`/`lvs --reportformat json --units b --nosuffix`), `wipefs --json` and
//! `blockdev --getsize64`.
//!
//! lvm2 2.03.16 (Debian 12) prints every value as a string and `""` for "not
//! applicable"; newer releases add a top-level `"log"` array, and `json_std` prints
//! numbers as numbers. All of these parse. Unknown fields are ignored; a missing or
//! malformed required field is an error, never a panic.

use serde_json::{Map, Value};

use crate::attr::LvAttr;
use crate::error::{Error, Result};
use crate::state::{LvInfo, Percent, PvInfo, Signature, VgInfo};

type Row = Map<String, Value>;

fn bad(command: &str, reason: impl Into<String>) -> Error {
    Error::Report { command: command.to_owned(), reason: reason.into() }
}

/// The rows of section `kind` (`"pv"`, `"vg"` or `"lv"`) of every report in `text`.
fn rows(command: &str, kind: &str, text: &str) -> Result<Vec<Row>> {
    let value: Value = serde_json::from_str(text).map_err(|err| bad(command, format!("not JSON: {err}")))?;
    let reports = value.get("report").and_then(Value::as_array).ok_or_else(|| bad(command, "no \"report\" array"))?;
    let mut found = Vec::new();
    for report in reports {
        let Some(list) = report.get(kind) else { continue };
        let list = list.as_array().ok_or_else(|| bad(command, format!("\"{kind}\" is not an array")))?;
        for row in list {
            found.push(
                row.as_object().ok_or_else(|| bad(command, format!("a \"{kind}\" row is not an object")))?.clone(),
            );
        }
    }
    Ok(found)
}

/// Typed access to one report row.
struct Fields<'a> {
    command: &'a str,
    row: &'a Row,
}

impl Fields<'_> {
    /// The value as text; `None` when missing, `null`, `""` or not a scalar.
    fn optional(&self, key: &str) -> Option<String> {
        let text = match self.row.get(key)? {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    fn text(&self, key: &str) -> Result<String> {
        self.optional(key).ok_or_else(|| bad(self.command, format!("field {key} is missing or empty")))
    }

    /// A whole number; `"2147483648"`, `"2147483648.00"` and `2147483648` all parse.
    fn number(&self, key: &str) -> Result<u64> {
        let text = self.text(key)?;
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        match whole.parse::<u64>() {
            Ok(number) if fraction.bytes().all(|b| b == b'0') => Ok(number),
            _ => Err(bad(self.command, format!("field {key} = {text:?} is not a whole number"))),
        }
    }

    fn percent(&self, key: &str) -> Result<Option<Percent>> {
        match self.optional(key) {
            None => Ok(None),
            Some(text) => Percent::parse(&text)
                .map(Some)
                .ok_or_else(|| bad(self.command, format!("field {key} = {text:?} is not a percentage"))),
        }
    }
}

fn each<T>(command: &str, kind: &str, text: &str, parse: impl Fn(&Fields<'_>) -> Result<T>) -> Result<Vec<T>> {
    rows(command, kind, text)?.iter().map(|row| parse(&Fields { command, row })).collect()
}

/// Parses `pvs` output (fields: see [`crate::observe::pvs_command`]), sorted by name.
pub fn parse_pvs(text: &str) -> Result<Vec<PvInfo>> {
    let mut pvs = each("pvs", "pv", text, |f| {
        Ok(PvInfo {
            name: f.text("pv_name")?,
            vg: f.optional("vg_name"),
            uuid: f.text("pv_uuid")?,
            dev_size: f.number("dev_size")?,
            size: f.number("pv_size")?,
            free: f.number("pv_free")?,
            pe_start: f.number("pe_start")?,
            pe_count: f.number("pv_pe_count")?,
            pe_alloc_count: f.number("pv_pe_alloc_count")?,
        })
    })?;
    pvs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pvs)
}

/// Parses `vgs` output (fields: see [`crate::observe::vgs_command`]), sorted by name.
pub fn parse_vgs(text: &str) -> Result<Vec<VgInfo>> {
    let mut vgs = each("vgs", "vg", text, |f| {
        Ok(VgInfo {
            name: f.text("vg_name")?,
            uuid: f.text("vg_uuid")?,
            size: f.number("vg_size")?,
            free: f.number("vg_free")?,
            extent_size: f.number("vg_extent_size")?,
            extent_count: f.number("vg_extent_count")?,
            free_count: f.number("vg_free_count")?,
            pv_count: f.number("pv_count")?,
            lv_count: f.number("lv_count")?,
        })
    })?;
    vgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vgs)
}

/// Parses `lvs` output (fields: see [`crate::observe::lvs_command`]), sorted by VG and name.
///
/// `lv_time` must be in seconds since the epoch (`report/time_format="%s"`); a time in
/// another format is dropped (`created: None`) rather than guessed.
pub fn parse_lvs(text: &str) -> Result<Vec<LvInfo>> {
    let mut lvs = each("lvs", "lv", text, |f| {
        let data_percent = match f.percent("data_percent")? {
            Some(percent) => Some(percent),
            None => f.percent("snap_percent")?,
        };
        Ok(LvInfo {
            vg: f.text("vg_name")?,
            name: f.text("lv_name")?,
            uuid: f.text("lv_uuid")?,
            size: f.number("lv_size")?,
            attr: LvAttr::decode(&f.text("lv_attr")?),
            origin: f.optional("origin"),
            data_percent,
            created: f.optional("lv_time").and_then(|time| time.parse().ok()),
        })
    })?;
    lvs.sort_by(|a, b| (&a.vg, &a.name).cmp(&(&b.vg, &b.name)));
    Ok(lvs)
}

/// Parses `wipefs --json` output. `wipefs` prints nothing at all for a device without
/// signatures on some util-linux versions, and an empty list on others.
pub fn parse_wipefs(text: &str) -> Result<Vec<Signature>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(text).map_err(|err| bad("wipefs", format!("not JSON: {err}")))?;
    let list =
        value.get("signatures").and_then(Value::as_array).ok_or_else(|| bad("wipefs", "no \"signatures\" array"))?;
    list.iter()
        .map(|entry| {
            let row = entry.as_object().ok_or_else(|| bad("wipefs", "a signature is not an object"))?;
            let f = Fields { command: "wipefs", row };
            Ok(Signature { kind: f.text("type")?, offset: f.optional("offset").unwrap_or_default() })
        })
        .collect()
}

/// Parses `blockdev --getsize64` output: one number of bytes.
pub fn parse_size64(text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| bad("blockdev", format!("{:?} is not a size in bytes", text.trim())))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn newer_lvm2_with_log_and_numbers_parses() {
        // The shape of lvm2 >= 2.03.17 with `--reportformat json_std`: numbers as
        // numbers, null for "not applicable", and a "log" array next to "report".
        let text = r#"{"report":[{"vg":[{"vg_name":"vg","vg_uuid":"u","vg_size":8388608,"vg_free":0,
            "vg_extent_size":4194304,"vg_extent_count":2,"vg_free_count":0,"pv_count":1,"lv_count":null,
            "vg_new_field":"x"}]}],"log":[{"log_seq_num":1,"log_type":"status"}]}"#;
        let err = parse_vgs(text).unwrap_err().to_string();
        assert!(err.contains("field lv_count is missing or empty"), "{err}");
        let vgs = parse_vgs(&text.replace("null", "0")).unwrap();
        assert_eq!((vgs[0].extent_count, vgs[0].extent_size), (2, 4 << 20));
    }

    #[test]
    fn malformed_values_are_errors() {
        let row = |size: &str| {
            format!(
                r#"{{"report":[{{"lv":[{{"vg_name":"vg","lv_name":"a","lv_uuid":"u","lv_size":{size},"lv_attr":"-wi-a-----","origin":"","data_percent":"","snap_percent":"","lv_time":""}}]}}]}}"#
            )
        };
        assert_eq!(parse_lvs(&row("\"4194304.00\"")).unwrap()[0].size, 4 << 20);
        for bad_size in ["\"4M\"", "\"-1\"", "\"\"", "\"1.5\"", "[]"] {
            assert!(parse_lvs(&row(bad_size)).is_err(), "{bad_size}");
        }
        assert!(parse_lvs("").is_err());
        assert!(parse_lvs(r#"{"report":{}}"#).is_err());
        assert!(parse_lvs(r#"{"report":[{"lv":{}}]}"#).is_err());
        assert!(parse_lvs(r#"{"report":[{"lv":[1]}]}"#).is_err());
        assert!(parse_lvs(r#"{"report":[{"vg":[]}]}"#).unwrap().is_empty(), "other sections are ignored");
    }

    #[test]
    fn wipefs_and_blockdev() {
        assert!(parse_wipefs("").unwrap().is_empty());
        assert!(parse_wipefs("{}").is_err());
        assert_eq!(parse_size64("2147483648\n").unwrap(), 2 << 30);
        assert!(parse_size64("big").is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec!["", "0", "12.57", "100.00", "-wi-a-----", "swi-I-s---", "vg", "1e99"])
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop::sample::select(vec![
                "report",
                "log",
                "pv",
                "vg",
                "lv",
                "signatures",
                "pv_name",
                "vg_name",
                "lv_name",
                "lv_size",
                "lv_attr",
                "data_percent",
                "snap_percent",
                "lv_time",
                "type",
                "offset",
                "pv_uuid",
                "dev_size",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    /// Well-formed reports whose rows hold arbitrary values under the real field names.
    fn report_shaped() -> impl Strategy<Value = String> {
        let fields = prop::sample::select(vec![
            "pv_name",
            "vg_name",
            "pv_uuid",
            "dev_size",
            "pv_size",
            "pv_free",
            "pe_start",
            "pv_pe_count",
            "pv_pe_alloc_count",
            "vg_uuid",
            "vg_size",
            "vg_free",
            "vg_extent_size",
            "vg_extent_count",
            "vg_free_count",
            "pv_count",
            "lv_count",
            "lv_name",
            "lv_uuid",
            "lv_size",
            "lv_attr",
            "origin",
            "data_percent",
            "snap_percent",
            "lv_time",
            "type",
            "offset",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(vec!["", "0", "4194304", "12.57", "100.00", "swi-I-s---", "18446744073709551616"])
                .prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        let row = prop::collection::btree_map(fields, leaf, 0..28)
            .prop_map(|map| Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
        (prop::sample::select(vec!["pv", "vg", "lv", "signatures"]), prop::collection::vec(row, 0..3)).prop_map(
            |(kind, rows)| {
                let section = serde_json::json!({ kind: rows });
                serde_json::json!({ "report": [section], "signatures": rows_or_empty(kind, &section) }).to_string()
            },
        )
    }

    fn rows_or_empty(kind: &str, section: &Value) -> Value {
        if kind == "signatures" { section["signatures"].clone() } else { Value::Array(Vec::new()) }
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_reports(text in report_shaped()) {
            let _ = (parse_pvs(&text), parse_vgs(&text), parse_lvs(&text), parse_wipefs(&text));
        }

        #[test]
        fn parsers_never_panic_on_text(text in ".*") {
            let _ = (parse_pvs(&text), parse_vgs(&text), parse_lvs(&text), parse_wipefs(&text), parse_size64(&text));
        }

        #[test]
        fn parsers_never_panic_on_json(value in json_value()) {
            let text = value.to_string();
            let _ = (parse_pvs(&text), parse_vgs(&text), parse_lvs(&text), parse_wipefs(&text));
        }
    }
}
