//! POSIX ACLs: the spec's text form ([`AclEntry`]), the resolved numeric form
//! ([`ResolvedEntry`]) and the kernel's `system.posix_acl_*` xattr encoding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use jts_core::Principal;

/// `rwx` permission bits of one ACL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perms(pub u8);

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |mask, c| if self.0 & mask != 0 { c } else { '-' };
        write!(f, "{}{}{}", bit(4, 'r'), bit(2, 'w'), bit(1, 'x'))
    }
}

impl FromStr for Perms {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let [digit @ b'0'..=b'7'] = text.as_bytes() {
            return Ok(Self(digit - b'0'));
        }
        let mut bits = 0;
        for c in text.chars() {
            bits |= match c {
                'r' => 4,
                'w' => 2,
                'x' => 1,
                '-' => 0,
                _ => return Err(format!("permission {text:?} may only contain r, w, x and -, e.g. \"r-x\"")),
            };
        }
        if text.is_empty() {
            Err("permissions are empty; write e.g. \"r-x\" or \"---\"".into())
        } else {
            Ok(Self(bits))
        }
    }
}

/// Which entry of an ACL; `Q` is the qualifier of named entries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag<Q> {
    /// `user::`, the owner.
    UserObj,
    /// `user:NAME:`.
    User(Q),
    /// `group::`, the owning group.
    GroupObj,
    /// `group:NAME:`.
    Group(Q),
    /// `mask::`.
    Mask,
    /// `other::`.
    Other,
}

impl<Q> Tag<Q> {
    /// Whether the entry names a user or group.
    pub fn is_named(&self) -> bool {
        matches!(self, Self::User(_) | Self::Group(_))
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, qualifier: impl Fn(&Q) -> String) -> fmt::Result {
        match self {
            Self::UserObj => f.write_str("user::"),
            Self::User(q) => write!(f, "user:{}:", qualifier(q)),
            Self::GroupObj => f.write_str("group::"),
            Self::Group(q) => write!(f, "group:{}:", qualifier(q)),
            Self::Mask => f.write_str("mask::"),
            Self::Other => f.write_str("other::"),
        }
    }
}

fn parse_tag<Q>(tag: &str, qualifier: &str, parse_q: impl Fn(&str) -> Result<Q, String>) -> Result<Tag<Q>, String> {
    let named = !qualifier.is_empty();
    Ok(match (tag, named) {
        ("u" | "user", false) => Tag::UserObj,
        ("u" | "user", true) => Tag::User(parse_q(qualifier)?),
        ("g" | "group", false) => Tag::GroupObj,
        ("g" | "group", true) => Tag::Group(parse_q(qualifier)?),
        ("m" | "mask", false) => Tag::Mask,
        ("o" | "other", false) => Tag::Other,
        ("m" | "mask" | "o" | "other", true) => return Err(format!("{tag} entries take no name")),
        _ => return Err(format!("unknown entry type {tag:?}; use user, group, mask or other (or u, g, m, o)")),
    })
}

/// One ACL entry as written in a spec: `"group:backup:r-x"`, `"d:g:backup:rx"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclEntry {
    /// A default ACL entry (inherited by new files), rather than an access entry.
    pub default: bool,
    /// What the entry applies to.
    pub tag: Tag<Principal>,
    /// What it allows.
    pub perms: Perms,
}

impl FromStr for AclEntry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let fields: Vec<&str> = text.split(':').collect();
        let (default, rest) = match fields.as_slice() {
            ["d" | "default", rest @ ..] => (true, rest),
            rest => (false, rest),
        };
        let [tag, qualifier, perms] = rest else {
            return Err(format!(
                "malformed ACL entry {text:?}: write [default:]TYPE:NAME:PERMS, e.g. \"group:backup:r-x\" or \"default:group:backup:r-x\""
            ));
        };
        let tag =
            parse_tag(tag, qualifier, str::parse).map_err(|why| format!("malformed ACL entry {text:?}: {why}"))?;
        let perms = perms.parse().map_err(|why| format!("malformed ACL entry {text:?}: {why}"))?;
        Ok(Self { default, tag, perms })
    }
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.default {
            f.write_str("default:")?;
        }
        self.tag.write(f, ToString::to_string)?;
        write!(f, "{}", self.perms)
    }
}

impl<'de> Deserialize<'de> for AclEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for AclEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An ACL entry with numeric ids, as the kernel stores it: `"group:2001:r-x"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResolvedEntry {
    /// What the entry applies to.
    pub tag: Tag<u32>,
    /// What it allows.
    pub perms: Perms,
}

impl fmt::Display for ResolvedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.tag.write(f, ToString::to_string)?;
        write!(f, "{}", self.perms)
    }
}

impl FromStr for ResolvedEntry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let [tag, qualifier, perms] = text.split(':').collect::<Vec<_>>()[..] else {
            return Err(format!("malformed ACL entry {text:?}"));
        };
        let tag = parse_tag(tag, qualifier, |q| q.parse().map_err(|_| format!("{q:?} is not a numeric id")))?;
        Ok(Self { tag, perms: perms.parse()? })
    }
}

impl Serialize for ResolvedEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResolvedEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The xattr holding a directory's access ACL.
pub const ACCESS_XATTR: &str = "system.posix_acl_access";
/// The xattr holding a directory's default ACL.
pub const DEFAULT_XATTR: &str = "system.posix_acl_default";

const XATTR_VERSION: u32 = 2;
const UNDEFINED_ID: u32 = u32::MAX;

fn tag_code(tag: &Tag<u32>) -> (u16, u32) {
    match tag {
        Tag::UserObj => (0x01, UNDEFINED_ID),
        Tag::User(id) => (0x02, *id),
        Tag::GroupObj => (0x04, UNDEFINED_ID),
        Tag::Group(id) => (0x08, *id),
        Tag::Mask => (0x10, UNDEFINED_ID),
        Tag::Other => (0x20, UNDEFINED_ID),
    }
}

/// Encodes entries in the kernel's xattr format, sorted as the kernel requires.
pub fn encode_xattr(entries: &[ResolvedEntry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort();
    let mut bytes = XATTR_VERSION.to_le_bytes().to_vec();
    for entry in sorted {
        let (tag, id) = tag_code(&entry.tag);
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(&u16::from(entry.perms.0).to_le_bytes());
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    bytes
}

/// Decodes the kernel's xattr format.
pub fn decode_xattr(bytes: &[u8]) -> Result<Vec<ResolvedEntry>, &'static str> {
    let (header, body) = bytes.split_at_checked(4).ok_or("shorter than its header")?;
    if header != XATTR_VERSION.to_le_bytes() {
        return Err("unknown version");
    }
    if body.len() % 8 != 0 {
        return Err("truncated entry");
    }
    body.chunks_exact(8)
        .map(|chunk| {
            let tag = u16::from_le_bytes([chunk[0], chunk[1]]);
            let perms = Perms((u16::from_le_bytes([chunk[2], chunk[3]]) & 7) as u8);
            let id = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            let tag = match tag {
                0x01 => Tag::UserObj,
                0x02 => Tag::User(id),
                0x04 => Tag::GroupObj,
                0x08 => Tag::Group(id),
                0x10 => Tag::Mask,
                0x20 => Tag::Other,
                _ => return Err("unknown entry tag"),
            };
            Ok(ResolvedEntry { tag, perms })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_long_and_short_forms() {
        let long: AclEntry = "default:group:backup:r-x".parse().unwrap();
        let short: AclEntry = "d:g:backup:rx".parse().unwrap();
        assert_eq!(long, short);
        assert_eq!(short.to_string(), "default:group:backup:r-x");
        assert_eq!("u::7".parse::<AclEntry>().unwrap().to_string(), "user::rwx");
        assert_eq!("o::---".parse::<AclEntry>().unwrap().tag, Tag::Other);
    }

    #[test]
    fn rejects_malformed_entries_with_a_hint() {
        for bad in ["group:backup", "group:backup:rwz", "x:backup:r", "mask:bob:r", "g:Bad Name:r", "g:b:"] {
            let err = bad.parse::<AclEntry>().unwrap_err();
            assert!(err.contains(bad) || err.contains("invalid name"), "{bad}: {err}");
        }
    }

    fn resolved() -> impl Strategy<Value = ResolvedEntry> {
        let tag = prop_oneof![
            Just(Tag::UserObj),
            any::<u16>().prop_map(|id| Tag::User(u32::from(id))),
            Just(Tag::GroupObj),
            any::<u16>().prop_map(|id| Tag::Group(u32::from(id))),
            Just(Tag::Mask),
            Just(Tag::Other),
        ];
        (tag, 0u8..8).prop_map(|(tag, perms)| ResolvedEntry { tag, perms: Perms(perms) })
    }

    proptest! {
        #[test]
        fn xattr_round_trips(mut entries in prop::collection::vec(resolved(), 0..12)) {
            let decoded = decode_xattr(&encode_xattr(&entries)).unwrap();
            entries.sort();
            prop_assert_eq!(decoded, entries);
        }

        #[test]
        fn text_round_trips(entry in resolved()) {
            prop_assert_eq!(entry.to_string().parse::<ResolvedEntry>().unwrap(), entry);
        }
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(decode_xattr(b"\x02\x00").is_err());
        assert!(decode_xattr(b"\x01\x00\x00\x00").is_err());
        assert!(decode_xattr(b"\x02\x00\x00\x00\x01\x00").is_err());
    }
}
