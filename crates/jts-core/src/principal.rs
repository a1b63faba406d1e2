//! [`Principal`]: a user or group named in a spec, by name or by number.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user or group as the spec names it: `"postgres"` or `2100`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// A numeric id, used as it is.
    Id(u32),
    /// A name, resolved against the account database of the root.
    Name(String),
}

impl Principal {
    /// The superuser and its group, the default owner of directories.
    pub const ROOT: Self = Self::Id(0);
}

/// Checks a user or group name the way shadow's tools do (`useradd`'s `is_valid_user_name`).
pub fn check_name(name: &str) -> Result<(), String> {
    let hint = "use lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters";
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = name
        .trim_end_matches('$')
        .chars()
        .skip(1)
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= 32 { Ok(()) } else { Err(format!("invalid name {name:?}: {hint}")) }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for Principal {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
            return text.parse().map(Self::Id).map_err(|_| format!("id {text} is too large"));
        }
        check_name(text).map(|()| Self::Name(text.to_owned()))
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => serializer.serialize_u32(*id),
            Self::Name(name) => serializer.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(id) => Ok(Self::Id(id)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!("postgres".parse::<Principal>().unwrap(), Principal::Name("postgres".into()));
        assert_eq!("2100".parse::<Principal>().unwrap(), Principal::Id(2100));
        assert!("Postgres".parse::<Principal>().is_err());
        assert!("a b".parse::<Principal>().is_err());
        assert!("-x".parse::<Principal>().is_err());
        assert!("clickhouse-server".parse::<Principal>().is_ok());
    }
}
