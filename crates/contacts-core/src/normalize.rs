//! Identifier normalisation (SPEC 2.1): one function per kind, used on every write and
//! every lookup, so that `Sarah@Example.com ` and `sarah@example.com` are one key.

use std::borrow::Cow;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::types::IdentifierKind;

/// Longest raw phone input handed to the parsing library. Real numbers with
/// separators fit easily; the cap keeps pathological input away from the parser.
const MAX_RAW_PHONE_BYTES: usize = 64;
const MAX_EMAIL_BYTES: usize = 254;
const MAX_EMAIL_LOCAL_BYTES: usize = 64;
const MAX_EXTERNAL_ID_BYTES: usize = 255;

/// What normalising one raw value produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalized<'a> {
    /// A usable, normalised value (borrowed when the input was already canonical).
    Value(Cow<'a, str>),
    /// Empty or whitespace only: the value is absent.
    Blank,
    /// A junk value (`null`, `0000000000`, ...): absent, and reported as ignored.
    Junk,
}

/// Normalises identifier values according to a [`Config`].
#[derive(Clone, Debug)]
pub struct Normalizer {
    region: Option<phonenumber::country::Id>,
    strict: bool,
    /// Lower-cased and trimmed, so a lookup is one comparison per entry.
    junk: Vec<String>,
    zeros_and_dashes: bool,
}

impl Normalizer {
    /// A normaliser for `config`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (`config.default_region`) for an unknown region.
    pub fn new(config: &Config) -> Result<Self> {
        warm_up();
        let region = match &config.default_region {
            None => None,
            Some(r) => Some(r.parse::<phonenumber::country::Id>().map_err(|_| {
                Error::invalid("config.default_region", format!("unknown region {r:?}"))
            })?),
        };
        Ok(Normalizer {
            region,
            strict: config.strict_phone_validation,
            junk: config
                .junk_values
                .iter()
                .map(|v| v.trim().to_lowercase())
                .collect(),
            zeros_and_dashes: config.junk_zeros_and_dashes,
        })
    }

    /// Normalises `raw` as an identifier of `kind`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the kind's field (`phone_number`, `email`,
    /// `external_id`) when the value is neither blank, junk nor valid.
    pub fn normalize<'a>(&self, kind: IdentifierKind, raw: &'a str) -> Result<Normalized<'a>> {
        // Fast path first: a canonical E.164 number is by far the commonest input on
        // the hot path. It is neither blank nor junk (its first digit is 1-9), and
        // `takes_fast_path` proves the library would return it unchanged.
        if kind == IdentifierKind::PhoneNumber
            && !self.strict
            && takes_fast_path(raw)
            && !self.is_junk(raw)
        {
            return Ok(Normalized::Value(Cow::Borrowed(raw)));
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Normalized::Blank);
        }
        if self.is_junk(trimmed) {
            return Ok(Normalized::Junk);
        }
        match kind {
            IdentifierKind::PhoneNumber => self.phone(trimmed),
            IdentifierKind::Email => email(trimmed),
            IdentifierKind::ExternalId => external_id(trimmed),
        }
    }

    fn is_junk(&self, trimmed: &str) -> bool {
        if self.zeros_and_dashes && trimmed.bytes().all(|b| b == b'0' || b == b'-') {
            return true;
        }
        // Junk entries are short ASCII words; comparing case-insensitively without
        // allocating keeps this cheap on every call.
        self.junk.iter().any(|j| j.eq_ignore_ascii_case(trimmed))
    }

    fn phone<'a>(&self, trimmed: &str) -> Result<Normalized<'a>> {
        const FIELD: &str = "phone_number";
        if trimmed.len() > MAX_RAW_PHONE_BYTES {
            return Err(Error::invalid(
                FIELD,
                format!("longer than {MAX_RAW_PHONE_BYTES} bytes"),
            ));
        }
        let body = strip_prefix_ignore_case(trimmed, "tel:").trim_start();
        let mut compact = String::with_capacity(body.len());
        for (i, c) in body.chars().enumerate() {
            match c {
                '0'..='9' => compact.push(c),
                '+' if i == 0 => compact.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' | '\t' => {}
                _ => {
                    return Err(Error::invalid(
                        FIELD,
                        "may contain only digits, a leading '+', and the separators \
                         space - . ( ) /",
                    ));
                }
            }
        }
        if self.zeros_and_dashes && compact.bytes().all(|b| b == b'0') {
            return Ok(Normalized::Junk);
        }
        // The library gets the compact form: separators carry no meaning, and it
        // mis-reads some placements (a separator inside the country code). A written
        // trunk prefix such as `+44 (0) 20` survives as `+44020...`, which the
        // library's national-prefix rules strip as they should.
        let international = if let Some(rest) = compact.strip_prefix("00") {
            Some(format!("+{rest}"))
        } else if compact.starts_with('+') {
            Some(compact.clone())
        } else {
            None
        };
        let (text, region) = match (international, self.region) {
            (Some(text), _) => (text, None),
            (None, Some(region)) => (compact, Some(region)),
            (None, None) => {
                return Err(Error::invalid(
                    FIELD,
                    "has no country code (start it with + or 00) and no default region \
                     is configured",
                ));
            }
        };
        let mut e164 = parse_with_library(&text, region, self.strict)
            .map_err(|reason| Error::invalid(FIELD, reason))?;
        // The stored value must be a fixed point: normalising it again must give it
        // back, or one number would live under two keys. The library is not always
        // idempotent (`0082 00 07123457` gives `+8207123457`, whose national part
        // starts with a trunk `0` the library strips on the next pass), so parse the
        // result again until it settles; it only ever loses digits, so this ends fast.
        for _ in 0..4 {
            if !self.strict && takes_fast_path(&e164) {
                return Ok(Normalized::Value(Cow::Owned(e164)));
            }
            let again = parse_with_library(&e164, None, self.strict)
                .map_err(|reason| Error::invalid(FIELD, reason))?;
            if again == e164 {
                return Ok(Normalized::Value(Cow::Owned(e164)));
            }
            e164 = again;
        }
        Err(Error::invalid(
            FIELD,
            "is ambiguous: its digits change each time they are parsed",
        ))
    }
}

/// Whether `s` is already canonical E.164: `+`, then 7 to 15 digits, the first 1-9.
pub fn is_canonical_e164(s: &str) -> bool {
    let b = s.as_bytes();
    (8..=16).contains(&b.len())
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// What the fast path needs to know about the numbering plans, built once from the
/// phone library's own metadata.
struct PlanTable {
    /// Indexed by country calling code (1 to 999): `None` if unassigned; otherwise a
    /// pattern matching, at the start of a national number, anything the library
    /// might strip or rewrite there (a national prefix such as `0` or `1`, a carrier
    /// code, a "national prefix for parsing" rule). `Some(None)` when there is none.
    codes: Vec<Option<Option<regex::Regex>>>,
}

fn plan_table() -> &'static PlanTable {
    static TABLE: std::sync::OnceLock<PlanTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let db = &*phonenumber::metadata::DATABASE;
        let codes = (0u16..1000)
            .map(|code| {
                let regions = db.by_code(&code)?;
                let mut alternatives: Vec<String> = Vec::new();
                for m in regions {
                    if let Some(np) = m.national_prefix() {
                        alternatives.push(regex::escape(np));
                    }
                    if let Some(npp) = m.national_prefix_for_parsing() {
                        alternatives.push(npp.as_str().to_owned());
                    }
                }
                if alternatives.is_empty() {
                    return Some(None);
                }
                let pattern = format!("^(?:{})", alternatives.join("|"));
                // The library compiled these patterns itself; if one ever failed to
                // compile here, every number of this code would simply take the slow
                // path (an unassigned code is never fast).
                regex::RegexBuilder::new(&pattern)
                    .ignore_whitespace(true)
                    .build()
                    .ok()
                    .map(Some)
            })
            .collect();
        PlanTable { codes }
    })
}

/// Loads the phone library's metadata and builds the fast-path table now rather than
/// on the first request (about 100 ms). Called by [`Normalizer::new`].
fn warm_up() {
    plan_table();
}

/// Whether `s` skips the phone library: it is canonical E.164 (see
/// [`is_canonical_e164`]), its country code is assigned: its country code is assigned,
/// and its national part starts with nothing the library would strip or rewrite (no
/// leading `0`, no national prefix, no match of a prefix-for-parsing rule). Anything
/// else takes the slow path, so the two paths can never store one number under two
/// keys (for example `+8103...` and `+813...`).
pub fn takes_fast_path(s: &str) -> bool {
    if !is_canonical_e164(s) {
        return false;
    }
    let digits = &s[1..];
    let table = plan_table();
    // Assigned country codes form a prefix code, so the first assigned prefix is the
    // code.
    for len in 1..=3 {
        let code: usize = digits[..len].parse().unwrap_or(0);
        if let Some(rule) = &table.codes[code] {
            let national = &digits[len..];
            return !national.starts_with('0')
                && rule.as_ref().is_none_or(|re| !re.is_match(national));
        }
    }
    false
}

/// Parses `text` with the `phonenumber` library (reading national numbers in
/// `region`) and formats it as E.164. This is the slow path; the fast path
/// ([`is_canonical_e164`]) must agree with it wherever both accept.
///
/// # Errors
/// A description of why the library refused the number, or why its result is not a
/// usable E.164 number.
pub fn parse_with_library(
    text: &str,
    region: Option<phonenumber::country::Id>,
    strict: bool,
) -> std::result::Result<String, String> {
    // The library has had panics on crafted input (two published advisories); an
    // engine call must never panic, so a panic here is turned into a rejection.
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(region, text))
        .map_err(|_| "could not be parsed as a phone number".to_owned())?
        .map_err(|e| format!("is not a phone number ({e})"))?;
    if strict && !phonenumber::is_valid(&parsed) {
        return Err("is not a valid number in its country's numbering plan".to_owned());
    }
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    if !is_canonical_e164(&e164) {
        return Err("does not have 7 to 15 digits after the country code".to_owned());
    }
    Ok(e164)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> &'a str {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
        _ => s,
    }
}

fn email<'a>(trimmed: &str) -> Result<Normalized<'a>> {
    const FIELD: &str = "email";
    if trimmed.len() > MAX_EMAIL_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!("longer than {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            FIELD,
            "contains whitespace or control characters",
        ));
    }
    let lower = trimmed.to_lowercase();
    let Some((local, domain)) = lower.split_once('@') else {
        return Err(Error::invalid(FIELD, "must contain exactly one '@'"));
    };
    if domain.contains('@') {
        return Err(Error::invalid(FIELD, "must contain exactly one '@'"));
    }
    if local.is_empty() || domain.is_empty() {
        return Err(Error::invalid(
            FIELD,
            "needs a local part and a domain around the '@'",
        ));
    }
    if local.len() > MAX_EMAIL_LOCAL_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!("local part longer than {MAX_EMAIL_LOCAL_BYTES} bytes"),
        ));
    }
    // Lower-casing can lengthen some non-ASCII text.
    if lower.len() > MAX_EMAIL_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!("longer than {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    Ok(Normalized::Value(Cow::Owned(lower)))
}

fn external_id(trimmed: &str) -> Result<Normalized<'_>> {
    const FIELD: &str = "external_id";
    if trimmed.len() > MAX_EXTERNAL_ID_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!("longer than {MAX_EXTERNAL_ID_BYTES} bytes"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(FIELD, "contains control characters"));
    }
    Ok(Normalized::Value(Cow::Borrowed(trimmed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(config: &Config, kind: IdentifierKind, raw: &str) -> Result<Normalized<'static>> {
        Normalizer::new(config)?
            .normalize(kind, raw)
            .map(|v| match v {
                Normalized::Value(c) => Normalized::Value(Cow::Owned(c.into_owned())),
                Normalized::Blank => Normalized::Blank,
                Normalized::Junk => Normalized::Junk,
            })
    }

    fn value(s: &str) -> Normalized<'static> {
        Normalized::Value(Cow::Owned(s.to_owned()))
    }

    #[test]
    fn phone_forms_reach_one_canonical_value() {
        let c = Config::default();
        for raw in [
            "+14155550192",
            "+1 (415) 555-0192",
            "+1.415.555.0192",
            "tel:+1-415-555-0192",
            "TEL:+14155550192",
            "001 415 555 0192",
            "  +1 415 555 0192  ",
            "+1/415/555/0192",
        ] {
            assert_eq!(
                n(&c, IdentifierKind::PhoneNumber, raw).unwrap(),
                value("+14155550192"),
                "{raw}"
            );
        }
    }

    #[test]
    fn national_numbers_need_a_default_region() {
        let plain = Config::default();
        let err = n(&plain, IdentifierKind::PhoneNumber, "(415) 555-0192").unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "phone_number"));
        let us = Config::default().with_default_region("US");
        assert_eq!(
            n(&us, IdentifierKind::PhoneNumber, "(415) 555-0192").unwrap(),
            value("+14155550192")
        );
        // The written trunk prefix of `+44 (0) ...` is dropped.
        assert_eq!(
            n(&plain, IdentifierKind::PhoneNumber, "+44 (0) 7911 123456").unwrap(),
            value("+447911123456")
        );
        let gb = Config::default().with_default_region("GB");
        assert_eq!(
            n(&gb, IdentifierKind::PhoneNumber, "07911 123456").unwrap(),
            value("+447911123456")
        );
    }

    /// Found by the `phone` fuzz target: the library turned `0082-00-07123457` into
    /// `+8207123457`, and that into `+827123457` on a second pass. Stored values must be
    /// fixed points.
    #[test]
    fn normalised_phones_are_fixed_points() {
        let c = Config::default();
        let first = n(&c, IdentifierKind::PhoneNumber, "0082-00-07123457").unwrap();
        let Normalized::Value(v) = &first else {
            panic!("{first:?}")
        };
        assert_eq!(n(&c, IdentifierKind::PhoneNumber, v).unwrap(), first);
    }

    #[test]
    fn canonical_phone_is_borrowed() {
        let norm = Normalizer::new(&Config::default()).unwrap();
        match norm
            .normalize(IdentifierKind::PhoneNumber, "+14155550192")
            .unwrap()
        {
            Normalized::Value(Cow::Borrowed(_)) => {}
            other => panic!("fast path not taken: {other:?}"),
        }
        // Numbers the library would rewrite never take the fast path.
        for raw in [
            "+810312345678",
            "+4402079460958",
            "+11234567890",
            "+390612345678",
        ] {
            assert!(!takes_fast_path(raw), "{raw}");
        }
        for raw in [
            "+14155550192",
            "+447911123456",
            "+4930123456",
            "+5511912345678",
        ] {
            assert!(takes_fast_path(raw), "{raw}");
        }
    }

    #[test]
    fn strict_mode_rejects_unassigned_ranges() {
        // Ofcom's drama range parses but is not a valid number.
        let lenient = Config::default();
        assert!(n(&lenient, IdentifierKind::PhoneNumber, "+44 7700 900123").is_ok());
        let strict = Config::default().with_strict_phone_validation(true);
        assert!(n(&strict, IdentifierKind::PhoneNumber, "+44 7700 900123").is_err());
        assert!(n(&strict, IdentifierKind::PhoneNumber, "+44 7911 123456").is_ok());
    }

    #[test]
    fn bad_phones_name_the_field() {
        let c = Config::default();
        for raw in [
            "+1 415 CALL-NOW",
            "12",
            "+0123456789",
            "+1",
            &"9".repeat(80),
            "a\0b",
        ] {
            match n(&c, IdentifierKind::PhoneNumber, raw) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "phone_number"),
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn junk_and_blank() {
        let c = Config::default();
        for raw in [
            "null",
            "NULL",
            " None ",
            "undefined",
            "nil",
            "N/A",
            "unknown",
            "Anonymous",
            "-1",
        ] {
            for kind in IdentifierKind::ALL {
                assert_eq!(n(&c, kind, raw).unwrap(), Normalized::Junk, "{kind} {raw}");
            }
        }
        for raw in ["0000000000", "000-000-0000", "0", "--", "(000) 000 0000"] {
            assert_eq!(
                n(&c, IdentifierKind::PhoneNumber, raw).unwrap(),
                Normalized::Junk,
                "{raw}"
            );
        }
        for raw in ["", "   ", "\t\n"] {
            for kind in IdentifierKind::ALL {
                assert_eq!(n(&c, kind, raw).unwrap(), Normalized::Blank);
            }
        }
        let custom = Config::default().with_junk_values(["void"]);
        assert_eq!(
            n(&custom, IdentifierKind::ExternalId, "VOID").unwrap(),
            Normalized::Junk
        );
        assert_eq!(
            n(&custom, IdentifierKind::ExternalId, "null").unwrap(),
            value("null")
        );
    }

    #[test]
    fn emails() {
        let c = Config::default();
        assert_eq!(
            n(&c, IdentifierKind::Email, " Sarah@Example.COM ").unwrap(),
            value("sarah@example.com")
        );
        assert_eq!(
            n(&c, IdentifierKind::Email, "s.a+tag@example.com").unwrap(),
            value("s.a+tag@example.com")
        );
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b".repeat(260));
        for raw in [
            "no-at",
            "a@b@c",
            "@example.com",
            "sarah@",
            "sa rah@x.com",
            "a\u{7}@x.com",
            &long_local,
            &long_total,
        ] {
            match n(&c, IdentifierKind::Email, raw) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "email"),
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn external_ids_are_case_sensitive_and_trimmed() {
        let c = Config::default();
        assert_eq!(
            n(&c, IdentifierKind::ExternalId, "  U-1 ").unwrap(),
            value("U-1")
        );
        assert_eq!(
            n(&c, IdentifierKind::ExternalId, "u-1").unwrap(),
            value("u-1")
        );
        for raw in ["a\u{0}b", "x\u{1b}y", &"x".repeat(256)] {
            match n(&c, IdentifierKind::ExternalId, raw) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "external_id"),
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
        assert!(n(&c, IdentifierKind::ExternalId, &"é".repeat(127)).is_ok());
    }
}
