//! Batch resolve (docs/semantics.md 3, "Batches"): the outcomes of resolves run one
//! after another, one result per item, bounded.

use super::*;

/// A small deterministic generator (an LCG), so every backend sees the same batches.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A batch drawn from small pools of identifiers, so items often name the same new
/// person, attach to one another's contacts, hit caps and conflict; some are invalid
/// or carry junk, some carry a memory scope.
pub fn random_batch(seed: u64, len: usize) -> Vec<ResolveRequest> {
    let mut g = Lcg(seed);
    (0..len)
        .map(|_| {
            let mut req = ResolveRequest::new();
            loop {
                if g.below(2) == 0 {
                    req.phone_number = Some(match g.below(8) {
                        0 => "unknown".to_owned(),
                        1 => "not a phone".to_owned(),
                        n => format!("+1 (415) 555-01{:02}", n % 6),
                    });
                }
                if g.below(2) == 0 {
                    req.email = Some(format!("Person{}@Example.com", g.below(6)));
                }
                if g.below(3) == 0 {
                    req.external_id = Some(format!("crm-{}", g.below(4)));
                }
                if req.phone_number.is_some() || req.email.is_some() || req.external_id.is_some() {
                    break;
                }
            }
            if g.below(3) == 0 {
                req.name = Some(format!("Name {}", g.below(3)));
            }
            if g.below(4) == 0 {
                req.metadata = Some(json!({ format!("k{}", g.below(3)): g.below(10) }));
            }
            if g.below(5) == 0 {
                req.persona_id = Some(format!("persona-{}", g.below(2)));
            }
            req
        })
        .collect()
}

/// Every UUID in `value` replaced by its order of first appearance, so two runs that
/// drew their ids from different ranges compare equal when they are the same story.
fn canonical(value: &Value, seen: &mut HashMap<String, usize>) -> Value {
    match value {
        Value::String(s) => Value::String(canonical_text(s, seen)),
        Value::Array(a) => Value::Array(a.iter().map(|v| canonical(v, seen)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), canonical(v, seen)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_text(s: &str, seen: &mut HashMap<String, usize>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(candidate) = rest.get(..36).filter(|c| Uuid::parse_str(c).is_ok()) {
            let n = seen.len();
            let k = *seen.entry(candidate.to_owned()).or_insert(n);
            out.push_str(&format!("#{k}"));
            rest = &rest[36..];
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn outcomes_json(results: &[Result<ResolveOutcome, Error>]) -> Value {
    let mut seen = HashMap::new();
    let list: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(o) => serde_json::to_value(o).expect("outcome serialises"),
            Err(e) => json!({"error": e.code(), "message": e.to_string()}),
        })
        .collect();
    canonical(&Value::Array(list), &mut seen)
}

fn org_json<S: Store>(e: &Engine<S>, org: OrgId) -> Value {
    let page = e.list(org, ListRequest::new(200, 0)).expect("list");
    let mut seen = HashMap::new();
    canonical(
        &serde_json::to_value(&page.data).expect("page serialises"),
        &mut seen,
    )
}

/// docs/semantics.md 3 ("Batches"): `resolve_many` gives exactly the outcomes, and
/// leaves exactly the state, of the same resolves run one after another, on batches
/// in which items name the same new person, attach, conflict and fail.
///
/// Besides random batches of 40, two cover the windows whose keys are read ahead
/// together (64 items): 150 people, mostly new, with repeats within a window and
/// across one, and a random batch of 200.
pub fn resolve_many_matches_single_resolves<S: Store>(store: S) {
    let mut batches: Vec<_> = (1..=8).map(|seed| random_batch(seed, 40)).collect();
    let person = |i: usize| {
        ResolveRequest::new()
            .with_phone(format!("+1415556{i:04}"))
            .with_email(format!("p{i}@example.com"))
    };
    let mut long: Vec<_> = (0..150).map(person).collect();
    long[65] = person(3).with_name("again, from the first window");
    long[130] = person(129).with_name("again, in the same window");
    long[140] = ResolveRequest::new()
        .with_phone(format!("+1415556{:04}", 10))
        .with_email("p139@example.com");
    batches.push(long);
    batches.push(random_batch(9, 200));
    compare_batches(store, &batches);
}

/// The comparison behind [`resolve_many_matches_single_resolves`], on `seeds` (one
/// batch of `len` each, after the batches before it): org O by batch, org P one by one,
/// in one store.
pub fn resolve_many_matches_on<S: Store>(store: S, seeds: &[u64], len: usize) {
    let batches: Vec<_> = seeds.iter().map(|&seed| random_batch(seed, len)).collect();
    compare_batches(store, &batches);
}

fn compare_batches<S: Store>(store: S, batches: &[Vec<ResolveRequest>]) {
    let store = Arc::new(store);
    let batched = engine(Arc::clone(&store));
    // Its own clock and ids from far away, so the two runs never share an id.
    let single = Engine::new(Arc::clone(&store))
        .with_clock(ManualClock::new(EPOCH, 1))
        .with_id_generator(SequentialIds::starting_at(1 << 40));
    for (seed, batch) in batches.iter().enumerate() {
        let many = batched
            .resolve_many(org_o(), batch)
            .expect("within the bound");
        assert_eq!(many.len(), batch.len(), "one result per request");
        let one_by_one: Vec<_> = batch.iter().map(|r| single.resolve(org_p(), r)).collect();
        assert_eq!(
            outcomes_json(&many),
            outcomes_json(&one_by_one),
            "seed {seed}: outcomes differ"
        );
        assert_eq!(
            org_json(&batched, org_o()),
            org_json(&single, org_p()),
            "seed {seed}: stored state differs"
        );
    }
}

/// docs/semantics.md 3 ("Batches"): more than `max_batch_requests` is refused whole,
/// naming `requests`, with nothing written; an empty batch is an empty answer; a bad
/// item is its own error between good ones.
pub fn resolve_many_bounds_and_errors<S: Store>(store: S) {
    let mut config = Config::default();
    config.max_batch_requests = 3;
    let e = engine_with(store, config);
    let four: Vec<_> = (0..4).map(|i| phone(&format!("+1415555010{i}"))).collect();
    assert_invalid(e.resolve_many(org_o(), &four), "requests");
    assert_eq!(total(&e, org_o()), 0, "nothing written");
    assert!(e.resolve_many(org_o(), &[]).unwrap().is_empty());
    let out = e
        .resolve_many(
            org_o(),
            &[
                phone("+14155550100"),
                ResolveRequest::new().with_email("not an email"),
                phone("+14155550100").with_name("Ana"),
            ],
        )
        .unwrap();
    let first = out[0].as_ref().expect("created");
    assert!(first.created);
    assert!(
        matches!(&out[1], Err(Error::InvalidInput { field, .. }) if *field == "email"),
        "{:?}",
        out[1]
    );
    let third = out[2].as_ref().expect("found");
    assert_eq!((third.contact.id, third.created), (first.contact.id, false));
    assert_eq!(third.contact.name.as_deref(), Some("Ana"));
    assert_eq!(total(&e, org_o()), 1);
}

/// A store that counts the commits it passes on.
#[derive(Debug)]
struct CountingCommits<S> {
    store: S,
    commits: std::sync::atomic::AtomicUsize,
}

impl<S: Store> Store for CountingCommits<S> {
    crate::forward_store_reads!(store);
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.commit(org, batch)
    }
}

/// docs/semantics.md 3 ("Batches"): a batch of different new people is one
/// transaction; an item that reads what an earlier one wrote first commits what came
/// before; a batch of pure reads commits nothing.
pub fn resolve_many_commits_as_few_as_it_can<S: Store>(store: S) {
    let counting = Arc::new(CountingCommits {
        store,
        commits: Default::default(),
    });
    let e = engine(Arc::clone(&counting));
    let commits = || counting.commits.load(std::sync::atomic::Ordering::SeqCst);
    let people: Vec<ResolveRequest> = (0..100)
        .map(|i| {
            ResolveRequest::new()
                .with_phone(format!("+1415555{i:04}"))
                .with_email(format!("p{i}@example.com"))
                .with_name(format!("Person {i}"))
        })
        .collect();
    let out = e.resolve_many(org_o(), &people).unwrap();
    assert!(out.iter().all(|r| r.as_ref().is_ok_and(|o| o.created)));
    assert_eq!(commits(), 1, "100 new people, one transaction");
    assert_eq!(total(&e, org_o()), 100);
    // All hits: nothing to commit.
    e.resolve_many(org_o(), &people).unwrap();
    assert_eq!(commits(), 1, "pure reads commit nothing");
    // The same new person three times: created, then found and filled, then found.
    let same = [
        phone("+14155550999"),
        phone("+14155550999").with_name("Late name"),
        phone("+14155550999"),
    ];
    let out = e.resolve_many(org_o(), &same).unwrap();
    let ids: Vec<_> = out.iter().map(|r| r.as_ref().unwrap().contact.id).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one person, one contact"
    );
    let created: Vec<_> = out.iter().map(|r| r.as_ref().unwrap().created).collect();
    assert_eq!(created, [true, false, false]);
    assert_eq!(commits(), 3, "the second item read what the first wrote");
    assert_eq!(total(&e, org_o()), 101);
}

/// docs/semantics.md 3 ("Batches") and the store contract, rule 3: batches from
/// several threads naming overlapping new people (repeats inside a batch included)
/// still give each person one contact, created exactly once; a batch that loses a
/// race settles its items one by one.
pub fn resolve_many_concurrent_batches_create_each_person_once<S: Store>(store: S) {
    const THREADS: u64 = 4;
    const BATCHES: u64 = 12;
    const PER_BATCH: u64 = 40;
    const PEOPLE: u64 = 150;
    let e = Arc::new(Engine::new(store));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut g = Lcg(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1));
                let mut seen = Vec::new();
                for _ in 0..BATCHES {
                    let people: Vec<u64> = (0..PER_BATCH).map(|_| g.below(PEOPLE)).collect();
                    let batch: Vec<ResolveRequest> = people
                        .iter()
                        .map(|p| {
                            let req = ResolveRequest::new().with_phone(format!("+1415555{p:04}"));
                            if g.below(2) == 0 {
                                req.with_email(format!("p{p}@example.com"))
                            } else {
                                req
                            }
                        })
                        .collect();
                    let out = e.resolve_many(org_o(), &batch).expect("within the bound");
                    for (p, r) in people.into_iter().zip(out) {
                        let o = r.expect("resolve under contention");
                        seen.push((p, o.contact.id, o.created));
                    }
                }
                seen
            })
        })
        .collect();
    let mut by_person: HashMap<u64, BTreeSet<ContactId>> = HashMap::new();
    let mut created: HashMap<u64, usize> = HashMap::new();
    for h in handles {
        for (p, id, was_created) in h.join().expect("thread") {
            by_person.entry(p).or_default().insert(id);
            *created.entry(p).or_default() += usize::from(was_created);
        }
    }
    for (p, ids) in &by_person {
        assert_eq!(ids.len(), 1, "person {p} became several contacts: {ids:?}");
        assert_eq!(created[p], 1, "person {p} was created {} times", created[p]);
    }
    assert_eq!(total(&e, org_o()), by_person.len() as u64);
}
