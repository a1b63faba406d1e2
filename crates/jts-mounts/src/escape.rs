//! The octal escapes of fstab and mountinfo fields: space `\040`, tab `\011`, newline
//! `\012` and backslash `\134`.

/// Decodes every `\NNN` octal escape (three octal digits); anything else is kept.
///
/// ```
/// assert_eq!(jts_mounts::decode_octal(r"/srv/pg\040data"), "/srv/pg data");
/// ```
pub fn decode_octal(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d[0] <= b'3' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match digits {
            Some(d) => {
                out.push(d.iter().fold(0u8, |acc, b| acc * 8 + (b - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes space, tab, newline and backslash so the text is one fstab field.
///
/// ```
/// assert_eq!(jts_mounts::encode_octal("/srv/pg data"), r"/srv/pg\040data");
/// ```
pub fn encode_octal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn decodes_the_four_escapes_and_leaves_the_rest() {
        assert_eq!(decode_octal(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        assert_eq!(decode_octal(r"\09x\0"), r"\09x\0");
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(text in "[ -~\t\n]{0,40}") {
            let encoded = encode_octal(&text);
            prop_assert!(!encoded.contains([' ', '\t', '\n']));
            prop_assert_eq!(decode_octal(&encoded), text);
        }
    }
}
