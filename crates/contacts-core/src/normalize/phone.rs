//! Phone numbers off the fast path (docs/semantics.md 2.1): fold the text to digits,
//! read it with libphonenumber (`rlibphonenumber`), fold equivalent forms, and keep
//! what libphonenumber calls a possible number (a valid one in strict mode) as its
//! E.164. Each number passes through the library once.

use std::borrow::Cow;
use std::fmt::Write as _;

use rlibphonenumber::{
    NumberLengthType, PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat, Region,
    ValidationError,
};

use super::fast_path::plans;
use super::{IgnoreReason, Normalized, Normalizer};
use crate::error::{Error, Result};

const FIELD: &str = "phone_number";

/// Longest raw input read at all. Real numbers with separators, even in digits of
/// other scripts (three bytes each), fit easily; the cap keeps pathological input away.
const MAX_RAW_BYTES: usize = 128;
/// Longest digit string handed to the library: an international prefix (up to four
/// digits), a calling code (three) and a national number (seventeen), with room.
const MAX_DIGITS: usize = 32;

/// The input reduced to what the library needs.
struct Compact {
    /// A leading `+` (or `＋`) was given.
    plus: bool,
    /// ASCII digits.
    digits: String,
}

impl Normalizer {
    /// The slow path for an already trimmed, non-blank, non-junk value.
    pub(super) fn phone_slow<'a>(&self, trimmed: &str) -> Result<Normalized<'a>> {
        if trimmed.len() > MAX_RAW_BYTES {
            return Err(Error::invalid(
                FIELD,
                format!("is longer than {MAX_RAW_BYTES} bytes"),
            ));
        }
        let Some(compact) = self.compact(trimmed)? else {
            return Ok(Normalized::Junk(IgnoreReason::WithheldCallerId));
        };
        if compact.digits.is_empty() {
            return Err(Error::invalid(FIELD, "has no digits"));
        }
        if compact.digits.len() > MAX_DIGITS {
            return Err(Error::invalid(
                FIELD,
                format!("has more than {MAX_DIGITS} digits"),
            ));
        }
        if !compact.plus && compact.digits.bytes().all(|b| b == b'0') {
            return Ok(Normalized::Junk(IgnoreReason::JunkValue));
        }
        // A placeholder is junk with or without its `+` (platforms' logs drop it).
        if self.is_placeholder_digits(&compact.digits) {
            return Ok(Normalized::Junk(IgnoreReason::WithheldCallerId));
        }
        let mut text = String::with_capacity(compact.digits.len() + 1);
        let region = if compact.plus {
            text.push('+');
            None
        } else if let Some(region) = self.region {
            // Read in the region, which applies its own international prefix
            // (`0011` in Australia, `011` in North America) and trunk prefix.
            Some(region)
        } else if let Some(rest) = compact.digits.strip_prefix("00") {
            // Without a region, `00` is the international prefix: the commonest one,
            // and the only one that cannot be a national number's start elsewhere.
            text.push('+');
            text.push_str(rest);
            None
        } else {
            return Err(Error::invalid(
                FIELD,
                "has no country code: start it with + (or 00), or configure a default \
                 region for national numbers",
            ));
        };
        if text.len() <= 1 {
            text.push_str(&compact.digits);
        }
        let read = parse(&text, region).and_then(|parsed| self.accept(parsed));
        match read {
            // `00` leaves the country in most of the world but not in every region
            // (`011` in North America): read there as a national number it fails, and
            // the reason alone would not say why.
            Err(Error::InvalidInput { reason, .. })
                if region.is_some() && compact.digits.starts_with("00") =>
            {
                Err(Error::invalid(
                    FIELD,
                    format!(
                        "starts with 00, which is not the international prefix of the \
                         default region (read there as a national number, it {reason}); \
                         write it with + and the country code instead, such as +{}",
                        &compact.digits[2..]
                    ),
                ))
            }
            other => other,
        }
    }

    /// Folds the text to a `+` and ASCII digits, or `None` for a SIP address of a
    /// withheld caller.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an extension, letters, RFC 3966 parameters or any
    /// other character that is not a digit or a separator.
    fn compact(&self, trimmed: &str) -> Result<Option<Compact>> {
        let body = strip_prefix_ignore_case(trimmed, "tel:").trim_start();
        if let Some(sip) = strip_prefix_ignore_case_opt(body, "sip:")
            .or_else(|| strip_prefix_ignore_case_opt(body, "sips:"))
        {
            // `sip:anonymous@anonymous.invalid` is how SIP says "withheld" (RFC 3261).
            let user = sip.split(['@', ';']).next().unwrap_or("");
            if self.is_junk(user) || sip.to_ascii_lowercase().contains("anonymous.invalid") {
                return Ok(None);
            }
            return Err(Error::invalid(
                FIELD,
                "is a SIP address; send the caller's number instead",
            ));
        }
        if let Some((_, params)) = body.split_once(';') {
            return Err(if params.to_ascii_lowercase().starts_with("ext=") {
                extension_error()
            } else {
                Error::invalid(
                    FIELD,
                    "has RFC 3966 parameters (after ';'); send the number alone",
                )
            });
        }
        let mut out = Compact {
            plus: false,
            digits: String::with_capacity(body.len()),
        };
        for (at, c) in body.char_indices() {
            if c.is_ascii_digit() {
                out.digits.push(c);
            } else if c == '+' || c == '\u{FF0B}' {
                // A plus counts only before the first digit; `(+44)` is fine.
                if out.plus || !out.digits.is_empty() {
                    return Err(Error::invalid(FIELD, "has a '+' that is not at the start"));
                }
                out.plus = true;
            } else if is_separator(c) {
            } else if let Some(d) = unicode_digit(c) {
                out.digits.push(d);
            } else if is_extension_marker(&body[at..]) {
                return Err(extension_error());
            } else if c.is_alphabetic() {
                return Err(Error::invalid(
                    FIELD,
                    "contains letters; a phone number is digits (vanity numbers such as \
                     1-800-FLOWERS are not read)",
                ));
            } else {
                return Err(Error::invalid(
                    FIELD,
                    format!(
                        "contains {}; a phone number may contain digits, a leading +, \
                         and the separators space - . / ( )",
                        super::text::describe(c)
                    ),
                ));
            }
        }
        Ok(Some(out))
    }

    /// Folds, then keeps the number if libphonenumber calls it possible (lenient) or
    /// valid (strict).
    fn accept<'a>(&self, parsed: PhoneNumber) -> Result<Normalized<'a>> {
        if parsed.extension.is_some() {
            return Err(extension_error());
        }
        // A national part of only zeros names nobody (`+1 000 000 0000`).
        if parsed.national_number == 0 {
            return Ok(Normalized::Junk(IgnoreReason::JunkValue));
        }
        let nsn = parsed.get_national_significant_number();
        let e164 = parsed.format_as(PhoneNumberFormat::E164).into_owned();
        if self.junk_numbers.contains(&e164) {
            return Ok(Normalized::Junk(IgnoreReason::WithheldCallerId));
        }
        let (number, nsn, e164) = match self.equivalences.fold(&parsed, &nsn) {
            Some(folded) => {
                let nsn = folded.get_national_significant_number();
                let e164 = folded.format_as(PhoneNumberFormat::E164).into_owned();
                (folded, nsn, e164)
            }
            None => (parsed, nsn, e164),
        };
        // A key must be a fixed point: normalising it again must give it back. An
        // invalid number whose national part starts with what its country's trunk
        // rule strips (`+82 0007123457`) reads differently each time libphonenumber
        // parses it, so it cannot be one key. Valid numbers are stable (the corpus
        // checks every one).
        if !self.strict
            && u16::try_from(number.country_code).is_ok_and(|c| plans().strips(c, &nsn))
            && !number.is_valid()
        {
            return Err(Error::invalid(
                FIELD,
                "is not a valid number, and its digits after the country code start with \
                 a trunk prefix, so it has no single reading",
            ));
        }
        if self.strict {
            if !number.is_valid() {
                return Err(Error::invalid(
                    FIELD,
                    "is not a valid number in its country's numbering plan",
                ));
            }
        } else {
            match number.is_possible_with_reason() {
                Ok(NumberLengthType::IsPossible) => {}
                Ok(NumberLengthType::IsPossibleLocalOnly) => {
                    return Err(Error::invalid(
                        FIELD,
                        "is a local number without its area code; send the full number",
                    ));
                }
                Err(reason) => return Err(length_error(&number, reason)),
            }
        }
        Ok(Normalized::Value(Cow::Owned(e164)))
    }

    fn is_placeholder_digits(&self, digits: &str) -> bool {
        let bare = digits.strip_prefix("00").unwrap_or(digits);
        self.junk_numbers
            .iter()
            .any(|j| j.strip_prefix('+') == Some(bare) || j.strip_prefix('+') == Some(digits))
    }
}

/// Reads `text` with libphonenumber.
fn parse(text: &str, region: Option<Region>) -> Result<PhoneNumber> {
    // The library must never take the engine down: a panic on crafted input (its
    // regular expressions are compiled lazily) becomes a rejection.
    let parsed = std::panic::catch_unwind(|| PHONE_NUMBER_UTIL.parse(text, region))
        .map_err(|_| Error::invalid(FIELD, "could not be read as a phone number"))?;
    parsed.map_err(|e| {
        Error::invalid(
            FIELD,
            match e {
                ParseError::InvalidCountryCode => {
                    "does not start with a country code in use (after + or 00)"
                }
                ParseError::TooShortAfterIdd => "is too short after its international prefix",
                ParseError::TooShortNsn => "is too short to be a phone number",
                ParseError::TooLongNsn => "is too long to be a phone number",
                _ => "is not a phone number",
            },
        )
    })
}

fn length_error(n: &PhoneNumber, reason: ValidationError) -> Error {
    let code = n.country_code;
    let digits = n.get_national_significant_number().len();
    let what = match reason {
        ValidationError::InvalidCountryCode => {
            return Error::invalid(FIELD, format!("has a country code not in use (+{code})"));
        }
        ValidationError::TooShort => "is too short",
        ValidationError::TooLong => "is too long",
        _ => "does not have a length in use",
    };
    let mut reason = format!("{what} for +{code}: {digits} digits after the country code");
    if let Some(lengths) = u16::try_from(code)
        .ok()
        .and_then(|c| plans().full_lengths(c))
        .filter(|l| *l != 0)
    {
        reason.push_str(", where numbers have ");
        let list: Vec<String> = (0..32)
            .filter(|b| lengths & (1 << b) != 0)
            .map(|b| b.to_string())
            .collect();
        match list.split_last() {
            Some((last, [])) => reason.push_str(last),
            Some((last, rest)) => {
                let _ = write!(reason, "{} or {last}", rest.join(", "));
            }
            None => {}
        }
    }
    Error::invalid(FIELD, reason)
}

fn extension_error() -> Error {
    Error::invalid(
        FIELD,
        "has an extension; an extension is not part of a contact's key (it names a \
         switchboard line many people share): send the number without it",
    )
}

/// The separators libphonenumber ignores inside a number (its `VALID_PUNCTUATION`,
/// less `x`, which marks extensions), plus any whitespace and the invisible format
/// characters that copying from web pages and right-to-left text leaves behind.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '.'
            | '/'
            | '('
            | ')'
            | '['
            | ']'
            | '~'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF0D}'..='\u{FF0F}'
            | '\u{FF08}'
            | '\u{FF09}'
            | '\u{FF3B}'
            | '\u{FF3D}'
            | '\u{2053}'
            | '\u{223C}'
            | '\u{FF5E}'
    ) || c.is_whitespace()
        || super::text::is_invisible(c)
}

/// The value of a decimal digit of any script, as libphonenumber reads it.
fn unicode_digit(c: char) -> Option<char> {
    if c.is_ascii() || !c.is_numeric() {
        return None;
    }
    let mut buf = [0u8; 4];
    PHONE_NUMBER_UTIL
        .normalize_digits_only(c.encode_utf8(&mut buf))
        .chars()
        .next()
}

/// Whether `rest` (from the first character that is not part of a number) starts an
/// extension: `ext`, `ext.`, `extension`, `x` or `#`, then digits.
fn is_extension_marker(rest: &str) -> bool {
    let lower = rest.to_ascii_lowercase();
    let after = ["extension", "ext.", "ext", "x", "#"]
        .iter()
        .find_map(|m| lower.strip_prefix(m));
    after.is_some_and(|tail| {
        let tail = tail.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '.');
        !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> &'a str {
    strip_prefix_ignore_case_opt(s, prefix).unwrap_or(s)
}

fn strip_prefix_ignore_case_opt<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => Some(&s[prefix.len()..]),
        _ => None,
    }
}
