//! The cost of normalising one identifier (docs/semantics.md 2.1), beside its floor:
//! libphonenumber's own parse (`rlibphonenumber`: parse, E.164 format and the
//! possibility check) on the same input.
//!
//! `cargo bench -p contacts-benches --bench normalize` reproduces the table in
//! `docs/benchmarks.md`, "Normalisation".

use std::hint::black_box;

use contacts_core::normalize_testing as testing;
use contacts_core::{Config, IdentifierKind, Normalized, Normalizer};
use criterion::{Criterion, criterion_group, criterion_main};

/// Inputs per case, cycled so the branch predictor sees no single string.
fn numbers(make: impl Fn(u64) -> String) -> Vec<String> {
    (0..256).map(make).collect()
}

fn phones(c: &mut Criterion) {
    let lenient = Normalizer::new(&Config::default()).unwrap();
    let us = Normalizer::new(&Config::default().with_default_region("US")).unwrap();
    let cases: Vec<(&str, &Normalizer, Option<&str>, Vec<String>)> = vec![
        (
            "canonical",
            &lenient,
            None,
            numbers(|i| format!("+1415555{i:04}")),
        ),
        (
            "formatted",
            &lenient,
            None,
            numbers(|i| format!("+1 (415) 555-{i:04}")),
        ),
        (
            "international_gb",
            &lenient,
            None,
            numbers(|i| format!("+44 20 7946 {i:04}")),
        ),
        (
            "national_us",
            &us,
            Some("US"),
            numbers(|i| format!("(415) 555-{i:04}")),
        ),
        (
            "fullwidth",
            &lenient,
            None,
            numbers(|i| {
                format!("+1 415 555 {i:04}")
                    .chars()
                    .map(|c| match c {
                        '0'..='9' => char::from_u32(u32::from(c) + 0xFF10 - 0x30).unwrap(),
                        '+' => '\u{FF0B}',
                        other => other,
                    })
                    .collect()
            }),
        ),
    ];
    let mut g = c.benchmark_group("normalize_phone");
    for (name, norm, region, inputs) in &cases {
        let mut k = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                k = (k + 1) % inputs.len();
                let out = norm.normalize(IdentifierKind::PhoneNumber, &inputs[k]);
                debug_assert!(matches!(out, Ok(Normalized::Value(_))), "{}", inputs[k]);
                black_box(out)
            })
        });
        let mut k = 0;
        g.bench_function(format!("{name}_floor_library"), |b| {
            b.iter(|| {
                k = (k + 1) % inputs.len();
                black_box(testing::library(&inputs[k], *region))
            })
        });
    }
    g.finish();
}

fn emails(c: &mut Criterion) {
    let norm = Normalizer::new(&Config::default()).unwrap();
    let mut g = c.benchmark_group("normalize_email");
    for (name, inputs) in [
        ("ascii", numbers(|i| format!("Person{i}@Example.com"))),
        ("idn", numbers(|i| format!("person{i}@münchen.de"))),
        (
            "punycode",
            numbers(|i| format!("person{i}@xn--mnchen-3ya.de")),
        ),
    ] {
        let mut k = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                k = (k + 1) % inputs.len();
                black_box(norm.normalize(IdentifierKind::Email, &inputs[k]))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, phones, emails);
criterion_main!(benches);
