//! Text rules shared by the identifier kinds and names (docs/semantics.md 2.1 and 7):
//! Unicode NFC, and the invisible characters no key may contain.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Whether `c` is an invisible format character (Unicode general category Cf: zero-width
/// spaces and joiners, the byte order mark, the soft hyphen, bidirectional marks,
/// embeddings, overrides and isolates, and the like). Two strings that differ only in
/// these look identical, so a key containing one would silently be a second key.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `c` is a private-use code point (general category Co): it has no meaning
/// outside one system's fonts.
pub(crate) fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

/// `s` in Unicode NFC, borrowed when it already is (the common case costs one scan).
pub(crate) fn nfc(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => Cow::Borrowed(s),
        _ => {
            let composed: String = s.nfc().collect();
            if composed == s {
                Cow::Borrowed(s)
            } else {
                Cow::Owned(composed)
            }
        }
    }
}

/// Trims whitespace and invisible characters from both ends, as a copy from a web page
/// or a spreadsheet leaves them.
pub(crate) fn trim_invisible(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
}

/// A display of `c` for error messages: visible characters quoted, invisible ones by
/// code point.
pub(crate) fn describe(c: char) -> String {
    if c.is_control() || is_invisible(c) || c.is_whitespace() || is_private_use(c) {
        format!("the invisible character U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}
