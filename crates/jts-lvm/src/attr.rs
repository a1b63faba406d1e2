//! `lv_attr`, decoded: the ten characters `lvs` prints, such as `swi-I-s---`.

use serde::{Deserialize, Deserializer, Serialize};

/// The first `lv_attr` character: what kind of volume it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeType {
    /// `-`: a plain (linear or striped) volume.
    Plain,
    /// `o`: the origin of one or more snapshots.
    Origin,
    /// `O`: an origin with a merging snapshot.
    MergingOrigin,
    /// `s`: a copy-on-write snapshot.
    Snapshot,
    /// `S`: a merging snapshot.
    MergingSnapshot,
    /// `V`: a thin volume.
    Thin,
    /// `t`: a thin pool.
    ThinPool,
    /// Anything else (mirror, raid, cache, vdo, internal volumes …).
    Other,
}

impl VolumeType {
    fn from_char(c: char) -> Self {
        match c {
            '-' => Self::Plain,
            'o' => Self::Origin,
            'O' => Self::MergingOrigin,
            's' => Self::Snapshot,
            'S' => Self::MergingSnapshot,
            'V' => Self::Thin,
            't' => Self::ThinPool,
            _ => Self::Other,
        }
    }
}

/// A decoded `lv_attr`. Deserializing re-decodes from `raw`, so the fields always agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LvAttr {
    /// The characters as `lvs` printed them.
    pub raw: String,
    /// Character 1: the volume type.
    pub volume_type: VolumeType,
    /// Character 5 is `a`: the volume is active.
    pub active: bool,
    /// Character 5 is `I` or `S`: a snapshot whose COW space overflowed; it is unusable.
    pub invalid_snapshot: bool,
}

impl LvAttr {
    /// Decodes `raw`; short or unknown strings decode to an inactive [`VolumeType::Other`].
    pub fn decode(raw: &str) -> Self {
        let mut chars = raw.chars();
        let volume_type = chars.next().map_or(VolumeType::Other, VolumeType::from_char);
        let state = raw.chars().nth(4);
        Self {
            raw: raw.to_owned(),
            volume_type,
            active: state == Some('a'),
            invalid_snapshot: matches!(state, Some('I' | 'S')),
        }
    }

    /// A copy-on-write snapshot (merging or not).
    pub fn is_cow_snapshot(&self) -> bool {
        matches!(self.volume_type, VolumeType::Snapshot | VolumeType::MergingSnapshot)
    }

    /// Character 6 is `o`: the device is open (mounted, or held by a process).
    pub fn is_open(&self) -> bool {
        self.raw.chars().nth(5) == Some('o')
    }

    /// The same attributes with another volume type character, as lvm2 shows a volume
    /// that gains or loses snapshots.
    pub(crate) fn with_type(&self, c: char) -> Self {
        let rest: String = self.raw.chars().skip(1).collect();
        Self::decode(&format!("{c}{rest}"))
    }
}

impl<'de> Deserialize<'de> for LvAttr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            raw: String,
        }
        Ok(Self::decode(&Raw::deserialize(deserializer)?.raw))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn decodes_what_lvm2_2_03_16_printed() {
        let invalid = LvAttr::decode("swi-I-s---");
        assert_eq!(
            (invalid.volume_type, invalid.active, invalid.invalid_snapshot),
            (VolumeType::Snapshot, false, true)
        );
        assert!(invalid.is_cow_snapshot());
        let origin = LvAttr::decode("owi-a-s---");
        assert_eq!((origin.volume_type, origin.active, origin.invalid_snapshot), (VolumeType::Origin, true, false));
        assert_eq!(origin.with_type('-').raw, "-wi-a-s---");
        assert_eq!(LvAttr::decode("-wi-a-----").volume_type, VolumeType::Plain);
        assert_eq!(LvAttr::decode("").volume_type, VolumeType::Other);
    }

    #[test]
    fn deserializing_re_decodes() {
        let attr: LvAttr =
            serde_json::from_str(r#"{"raw":"swi-a-s---","volume_type":"plain","active":false}"#).unwrap();
        assert_eq!(attr, LvAttr::decode("swi-a-s---"));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(raw in ".*") {
            let attr = LvAttr::decode(&raw);
            prop_assert_eq!(attr.raw, raw);
        }
    }
}
