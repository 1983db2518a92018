//! Identifier normalisation (docs/semantics.md 2.1): one function per kind, used on
//! every write and every lookup, so that every rendering of one phone number or mailbox
//! is one key.
//!
//! - `fast_path`: canonical E.164 that libphonenumber would keep, without the library.
//! - `phone`: everything else about phone numbers, through the library.
//! - `equivalence`: forms of one number that networks deliver differently.
//! - `email`: mailboxes.
//! - `text`: NFC and invisible characters, for external ids and names too.

mod email;
mod equivalence;
mod fast_path;
mod phone;
mod phone_plan;
mod text;

use std::borrow::Cow;

use rlibphonenumber::Region;

pub use equivalence::PhoneEquivalences;
pub(crate) use text::{is_invisible, nfc};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::types::IdentifierKind;

const MAX_EXTERNAL_ID_BYTES: usize = 255;

/// What normalising one raw value produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalized<'a> {
    /// A usable, normalised value (borrowed when the input was already canonical).
    Value(Cow<'a, str>),
    /// Empty or whitespace only: the value is absent.
    Blank,
    /// A value that names nobody: absent, and reported back as ignored.
    Junk(IgnoreReason),
}

/// Why a value was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// On the junk list (`null`, `unknown`, ...), or only zeros (`0000000000`,
    /// `+1 000 000 0000`).
    JunkValue,
    /// A placeholder a voice or SMS platform sends for a withheld or unknown caller
    /// (`+266696687`, `sip:anonymous@anonymous.invalid`).
    WithheldCallerId,
}

impl IgnoreReason {
    /// The reason as it appears in `ignored[].reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::JunkValue => "junk_value",
            IgnoreReason::WithheldCallerId => "withheld_caller_id",
        }
    }
}

/// Normalises identifier values according to a [`Config`].
#[derive(Clone, Debug)]
pub struct Normalizer {
    region: Option<Region>,
    strict: bool,
    /// Lower-cased and trimmed, so a lookup is one comparison per entry.
    junk: Vec<String>,
    zeros_and_dashes: bool,
    /// Placeholder numbers, in E.164.
    junk_numbers: Vec<String>,
    /// The few of them the fast path would otherwise accept (most are not possible
    /// numbers at all), so a hit compares against these alone.
    fast_junk_numbers: Vec<String>,
    /// Whether a junk value could look like a canonical number (`+...` or digits);
    /// the fast path skips the junk list otherwise.
    junk_looks_numeric: bool,
    equivalences: PhoneEquivalences,
    email: email::EmailRules,
}

impl Normalizer {
    /// A normaliser for `config`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the setting (`config.default_region`,
    /// `config.junk_phone_numbers`) when it is not usable.
    pub fn new(config: &Config) -> Result<Self> {
        warm_up();
        let region = config
            .default_region
            .as_deref()
            .map(parse_region)
            .transpose()?;
        let mut junk_numbers = Vec::with_capacity(config.junk_phone_numbers.len());
        for number in &config.junk_phone_numbers {
            let compact: String = number
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
                .collect();
            if !fast_path::is_e164_shaped(&compact) {
                return Err(Error::invalid(
                    "config.junk_phone_numbers",
                    format!("{number:?} is not a number in E.164 form (+ and digits)"),
                ));
            }
            junk_numbers.push(compact);
        }
        let fast_junk_numbers = junk_numbers
            .iter()
            .filter(|n| fast_path::library_keeps(n).is_some())
            .cloned()
            .collect();
        let junk: Vec<String> = config
            .junk_values
            .iter()
            .map(|v| v.trim().to_lowercase())
            .collect();
        let junk_looks_numeric = junk
            .iter()
            .any(|j| j.starts_with(|c: char| c == '+' || c.is_ascii_digit()));
        Ok(Normalizer {
            region,
            fast_junk_numbers,
            junk_looks_numeric,
            strict: config.strict_phone_validation,
            junk,
            zeros_and_dashes: config.junk_zeros_and_dashes,
            junk_numbers,
            equivalences: config.phone_equivalences.clone(),
            email: email::EmailRules {
                local_domains: config.email_local_domains,
            },
        })
    }

    /// Normalises `raw` as an identifier of `kind`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the kind's field (`phone_number`, `email`,
    /// `external_id`) when the value is neither blank, junk nor valid.
    pub fn normalize<'a>(&self, kind: IdentifierKind, raw: &'a str) -> Result<Normalized<'a>> {
        // The fast path first: canonical E.164 is by far the commonest input on the
        // hot path, and it costs no allocation.
        if kind == IdentifierKind::PhoneNumber && self.takes_fast_path(raw) {
            return Ok(Normalized::Value(Cow::Borrowed(raw)));
        }
        let trimmed = match kind {
            IdentifierKind::PhoneNumber => text::trim_invisible(raw),
            IdentifierKind::Email | IdentifierKind::ExternalId => raw.trim(),
        };
        if trimmed.is_empty() {
            return Ok(Normalized::Blank);
        }
        if self.is_junk(trimmed) {
            return Ok(Normalized::Junk(IgnoreReason::JunkValue));
        }
        match kind {
            IdentifierKind::PhoneNumber => self.phone_slow(trimmed),
            IdentifierKind::Email => email::normalize(trimmed, self.email).map(Normalized::Value),
            IdentifierKind::ExternalId => external_id(trimmed).map(Normalized::Value),
        }
    }

    /// Whether `raw` is a phone number the fast path returns as it is: canonical E.164
    /// that libphonenumber would keep and call possible, which no equivalence rule or
    /// junk entry touches. Strict mode never takes it: only the library knows validity.
    fn takes_fast_path(&self, raw: &str) -> bool {
        if self.strict {
            return false;
        }
        let Some((code, national)) = fast_path::library_keeps(raw) else {
            return false;
        };
        let rewritten = self.equivalences.may_apply(code, national);
        let placeholder = self.fast_junk_numbers.iter().any(|j| j == raw);
        let junk = self.junk_looks_numeric && self.is_junk(raw);
        !(rewritten || placeholder || junk)
    }

    fn is_junk(&self, trimmed: &str) -> bool {
        if self.zeros_and_dashes && trimmed.bytes().all(|b| b == b'0' || b == b'-') {
            return true;
        }
        // Junk entries are short lower-case words: ASCII input compares without
        // allocating, which keeps this cheap on every call.
        if self.junk.iter().any(|j| j.eq_ignore_ascii_case(trimmed)) {
            return true;
        }
        !trimmed.is_ascii() && {
            let lower = trimmed.to_lowercase();
            self.junk.contains(&lower)
        }
    }
}

/// The region of `config.default_region`, case-insensitively.
pub(crate) fn parse_region(code: &str) -> Result<Region> {
    let upper = code.trim().to_ascii_uppercase();
    // Any two letters parse as a `Region`; only those with metadata are regions.
    match upper.parse::<Region>() {
        Ok(region)
            if upper.len() == 2
                && rlibphonenumber::PHONE_NUMBER_UTIL
                    .get_country_code_for_region(region)
                    .is_some() =>
        {
            Ok(region)
        }
        _ => Err(Error::invalid(
            "config.default_region",
            format!("{code:?} is not an ISO 3166 region the phone library knows (e.g. \"US\")"),
        )),
    }
}

/// Loads the phone library's metadata and the fast-path table now rather than on the
/// first request. Called by [`Normalizer::new`].
fn warm_up() {
    fast_path::plans();
    let _ = rlibphonenumber::PHONE_NUMBER_UTIL.parse("+14155550192", None);
}

/// An external id: opaque and case-sensitive, in NFC, without control or invisible
/// characters (docs/semantics.md 2.1).
fn external_id(trimmed: &str) -> Result<Cow<'_, str>> {
    const FIELD: &str = "external_id";
    if let Some(c) = trimmed
        .chars()
        .find(|&c| c.is_control() || is_invisible(c) || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(Error::invalid(
            FIELD,
            format!(
                "contains {}; an external id has no control or invisible characters",
                text::describe(c)
            ),
        ));
    }
    let value = nfc(trimmed);
    if value.len() > MAX_EXTERNAL_ID_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!("is longer than {MAX_EXTERNAL_ID_BYTES} bytes"),
        ));
    }
    Ok(value)
}

/// Hooks for the corpus, agreement and fuzz tests; not part of the API.
#[doc(hidden)]
pub mod testing {
    use rlibphonenumber::{NumberLengthType, PHONE_NUMBER_UTIL, PhoneNumberFormat};

    use super::Normalizer;

    /// What libphonenumber itself makes of `text` read in `region` (an ISO code, or
    /// `None`): its E.164, whether it is a possible full number, and whether it is
    /// valid; `None` when it does not parse.
    pub fn library(text: &str, region: Option<&str>) -> Option<(String, bool, bool)> {
        let region = match region {
            Some(r) => Some(super::parse_region(r).ok()?),
            None => None,
        };
        let n = PHONE_NUMBER_UTIL.parse(text, region).ok()?;
        let possible = matches!(
            n.is_possible_with_reason(),
            Ok(NumberLengthType::IsPossible)
        );
        Some((
            n.format_as(PhoneNumberFormat::E164).into_owned(),
            possible,
            n.is_valid(),
        ))
    }

    /// Whether `normalizer` answers `raw` on the fast path.
    pub fn takes_fast_path(normalizer: &Normalizer, raw: &str) -> bool {
        normalizer.takes_fast_path(raw)
    }

    /// Whether `s` has the shape of a key: `+` and 2 to 20 digits, the first 1-9.
    pub fn is_e164_shaped(s: &str) -> bool {
        super::fast_path::is_e164_shaped(s)
    }

    /// The libphonenumber metadata version the fast path's table and the corpus come
    /// from.
    pub const METADATA_VERSION: &str = super::phone_plan::METADATA_VERSION;

    /// The possible full-number lengths the fast path's table records for `code`, as a
    /// bit mask (bit `n`: `n` digits after the calling code), for checking the table
    /// against the library.
    pub fn table_lengths(code: u16) -> Option<u32> {
        super::fast_path::plans().full_lengths(code)
    }

    /// The same mask asked of the library: its possibility check depends on the length
    /// of the national number alone, so one number of each length answers it.
    pub fn library_lengths(code: u16) -> u32 {
        let mut mask = 0;
        for len in 1..=19u32 {
            let n = rlibphonenumber::PhoneNumber {
                country_code: i32::from(code),
                national_number: 5 * 10u64.pow(len - 1),
                ..rlibphonenumber::PhoneNumber::default()
            };
            if matches!(
                n.is_possible_with_reason(),
                Ok(NumberLengthType::IsPossible)
            ) {
                mask |= 1 << len;
            }
        }
        mask
    }

    /// Every calling code the library knows.
    pub fn library_codes() -> Vec<u16> {
        let mut codes: Vec<u16> = PHONE_NUMBER_UTIL
            .get_supported_calling_codes()
            .filter_map(|c| u16::try_from(c).ok())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// Every calling code the fast path's table knows.
    pub fn table_codes() -> Vec<u16> {
        (1..1000).filter(|c| table_lengths(*c).is_some()).collect()
    }
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
                Normalized::Junk(r) => Normalized::Junk(r),
            })
    }

    fn phone(config: &Config, raw: &str) -> Result<Normalized<'static>> {
        n(config, IdentifierKind::PhoneNumber, raw)
    }

    fn value(s: &str) -> Normalized<'static> {
        Normalized::Value(Cow::Owned(s.to_owned()))
    }

    fn reason(r: Result<Normalized<'_>>, field: &str) -> String {
        match r {
            Err(Error::InvalidInput { field: f, reason }) => {
                assert_eq!(f, field);
                reason.into_owned()
            }
            other => panic!("expected an error on {field}, got {other:?}"),
        }
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
            "+1 1 415 555 0192",
            "+1\u{a0}415\u{2013}555\u{2014}0192",
            "\u{ff0b}\u{ff11}\u{ff14}\u{ff11}\u{ff15}\u{ff15}\u{ff15}\u{ff15}\u{ff10}\u{ff11}\u{ff19}\u{ff12}",
            "\u{feff}+14155550192\u{200b}",
            "(+1) 415 555 0192",
        ] {
            assert_eq!(phone(&c, raw).unwrap(), value("+14155550192"), "{raw:?}");
        }
    }

    #[test]
    fn trunk_prefixes_go_only_where_libphonenumber_drops_them() {
        let c = Config::default();
        for (raw, key) in [
            ("+44 (0)20 7946 0958", "+442079460958"),
            ("+78121465385", "+78121465385"),
            ("+7 800 555 35 35", "+78005553535"),
            ("+375 801 123 4567", "+3758011234567"),
            ("+25006026620", "+25006026620"),
            ("+81006642246549", "+81006642246549"),
        ] {
            assert_eq!(phone(&c, raw).unwrap(), value(key), "{raw}");
        }
        // Two Lithuanian numbers stay two keys.
        assert_ne!(
            phone(&c, "+370 800 12 345").unwrap(),
            phone(&c, "+370 808 12 345").unwrap()
        );
    }

    #[test]
    fn national_numbers_use_the_regions_own_prefixes() {
        let plain = Config::default();
        assert!(reason(phone(&plain, "(415) 555-0192"), "phone_number").contains("country code"));
        let us = Config::default().with_default_region("us");
        assert_eq!(phone(&us, "(415) 555-0192").unwrap(), value("+14155550192"));
        assert_eq!(
            phone(&us, "011 44 20 7946 0958").unwrap(),
            value("+442079460958")
        );
        let au = Config::default().with_default_region("AU");
        assert_eq!(
            phone(&au, "0011 44 20 7946 0958").unwrap(),
            value("+442079460958")
        );
        let gb = Config::default().with_default_region("GB");
        assert_eq!(phone(&gb, "07911 123456").unwrap(), value("+447911123456"));
        // A local number without its area code is not a key.
        assert!(reason(phone(&us, "555-0192"), "phone_number").contains("area code"));
        // `00` is not how numbers leave North America: libphonenumber reads it as
        // national there, and the refusal says so and shows the + form.
        assert_eq!(
            phone(&gb, "00 1 415 555 0192").unwrap(),
            value("+14155550192")
        );
        let why = reason(phone(&us, "00 44 20 7946 0958"), "phone_number");
        assert!(
            why.contains("not the international prefix") && why.contains("+442079460958"),
            "{why}"
        );
    }

    #[test]
    fn withheld_callers_and_zeros_are_ignored() {
        let c = Config::default();
        for raw in [
            "+266696687",
            "266696687",
            "+1 737 874 2833",
            "+7378742833",
            "+2562533",
            "+8656696",
            "+86282452253",
            "sip:anonymous@anonymous.invalid",
            "sip:Restricted@10.0.0.1",
        ] {
            assert_eq!(
                phone(&c, raw).unwrap(),
                Normalized::Junk(IgnoreReason::WithheldCallerId),
                "{raw}"
            );
        }
        for raw in [
            "+10000000000",
            "+1 (000) 000-0000",
            "0000000000",
            "(000) 000 0000",
            "Anonymous",
            "RESTRICTED",
        ] {
            assert_eq!(
                phone(&c, raw).unwrap(),
                Normalized::Junk(IgnoreReason::JunkValue),
                "{raw}"
            );
        }
        let custom = Config::default().with_junk_phone_numbers(["+1 415 555 0100"]);
        assert_eq!(
            phone(&custom, "+14155550100").unwrap(),
            Normalized::Junk(IgnoreReason::WithheldCallerId)
        );
        assert!(
            Normalizer::new(&Config::default().with_junk_phone_numbers(["anonymous"])).is_err()
        );
    }

    #[test]
    fn extensions_letters_and_parameters_are_refused_clearly() {
        let c = Config::default();
        for raw in [
            "+1 415 555 0192 ext. 123",
            "+1 415 555 0192 x123",
            "+1 415 555 0192 #123",
            "tel:+1-415-555-0192;ext=123",
        ] {
            assert!(
                reason(phone(&c, raw), "phone_number").contains("extension"),
                "{raw}"
            );
        }
        assert!(reason(phone(&c, "+1 800 FLOWERS"), "phone_number").contains("letters"));
        assert!(
            reason(phone(&c, "+1 415 555 0192;phone-context=x"), "phone_number")
                .contains("RFC 3966")
        );
        assert!(reason(phone(&c, "+1 415 * 555"), "phone_number").contains("'*'"));
        let short = reason(phone(&c, "+1 415 555 019"), "phone_number");
        assert!(
            short.contains("9 digits") && short.contains("10"),
            "{short}"
        );
    }

    #[test]
    fn equivalent_forms_fold_and_can_be_switched_off() {
        let c = Config::default();
        for (raw, key) in [
            ("+52 1 55 1234 5678", "+525512345678"),
            ("+54 9 11 2345 6789", "+541123456789"),
            ("+55 11 8765 4321", "+5511987654321"),
            ("+229 97 00 00 00", "+2290197000000"),
        ] {
            assert_eq!(phone(&c, raw).unwrap(), value(key), "{raw}");
        }
        // A Brazilian landline never gains a ninth digit.
        assert_eq!(
            phone(&c, "+55 11 3456 7890").unwrap(),
            value("+551134567890")
        );
        let off = Config::default().with_phone_equivalences(PhoneEquivalences::none());
        assert_eq!(
            phone(&off, "+54 9 11 2345 6789").unwrap(),
            value("+5491123456789")
        );
        assert!(phone(&off, "+52 1 55 1234 5678").is_err());
    }

    #[test]
    fn canonical_phone_is_borrowed() {
        let norm = Normalizer::new(&Config::default()).unwrap();
        assert!(matches!(
            norm.normalize(IdentifierKind::PhoneNumber, "+14155550192")
                .unwrap(),
            Normalized::Value(Cow::Borrowed(_))
        ));
        for raw in [
            "+810312345678",
            "+4402079460958",
            "+11234567890",
            "+390612345678",
            "+78005553535",
            "+5491123456789",
            "+17378742833",
        ] {
            assert!(!norm.takes_fast_path(raw), "{raw}");
        }
        for raw in [
            "+14155550192",
            "+447911123456",
            "+4930123456",
            "+5511912345678",
            "+541123456789",
        ] {
            assert!(norm.takes_fast_path(raw), "{raw}");
        }
        let strict =
            Normalizer::new(&Config::default().with_strict_phone_validation(true)).unwrap();
        assert!(!strict.takes_fast_path("+14155550192"));
    }

    #[test]
    fn strict_mode_rejects_unassigned_ranges() {
        let lenient = Config::default();
        assert!(phone(&lenient, "+44 7700 900123").is_ok());
        let strict = Config::default().with_strict_phone_validation(true);
        assert!(phone(&strict, "+44 7700 900123").is_err());
        assert!(phone(&strict, "+44 7911 123456").is_ok());
    }

    #[test]
    fn bad_phones_name_the_field() {
        let c = Config::default();
        for raw in [
            "12",
            "+0123456789",
            "+1",
            &"9".repeat(200),
            "a\0b",
            "+82 0007123457",
            "++1415",
        ] {
            reason(phone(&c, raw), "phone_number");
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
            "private",
        ] {
            for kind in IdentifierKind::ALL {
                assert_eq!(
                    n(&c, kind, raw).unwrap(),
                    Normalized::Junk(IgnoreReason::JunkValue),
                    "{kind} {raw}"
                );
            }
        }
        for raw in ["", "   ", "\t\n"] {
            for kind in IdentifierKind::ALL {
                assert_eq!(n(&c, kind, raw).unwrap(), Normalized::Blank);
            }
        }
        let custom = Config::default().with_junk_values(["void", "NIEMAND", "ÄRGER"]);
        assert_eq!(
            n(&custom, IdentifierKind::ExternalId, "VOID").unwrap(),
            Normalized::Junk(IgnoreReason::JunkValue)
        );
        assert_eq!(
            n(&custom, IdentifierKind::ExternalId, "ärger").unwrap(),
            Normalized::Junk(IgnoreReason::JunkValue)
        );
        assert_eq!(
            n(&custom, IdentifierKind::ExternalId, "null").unwrap(),
            value("null")
        );
    }

    #[test]
    fn emails() {
        let c = Config::default();
        let email = |raw: &str| n(&c, IdentifierKind::Email, raw);
        assert_eq!(
            email(" Sarah@Example.COM ").unwrap(),
            value("sarah@example.com")
        );
        assert_eq!(
            email("user@xn--mnchen-3ya.de").unwrap(),
            value("user@münchen.de")
        );
        assert_eq!(email("USER@MÜNCHEN.DE").unwrap(), value("user@münchen.de"));
        assert_eq!(
            email("jose\u{301}@example.com").unwrap(),
            email("jos\u{e9}@example.com").unwrap()
        );
        assert_eq!(
            email("ｓａｒａｈ＠ｅｘａｍｐｌｅ．ｃｏｍ").unwrap(),
            value("sarah@example.com")
        );
        assert_eq!(
            email("Sarah Chen <Sarah@Example.com>").unwrap(),
            value("sarah@example.com")
        );
        assert_eq!(
            email("mailto:sarah@example.com").unwrap(),
            value("sarah@example.com")
        );
        for raw in [
            "a..x@example.com",
            ".sarah@example.com",
            "user@example..com",
            "user@-example.com",
            "user@exa_mple.com",
            "user@localhost",
            "user\u{202e}@example.com",
            "\"john doe\"@example.com",
            "no-at",
            &format!("{}@example.com", "a".repeat(65)),
        ] {
            reason(email(raw), "email");
        }
    }

    #[test]
    fn external_ids_are_nfc_and_visible() {
        let c = Config::default();
        let ext = |raw: &str| n(&c, IdentifierKind::ExternalId, raw);
        assert_eq!(ext("  U-1 ").unwrap(), value("U-1"));
        assert_eq!(ext("u-1").unwrap(), value("u-1"));
        assert_eq!(ext("jose\u{301}").unwrap(), value("jos\u{e9}"));
        for raw in [
            "a\u{0}b",
            "x\u{1b}y",
            &"x".repeat(256),
            "u-1\u{200b}",
            "\u{feff}u-1",
            "u\u{ad}1",
            "u\u{202e}1",
        ] {
            reason(ext(raw), "external_id");
        }
        assert!(ext(&"é".repeat(127)).is_ok());
    }

    #[test]
    fn regions_are_checked() {
        assert!(Normalizer::new(&Config::default().with_default_region("gb")).is_ok());
        for bad in ["XX", "USA", "001", "ZZ", ""] {
            let err = Normalizer::new(&Config::default().with_default_region(bad)).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { ref field, .. } if field == "config.default_region"),
                "{bad}"
            );
        }
    }
}
