//! Fuzz harness bodies. Each `fuzz/fuzz_targets/*.rs` only calls one of these, and the
//! replay tests call them on every committed seed and regression input, so a crash
//! found once is an ordinary `cargo test` forever.

use contacts_core::normalize_testing as testing;
use contacts_core::{
    Config, EntityUpsert, Error, IdentifierKind, NewMessage, NewOpenItem, Normalized, Normalizer,
    ResolveRequest, ScopeRequest, Store, UpdateRequest,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

use crate::conformance::{engine, org_o};
use crate::differential::run_differential;
use crate::machine::{ModelMachine, StoreFactory, StoreMachine};

/// A runner whose randomness is seeded from all of `data`, so every input is one
/// reproducible operation sequence and the fuzzer's coverage feedback keeps the inputs
/// that reach new code.
///
/// Why not proptest's pass-through RNG, which would let mutations steer values
/// directly: the state-machine strategy forks its RNG for every transition, and each
/// fork halves the pass-through buffer, so any input runs dry within a few dozen
/// transitions, and an exhausted buffer reads zeros, on which rejection sampling never
/// terminates.
fn runner(data: &[u8]) -> TestRunner {
    // FNV-1a over the input, then splitmix64 to fill a 32-byte ChaCha seed.
    let mut x = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    )
}

/// Target `ops`: `data` chooses an operation sequence (the state machine's own
/// transitions), which runs against a store of `A` checked against the reference
/// model after every step, and differentially against a store of `B` (identical JSON
/// at every step).
///
/// # Panics
/// On any disagreement: that is the finding.
pub fn fuzz_ops<A: StoreFactory, B: StoreFactory>(data: &[u8]) {
    let mut runner = runner(data);
    let Ok(tree) = ModelMachine::sequential_strategy(1..48).new_tree(&mut runner) else {
        return;
    };
    let (initial, transitions, _) = tree.current();
    // The model is applied in lockstep inside `test_sequential`.
    StoreMachine::<A>::test_sequential(
        ProptestConfig::default(),
        initial,
        transitions.clone(),
        None,
    );
    run_differential(A::make(), B::make(), &transitions);
}

/// The request fields an `InvalidInput` may name.
const FIELDS: &[&str] = &[
    "identifiers",
    "phone_number",
    "email",
    "external_id",
    "name",
    "metadata",
    "persona_id",
    "agent_number",
    "messages",
    "summary",
    "facts",
    "entity_type",
    "entity_id",
    "status",
    "notes",
    "entities",
    "type",
    "description",
    "priority",
    "related_to.entity_type",
    "related_to.entity_id",
    "open_items",
];

fn check<T>(what: &str, result: Result<T, Error>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(Error::InvalidInput { field, reason }) => {
            let known = FIELDS.contains(&field.as_ref())
                || (field.starts_with("messages[") && field.contains("]."));
            assert!(
                known,
                "{what}: InvalidInput names an unknown field {field:?}"
            );
            assert!(!reason.is_empty(), "{what}: InvalidInput without a reason");
            None
        }
        Err(Error::NotFound { .. } | Error::Conflict { .. }) => None,
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

/// Target `requests`: `data` is read as the JSON body of resolve, update and every
/// memory write, and each that parses is sent to the engine over `store`. No input
/// may panic, every rejection must name a request field, and afterwards every read
/// and repair path of the contact and its memory succeeds.
///
/// # Panics
/// On a panic in the engine, an error naming no known field, or a storage error.
pub fn fuzz_requests<S: Store>(store: S, data: &[u8]) {
    let e = engine(store);
    let org = org_o();
    let contact = e
        .resolve(org, &ResolveRequest::new().with_phone("+14155550192"))
        .expect("seed contact")
        .contact
        .id;
    let memory = e
        .memory_create(org, contact, &ScopeRequest::persona("p"))
        .expect("seed memory")
        .memory
        .id;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = serde_json::from_str::<ResolveRequest>(text)
        && let Some(out) = check("resolve", e.resolve(org, &req))
    {
        // Whatever was attached is stored normalised: normalising it again is a no-op.
        let norm = Normalizer::new(&Config::default()).expect("default config");
        for a in &out.attached {
            let again = norm.normalize(a.identifier_type, &a.identifier_value);
            assert_eq!(
                again.ok(),
                Some(Normalized::Value(a.identifier_value.as_str().into())),
                "stored value {} is not a fixed point of normalisation",
                a.identifier_value
            );
        }
    }
    if let Ok(req) = serde_json::from_str::<UpdateRequest>(text) {
        check("update", e.update(org, contact, &req));
    }
    if let Ok(scope) = serde_json::from_str::<ScopeRequest>(text) {
        check("memory create", e.memory_create(org, contact, &scope));
        check("context", e.memory_context(org, contact, &scope));
    }
    if let Ok(messages) = serde_json::from_str::<Vec<NewMessage>>(text) {
        check(
            "append",
            e.memory_append_messages(org, memory, &messages, None),
        );
    }
    if let Ok(upsert) = serde_json::from_str::<EntityUpsert>(text) {
        check("entity", e.memory_upsert_entity(org, memory, &upsert, None));
    }
    if let Ok(item) = serde_json::from_str::<NewOpenItem>(text) {
        check(
            "open item",
            e.memory_add_open_item(org, memory, &item, None),
        );
    }
    if let Ok(facts) = serde_json::from_str::<contacts_core::JsonObject>(text) {
        check("facts", e.memory_merge_facts(org, memory, &facts, None));
    }
    if let Ok(summary) = serde_json::from_str::<String>(text) {
        check(
            "summary",
            e.memory_replace_summary(org, memory, &summary, None),
        );
    }
    // The raw text as every identifier kind.
    let norm = Normalizer::new(&Config::default()).expect("default config");
    for kind in IdentifierKind::ALL {
        check("normalise", norm.normalize(kind, text));
    }
    // Whatever was accepted above is readable again on every path, and repairable
    // (docs/semantics.md 7, "Nothing accepted is unreadable").
    crate::read_paths::every_path_reads_then_repairs(&e, org, contact, "+14155550192", memory, "p");
}

/// Target `phone` (docs/semantics.md 2.1): phone normalisation never panics; every key
/// has the E.164 shape and is a fixed point; the fast path and the library agree; and a
/// random rendering of one of the golden corpus's numbers (`data` picks the number and
/// shapes the rendering) gets that number's key, in lenient and strict mode.
///
/// # Panics
/// On any of those properties failing.
pub fn fuzz_phone(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for config in [
        Config::default(),
        Config::default().with_default_region("GB"),
        Config::default().with_default_region("AU"),
        Config::default().with_strict_phone_validation(true),
    ] {
        let norm = Normalizer::new(&config).expect("valid config");
        if let Ok(Normalized::Value(v)) = norm.normalize(IdentifierKind::PhoneNumber, &text) {
            assert!(
                testing::is_e164_shaped(&v),
                "{text:?} normalised to {v:?}, which is no key"
            );
            let again = norm.normalize(IdentifierKind::PhoneNumber, &v);
            assert_eq!(
                again.ok(),
                Some(Normalized::Value(v.as_ref().into())),
                "normalising {v:?} again changed it"
            );
        }
    }
    let norm = Normalizer::new(&Config::default()).expect("default config");
    if testing::takes_fast_path(&norm, &text) {
        let lib = testing::library(&text, None);
        assert_eq!(
            lib.map(|(e164, possible, _)| (e164, possible)),
            Some((text.to_string(), true)),
            "the fast path took {text:?}, which the library reads differently"
        );
    }
    if let Some((&pick, shape)) = data.split_first() {
        let numbers = corpus_numbers();
        let number = &numbers[(usize::from(pick) * 257 + shape.len() * 31) % numbers.len()];
        for strict in [false, true] {
            let norm = Normalizer::new(&Config::default().with_strict_phone_validation(strict))
                .expect("valid config");
            let raw = render(number, shape);
            let key = |raw: &str| match norm.normalize(IdentifierKind::PhoneNumber, raw) {
                Ok(Normalized::Value(v)) => Some(v.into_owned()),
                _ => None,
            };
            assert_eq!(
                key(&raw),
                key(number),
                "{raw:?} is a rendering of {number}, strict {strict}"
            );
        }
    }
}

/// The golden corpus's numbers in E.164, each one libphonenumber calls possible.
fn corpus_numbers() -> &'static [String] {
    static NUMBERS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NUMBERS.get_or_init(|| {
        include_str!("../../contacts-core/tests/corpus/phones.tsv")
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                (f.first() == Some(&"e164")
                    && f.get(3).is_some_and(|l| l.contains(" IS_POSSIBLE ")))
                .then(|| f[2].to_owned())
            })
            .collect()
    })
}

/// A rendering of `e164` shaped by `shape`: an international prefix (`+`, `00`,
/// `tel:+`, full-width plus, a byte order mark), each digit in one of five scripts, and
/// separators from libphonenumber's set and invisible characters between them.
fn render(e164: &str, shape: &[u8]) -> String {
    const SEPARATORS: [&str; 14] = [
        "", " ", "-", ".", "/", "(", ")", "\u{a0}", "\u{2013}", "\u{2212}", "\u{3000}", "\u{200b}",
        "\u{202f}", "\u{200e}",
    ];
    const ZEROS: [u32; 5] = [0x30, 0xFF10, 0x0660, 0x06F0, 0x0966];
    let byte = |i: usize| shape.get(i).copied().unwrap_or(0);
    let mut out = String::from(match byte(0) % 5 {
        0 => "+",
        1 => "00",
        2 => "tel:+",
        3 => "\u{ff0b}",
        _ => "\u{feff}+",
    });
    for (i, d) in e164[1..].bytes().enumerate() {
        let b = byte(i + 1);
        let zero = ZEROS[usize::from(b % 5)];
        out.extend(char::from_u32(zero + u32::from(d - b'0')));
        out.push_str(SEPARATORS[usize::from(b / 5) % SEPARATORS.len()]);
    }
    out
}

/// Every file in `fuzz/seeds/<target>` and `fuzz/regressions/<target>` of the
/// repository (`root` is the workspace root), for the replay tests.
///
/// # Panics
/// If the seed folder is missing or empty: a replay that replays nothing must fail.
pub fn corpus(root: &std::path::Path, target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join("fuzz").join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "README.md") {
                let bytes = std::fs::read(&path).expect("readable corpus file");
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    assert!(
        out.iter()
            .any(|(p, _)| p.components().any(|c| c.as_os_str() == "seeds")),
        "no seed inputs for fuzz target {target}"
    );
    out
}
