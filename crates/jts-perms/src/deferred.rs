//! [`Deferred`]: a spec value parsed after TOML, so a bad element of an array is
//! reported at its own line and column (a parse error raised during deserialization
//! would be located at the whole array).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A value as written, and the result of parsing it. [`crate::check()`] reports the
/// errors; everything else uses [`Deferred::value`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred<T> {
    text: String,
    parsed: Result<T, String>,
}

impl<T: FromStr<Err = String>> Deferred<T> {
    /// Parses `text`.
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), parsed: text.parse() }
    }
}

impl<T> Deferred<T> {
    /// The parsed value, or `None` if it did not parse.
    pub fn value(&self) -> Option<&T> {
        self.parsed.as_ref().ok()
    }

    /// Why it did not parse.
    pub fn error(&self) -> Option<&str> {
        self.parsed.as_ref().err().map(String::as_str)
    }
}

impl<T> fmt::Display for Deferred<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de, T: FromStr<Err = String>> Deserialize<'de> for Deferred<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(number) => number.to_string(),
            Raw::Text(text) => text,
        };
        Ok(Self::new(&text))
    }
}
