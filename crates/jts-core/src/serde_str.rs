//! [`serde_via_str!`](crate::serde_via_str): serde for types written as strings in a spec.

/// Implements `Serialize` (through `Display`) and `Deserialize` (a string, through
/// `FromStr`, its error becoming serde's message) for each type given.
///
/// ```
/// use std::fmt;
///
/// #[derive(Debug, PartialEq)]
/// struct Percent(u8);
///
/// impl fmt::Display for Percent {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         write!(f, "{}%", self.0)
///     }
/// }
///
/// impl std::str::FromStr for Percent {
///     type Err = String;
///     fn from_str(text: &str) -> Result<Self, String> {
///         let digits = text.strip_suffix('%').ok_or("write it as \"20%\"")?;
///         digits.parse().map(Percent).map_err(|err| format!("{text:?}: {err}"))
///     }
/// }
///
/// jts_core::serde_via_str!(Percent);
///
/// let parsed: Percent = serde_json::from_str("\"20%\"").unwrap();
/// assert_eq!(parsed, Percent(20));
/// assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"20%\"");
/// ```
#[macro_export]
macro_rules! serde_via_str {
    ($($ty:ty),* $(,)?) => {$(
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let text = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    )*};
}
