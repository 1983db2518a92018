//! The invariant behind unmerge (docs/semantics.md 4, "Unmerge"): a merge undone before
//! anything else is written gives back both contacts exactly as they were (fields,
//! identifiers with their ids and primary flags, memory records with their ids and
//! every fact, message, entity, open item and summary), and lists nothing as not
//! restored. Only `updated_at` moves. Random contacts, random memory, a message window
//! of 4 so that merges trim, and messages the two contacts may both hold, on the
//! in-memory store (the conformance suite runs the worked scenarios on every backend).

use contacts_core::serde_json::{Map, Value, json};
use contacts_core::{
    Config, ContactWithRelations, Engine, EntityUpsert, NewMessage, NewOpenItem, OrgId,
    ResolveRequest, Role, ScopeRequest, Timestamp,
};
use contacts_inmemory::InMemoryStore;
use proptest::prelude::*;

/// An entity upsert: its id, facts, status and discussion time.
type EntitySpec = (
    &'static str,
    Vec<(&'static str, i64)>,
    Option<&'static str>,
    i64,
);

#[derive(Clone, Debug)]
struct Record {
    persona: &'static str,
    facts: Vec<(&'static str, i64)>,
    messages: Vec<i64>,
    items: usize,
    entities: Vec<EntitySpec>,
    summary: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct Person {
    name: Option<&'static str>,
    metadata: Vec<(&'static str, i64)>,
    email: bool,
    records: Vec<Record>,
}

fn pairs(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<(&'static str, i64)>> {
    proptest::collection::vec((proptest::sample::select(keys), 0i64..3), 0..4)
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::sample::select(&["s1", "s2", "s3"][..]),
        pairs(&["k1", "k2", "k3", "k4"]),
        proptest::collection::vec(0i64..12, 0..7),
        0usize..3,
        proptest::collection::vec(
            (
                proptest::sample::select(&["1", "2", "3"][..]),
                pairs(&["f1", "f2", "f3"]),
                proptest::option::of(proptest::sample::select(&["open", "shipped"][..])),
                0i64..40,
            ),
            0..3,
        ),
        proptest::option::of(proptest::sample::select(&["the summary", "another"][..])),
    )
        .prop_map(
            |(persona, facts, messages, items, entities, summary)| Record {
                persona,
                facts,
                messages,
                items,
                entities,
                summary,
            },
        )
}

fn person() -> impl Strategy<Value = Person> {
    (
        proptest::option::of(proptest::sample::select(&["Sarah", "Dee"][..])),
        pairs(&["a", "b", "c", "d"]),
        any::<bool>(),
        proptest::collection::vec(record(), 0..3),
    )
        .prop_map(|(name, metadata, email, records)| Person {
            name,
            metadata,
            email,
            records,
        })
}

fn object(pairs: &[(&str, i64)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

/// Creates the person as contact number `n`, with its memory. Message times come from
/// one small range for both people, so the two may hold identical messages.
fn create(e: &Engine<InMemoryStore>, org: OrgId, n: u8, who: &Person) -> ContactWithRelations {
    let mut req = ResolveRequest::new().with_phone(format!("+1415555{n:02}92"));
    if who.email {
        req = req.with_email(format!("p{n}@example.com"));
    }
    if let Some(name) = who.name {
        req = req.with_name(name);
    }
    if !who.metadata.is_empty() {
        req = req.with_metadata(Value::Object(object(&who.metadata)));
    }
    let id = e.resolve(org, &req).unwrap().contact.id;
    let at = |t: i64| Timestamp::from_millis(1_753_180_200_000 + t * 1000);
    for r in &who.records {
        let m = e
            .memory_create(org, id, &ScopeRequest::persona(r.persona))
            .unwrap()
            .memory
            .id;
        if !r.facts.is_empty() {
            e.memory_merge_facts(org, m, &object(&r.facts), None)
                .unwrap();
        }
        let messages: Vec<NewMessage> = r
            .messages
            .iter()
            .map(|t| NewMessage {
                role: Role::User,
                content: format!("said at {t}"),
                channel: "sms".to_owned(),
                timestamp: Some(at(*t)),
            })
            .collect();
        if !messages.is_empty() {
            e.memory_append_messages(org, m, &messages, None).unwrap();
        }
        for i in 0..r.items {
            let item = NewOpenItem {
                item_type: "task".to_owned(),
                description: format!("call back {i}"),
                priority: None,
                related_to: None,
            };
            e.memory_add_open_item(org, m, &item, None).unwrap();
        }
        for (entity, facts, status, t) in &r.entities {
            let upsert = EntityUpsert {
                entity_type: "order".to_owned(),
                entity_id: (*entity).to_owned(),
                facts: Some(object(facts)),
                status: status.map(str::to_owned),
                notes: None,
                last_discussed_at: Some(at(*t)),
            };
            e.memory_upsert_entity(org, m, &upsert, None).unwrap();
        }
        if let Some(s) = r.summary {
            e.memory_replace_summary(org, m, s, None).unwrap();
        }
    }
    e.get(org, id).unwrap()
}

/// The contact as it reads, `updated_at` aside.
fn comparable(mut c: ContactWithRelations, updated_at: Timestamp) -> ContactWithRelations {
    c.contact.updated_at = updated_at;
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn an_immediate_unmerge_gives_both_contacts_back(p in person(), d in person()) {
        let config = Config::default().with_message_window(4);
        let e = Engine::with_config(InMemoryStore::new(), config).unwrap();
        let org = OrgId(contacts_core::uuid::Uuid::now_v7());
        let p_before = create(&e, org, 1, &p);
        let d_before = create(&e, org, 2, &d);
        let (pid, did) = (p_before.contact.id, d_before.contact.id);
        if e.merge(org, pid, did).is_err() {
            // A union over a memory bound is refused, and then there is nothing to undo.
            return Ok(());
        }
        let out = e.unmerge(org, pid, did).unwrap();
        prop_assert_eq!(&out.not_restored, &Vec::new());
        let p_after = e.get(org, pid).unwrap();
        let d_after = e.get(org, did).unwrap();
        prop_assert_eq!(&out.primary, &p_after);
        prop_assert_eq!(&out.duplicate, &d_after);
        prop_assert_eq!(comparable(p_after, p_before.contact.updated_at), p_before);
        prop_assert_eq!(comparable(d_after, d_before.contact.updated_at), d_before);
    }
}
