//! The phone fast path (docs/semantics.md 2.1): canonical E.164 input that
//! libphonenumber would return unchanged, and call possible, skips the library.
//!
//! libphonenumber reads `+CC N` as calling code `CC` and national number `N`, strips a
//! match of the main region's "national prefix for parsing" rule from the start of `N`,
//! and calls the result possible by its length alone. So `N` survives unchanged, and is
//! possible, when it does not start with `0` (leading zeros are kept or stripped by
//! rules of their own), no rule match at its start is non-empty, and its length is one
//! of the region's possible lengths and not a local-only one. Those facts come from the
//! same metadata the library embeds (`phone_plan.rs`); `tests/phone_corpus.rs` and
//! `tests/phone_agreement.rs` check the two paths agree.

use std::sync::OnceLock;

use regex::Regex;

use super::phone_plan::PLANS;

/// What libphonenumber's parse of `+CC...` consults for one calling code.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The calling code.
    pub(crate) code: u16,
    /// Bit `n` set: a national number of `n` digits is possible.
    pub(crate) possible: u32,
    /// Bit `n` set: `n` digits is possible only as a local number (no area code).
    pub(crate) local_only: u32,
    /// The national prefix for parsing (empty when the region has none).
    pub(crate) strip: &'static str,
}

/// One calling code's plan, ready to use.
#[derive(Debug)]
pub(crate) struct CodePlan {
    /// Lengths that are possible as full numbers.
    pub(crate) full_lengths: u32,
    /// The national prefix rule, and the digits a non-empty match of it can start
    /// with (bit `d`), so most numbers are cleared without running it.
    strip: Option<(Regex, u16)>,
}

impl CodePlan {
    /// Whether the national prefix rule has a non-empty match at the start of
    /// `national` (ASCII digits): a rule that matches only the empty string strips
    /// nothing.
    fn strips(&self, national: &str) -> bool {
        let Some((re, first)) = &self.strip else {
            return false;
        };
        let Some(&d) = national.as_bytes().first() else {
            return false;
        };
        first & (1 << (d - b'0')) != 0 && re.find(national).is_some_and(|m| m.end() > 0)
    }

    /// Whether libphonenumber keeps `national` (ASCII digits) as it is and calls it a
    /// possible full number.
    fn keeps(&self, national: &str) -> bool {
        let len = national.len();
        len < 32
            && self.full_lengths & (1 << len) != 0
            && !national.starts_with('0')
            && !self.strips(national)
    }
}

/// The digits (bit `d`) a non-empty match of `hir` can start with, and whether it can
/// match the empty string.
fn first_digits(hir: &regex_syntax::hir::Hir) -> (u16, bool) {
    use regex_syntax::hir::{Class, HirKind};
    let digit_bit = |b: u8| {
        if b.is_ascii_digit() {
            1u16 << (b - b'0')
        } else {
            0
        }
    };
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => (0, true),
        HirKind::Literal(lit) => (lit.0.first().map_or(0, |b| digit_bit(*b)), lit.0.is_empty()),
        HirKind::Class(Class::Unicode(c)) => {
            let mask = (b'0'..=b'9')
                .filter(|d| {
                    c.ranges()
                        .iter()
                        .any(|r| (r.start()..=r.end()).contains(&char::from(*d)))
                })
                .fold(0, |m, d| m | digit_bit(d));
            (mask, false)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mask = (b'0'..=b'9')
                .filter(|d| c.ranges().iter().any(|r| (r.start()..=r.end()).contains(d)))
                .fold(0, |m, d| m | digit_bit(d));
            (mask, false)
        }
        HirKind::Repetition(r) => {
            let (mask, nullable) = first_digits(&r.sub);
            (
                if r.max == Some(0) { 0 } else { mask },
                nullable || r.min == 0,
            )
        }
        HirKind::Capture(c) => first_digits(&c.sub),
        HirKind::Concat(subs) => {
            let mut mask = 0;
            for s in subs {
                let (m, nullable) = first_digits(s);
                mask |= m;
                if !nullable {
                    return (mask, false);
                }
            }
            (mask, true)
        }
        HirKind::Alternation(subs) => subs.iter().fold((0, false), |(m, n), s| {
            let (sm, sn) = first_digits(s);
            (m | sm, n || sn)
        }),
    }
}

/// Plans indexed by calling code (1 to 999).
#[derive(Debug)]
pub(crate) struct PlanTable {
    by_code: Vec<Option<CodePlan>>,
}

/// The table, built once from the generated plans.
pub(crate) fn plans() -> &'static PlanTable {
    static TABLE: OnceLock<PlanTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_code: Vec<Option<CodePlan>> = (0..1000).map(|_| None).collect();
        for plan in PLANS {
            let strip = (!plan.strip.is_empty()).then(|| {
                // The metadata's patterns are plain regular expressions without
                // look-around (the generator's source has none), so they compile here;
                // a failure would be a bug in the generated table, caught by every test.
                let pattern = format!("^(?:{})", plan.strip);
                let re = Regex::new(&pattern)
                    .expect("national prefix rules of the generated plan compile");
                let hir = regex_syntax::Parser::new()
                    .parse(&pattern)
                    .expect("the same pattern parses");
                (re, first_digits(&hir).0)
            });
            by_code[usize::from(plan.code)] = Some(CodePlan {
                full_lengths: plan.possible & !plan.local_only,
                strip,
            });
        }
        PlanTable { by_code }
    })
}

impl PlanTable {
    /// Splits `digits` (ASCII digits after a `+`) into its calling code, the national
    /// part and the code's plan. Assigned codes form a prefix code, so the first of the
    /// one- to three-digit prefixes that is assigned is the code, as libphonenumber
    /// reads it.
    pub(crate) fn split<'a>(&self, digits: &'a str) -> Option<(u16, &'a str, &CodePlan)> {
        let mut code = 0u16;
        for (len, &d) in digits.as_bytes().iter().enumerate().take(3) {
            if !d.is_ascii_digit() {
                return None;
            }
            code = code * 10 + u16::from(d - b'0');
            if let Some(plan) = &self.by_code[usize::from(code)] {
                return Some((code, &digits[len + 1..], plan));
            }
        }
        None
    }

    /// Whether `code`'s national-prefix rule has a non-empty match at the start of
    /// `national`: libphonenumber may strip it when it reads the number again.
    pub(crate) fn strips(&self, code: u16, national: &str) -> bool {
        self.by_code
            .get(usize::from(code))
            .and_then(Option::as_ref)
            .is_some_and(|p| p.strips(national))
    }

    /// The lengths possible for full national numbers of `code`, for error messages.
    pub(crate) fn full_lengths(&self, code: u16) -> Option<u32> {
        self.by_code
            .get(usize::from(code))?
            .as_ref()
            .map(|p| p.full_lengths)
    }
}

/// Whether `s` is `+` and 2 to 20 ASCII digits, the first 1-9: the shape of every key
/// (libphonenumber allows calling codes of up to 3 digits and national numbers of up to
/// 17).
pub(crate) fn is_e164_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=21).contains(&b.len())
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// Whether libphonenumber would parse `s` (E.164-shaped) to itself and call it a
/// possible full number. Returns the calling code and the national part when it would.
pub(crate) fn library_keeps(s: &str) -> Option<(u16, &str)> {
    if !is_e164_shaped(s) {
        return None;
    }
    let (code, national, plan) = plans().split(&s[1..])?;
    plan.keeps(national).then_some((code, national))
}
