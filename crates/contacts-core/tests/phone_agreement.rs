//! SPEC 2.1: canonical E.164 input takes a fast path that never calls the phone
//! library; wherever both accept, the fast path and the library agree.

use contacts_core::{
    Config, IdentifierKind, Normalized, Normalizer, is_canonical_e164, parse_with_library,
    takes_fast_path,
};
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    // Modest in CI; raise locally with PROPTEST_CASES.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
    )
}

/// Canonical-looking numbers, biased towards real country codes so the library
/// accepts a good share of them.
fn e164() -> impl Strategy<Value = String> {
    let cc = prop_oneof![
        Just("1".to_owned()),
        Just("44".to_owned()),
        Just("49".to_owned()),
        Just("33".to_owned()),
        Just("39".to_owned()),
        Just("55".to_owned()),
        Just("61".to_owned()),
        Just("81".to_owned()),
        Just("91".to_owned()),
        Just("234".to_owned()),
        Just("353".to_owned()),
        "[1-9][0-9]{0,2}",
    ];
    (cc, "[0-9]{6,12}").prop_filter_map("7 to 15 digits", |(cc, rest)| {
        let s = format!("+{cc}{rest}");
        is_canonical_e164(&s).then_some(s)
    })
}

/// A separator-decorated rendering of a canonical number.
fn decorate(e164: &str, seps: &[u8]) -> String {
    let mut out = String::from("+");
    for (i, d) in e164[1..].chars().enumerate() {
        out.push(d);
        if let Some(&s) = seps.get(i) {
            match s % 5 {
                0 => out.push(' '),
                1 => out.push('-'),
                2 => out.push('.'),
                3 => out.push('/'),
                _ => {}
            }
        }
    }
    out
}

fn normalize(raw: &str) -> Option<String> {
    let norm = Normalizer::new(&Config::default()).unwrap();
    match norm.normalize(IdentifierKind::PhoneNumber, raw) {
        Ok(Normalized::Value(v)) => Some(v.into_owned()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Where the fast path accepts, the value is the input itself, and the library,
    /// if it accepts too, returns exactly that.
    #[test]
    fn fast_path_agrees_with_library(s in e164()) {
        let library = parse_with_library(&s, None, false).ok();
        if takes_fast_path(&s) {
            let norm = Normalizer::new(&Config::default()).unwrap();
            let fast = norm.normalize(IdentifierKind::PhoneNumber, &s).unwrap();
            prop_assert!(matches!(&fast, Normalized::Value(std::borrow::Cow::Borrowed(v)) if *v == s));
            if let Some(lib) = library {
                prop_assert_eq!(lib, s);
            }
        } else if let (Some(lib), Some(engine)) = (library, normalize(&s)) {
            // Off the fast path the engine's answer is the library's, parsed again
            // until it is a fixed point.
            prop_assert_eq!(normalize(&engine), Some(engine.clone()));
            prop_assert!(lib.len() >= engine.len());
        }
    }

    /// Every rendering of a number (separators, `tel:`, `00`) that is accepted
    /// normalises to the value its canonical form normalises to: one number, one key.
    #[test]
    fn formatted_numbers_agree_with_the_canonical_form(
        s in e164(),
        seps in proptest::collection::vec(any::<u8>(), 0..15),
        tel in any::<bool>(),
        double_zero in any::<bool>(),
    ) {
        let mut raw = decorate(&s, &seps);
        if double_zero {
            raw = format!("00{}", &raw[1..]);
        }
        if tel {
            raw = format!("tel:{raw}");
        }
        let canonical = normalize(&s);
        let decorated = normalize(&raw);
        if canonical.is_some() && decorated.is_some() {
            prop_assert_eq!(&decorated, &canonical, "raw {}", raw);
        }
        // And the key is a fixed point of normalisation.
        if let Some(key) = decorated {
            prop_assert_eq!(normalize(&key), Some(key.clone()), "raw {}", raw);
        }
    }
}
