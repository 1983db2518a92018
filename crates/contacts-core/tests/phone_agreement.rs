//! docs/semantics.md 2.1: canonical E.164 input takes a fast path that never calls the
//! phone library; wherever it does, the library returns the same number and calls it
//! possible. Every rendering of a number reaches the key its canonical form reaches,
//! and every key is a fixed point. The golden corpus (`phone_corpus.rs`) checks real
//! numbers; these properties check random ones.

use contacts_core::normalize_testing as testing;
use contacts_core::{Config, IdentifierKind, Normalized, Normalizer};
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

/// E.164-shaped numbers, biased towards real calling codes (with their trunk and
/// mobile prefixes) so the library accepts a good share of them.
fn e164() -> impl Strategy<Value = String> {
    let cc = prop_oneof![
        Just("1".to_owned()),
        Just("7".to_owned()),
        Just("44".to_owned()),
        Just("49".to_owned()),
        Just("33".to_owned()),
        Just("39".to_owned()),
        Just("52".to_owned()),
        Just("54".to_owned()),
        Just("55".to_owned()),
        Just("61".to_owned()),
        Just("81".to_owned()),
        Just("82".to_owned()),
        Just("91".to_owned()),
        Just("229".to_owned()),
        Just("234".to_owned()),
        Just("375".to_owned()),
        "[1-9][0-9]{0,2}",
    ];
    (cc, "[0-9]{4,14}").prop_filter_map("a key's shape", |(cc, rest)| {
        let s = format!("+{cc}{rest}");
        testing::is_e164_shaped(&s).then_some(s)
    })
}

const SEPARATORS: [&str; 12] = [
    " ", "-", ".", "/", "\u{a0}", "\u{2013}", "\u{2014}", "\u{2212}", "\u{3000}", "\u{200b}",
    "\u{202f}", "",
];

/// A rendering of a canonical number: separators, digits of another script, and one of
/// the international prefixes.
fn render(e164: &str, seps: &[u8], script: u8, prefix: u8) -> String {
    let zero = match script % 5 {
        0 => '0',
        1 => '\u{FF10}', // full width
        2 => '\u{0660}', // Arabic-Indic
        3 => '\u{06F0}', // Persian
        _ => '\u{0966}', // Devanagari
    };
    let mut out = String::from(match prefix % 5 {
        0 => "+",
        1 => "00",
        2 => "tel:+",
        3 => "\u{FF0B}",
        _ => "\u{FEFF}+",
    });
    for (i, d) in e164[1..].bytes().enumerate() {
        out.push(char::from_u32(u32::from(zero) + u32::from(d - b'0')).unwrap());
        if let Some(&s) = seps.get(i) {
            out.push_str(SEPARATORS[usize::from(s) % SEPARATORS.len()]);
        }
    }
    out
}

fn normalize(norm: &Normalizer, raw: &str) -> Option<String> {
    match norm.normalize(IdentifierKind::PhoneNumber, raw) {
        Ok(Normalized::Value(v)) => Some(v.into_owned()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Where the fast path answers, it returns the input itself, borrowed, and the
    /// library reads the input as exactly that number and calls it possible.
    #[test]
    fn fast_path_agrees_with_library(s in e164()) {
        let norm = Normalizer::new(&Config::default()).unwrap();
        if testing::takes_fast_path(&norm, &s) {
            let fast = norm.normalize(IdentifierKind::PhoneNumber, &s).unwrap();
            prop_assert!(matches!(&fast, Normalized::Value(std::borrow::Cow::Borrowed(v)) if *v == s));
            let lib = testing::library(&s, None);
            prop_assert_eq!(lib.as_ref().map(|l| (l.0.as_str(), l.1)), Some((s.as_str(), true)));
        } else if let Some(key) = normalize(&norm, &s) {
            // Off the fast path the key is still a fixed point.
            prop_assert_eq!(normalize(&norm, &key), Some(key.clone()));
        }
    }

    /// Every rendering of a number that is accepted normalises to the key its canonical
    /// form normalises to (one number, one key), and both are accepted or neither.
    #[test]
    fn renderings_agree_with_the_canonical_form(
        s in e164(),
        seps in proptest::collection::vec(any::<u8>(), 0..15),
        script in any::<u8>(),
        prefix in any::<u8>(),
        strict in any::<bool>(),
    ) {
        let norm = Normalizer::new(&Config::default().with_strict_phone_validation(strict)).unwrap();
        let raw = render(&s, &seps, script, prefix);
        let canonical = normalize(&norm, &s);
        let rendered = normalize(&norm, &raw);
        prop_assert_eq!(&rendered, &canonical, "raw {:?}", raw);
        if let Some(key) = rendered {
            prop_assert_eq!(normalize(&norm, &key), Some(key.clone()), "raw {:?}", raw);
        }
    }
}

/// The properties above are not vacuous: a good share of the generated numbers is
/// accepted, on the fast path and off it.
#[test]
fn generated_numbers_reach_both_paths() {
    use proptest::strategy::ValueTree;
    let norm = Normalizer::new(&Config::default()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut fast, mut slow) = (0, 0);
    for _ in 0..2000 {
        let s = e164().new_tree(&mut runner).unwrap().current();
        if testing::takes_fast_path(&norm, &s) {
            fast += 1;
        } else if normalize(&norm, &s).is_some() {
            slow += 1;
        }
    }
    assert!(fast > 300 && slow > 40, "fast {fast}, slow {slow}");
}
