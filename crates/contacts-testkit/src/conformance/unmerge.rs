//! Conformance scenarios for unmerge (docs/semantics.md 4, "Unmerge"; the Store
//! contract, rules 12 and 14).

use contacts_core::{HistoryKind, MemoryRecord, MergeSnapshot, ScopeRequest, UpdateRequest};

use super::lifecycle::{facts, msg};
use super::*;

fn id_of<S: Store>(e: &Engine<S>, req: &ResolveRequest) -> ContactId {
    e.resolve(org_o(), req).unwrap().contact.id
}

fn contents(m: &MemoryRecord) -> Vec<&str> {
    m.recent_messages
        .iter()
        .map(|x| x.content.as_str())
        .collect()
}

#[track_caller]
fn merge_not_found<T: Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::NotFound {
            entity: "Merge", ..
        }) => {}
        other => panic!("{what}: expected NotFound(Merge), got {other:?}"),
    }
}

/// A snapshot with nothing in it, for store-level batches.
pub(super) fn bare_snapshot<S: Store>(
    e: &Engine<S>,
    of: ContactId,
    primary: ContactId,
) -> MergeSnapshot {
    MergeSnapshot {
        primary,
        merged_at: EPOCH,
        duplicate: e.get(org_o(), of).unwrap().contact,
        version: 1,
        identifiers: Vec::new(),
        name_taken: false,
        metadata_taken: Vec::new(),
        memories: Vec::new(),
    }
}

/// docs/semantics.md 4, "Unmerge": merge, work on the merged contact, unmerge. What the
/// duplicate brought and is unchanged goes back; what changed or was detached since
/// stays with the primary and is listed; what was written after the merge stays with
/// the primary (a message appended to the combined memory, a fact written to a record
/// that moved whole); the duplicate keeps its id, its old `created_at`, and its
/// values that never reached the primary. Both histories end `unmerged`, the count of
/// contacts is back, and the merge cannot be undone twice.
pub fn unmerge_restores_the_duplicate<S: Store>(store: S) {
    let e = engine(store);
    let p = id_of(
        &e,
        &phone("+14155550192").with_metadata(json!({"tier": "gold"})),
    );
    let d_req = phone("+14155550193")
        .with_email("dee@example.com")
        .with_name("Dee")
        .with_metadata(json!({"tier": "silver", "city": "Oslo", "pet": "cat"}));
    let d = id_of(&e, &d_req);
    let d_before = e.get(org_o(), d).unwrap();
    let shared = ScopeRequest::persona("shared");
    let pm = e.memory_create(org_o(), p, &shared).unwrap().memory.id;
    let dm = e.memory_create(org_o(), d, &shared).unwrap().memory.id;
    let only = e
        .memory_create(org_o(), d, &ScopeRequest::agent_number("+14155550900"))
        .unwrap()
        .memory
        .id;
    e.memory_append_messages(org_o(), pm, &[msg("p1", 1)], None)
        .unwrap();
    e.memory_append_messages(org_o(), dm, &[msg("d1", 2), msg("d2", 3)], None)
        .unwrap();
    e.memory_merge_facts(org_o(), pm, &facts(json!({"tz": "PT"})), None)
        .unwrap();
    e.memory_merge_facts(
        org_o(),
        dm,
        &facts(json!({"tz": "ET", "pet": "cat", "lang": "no"})),
        None,
    )
    .unwrap();
    e.memory_replace_summary(org_o(), dm, "the duplicate's summary", None)
        .unwrap();
    e.memory_merge_facts(org_o(), only, &facts(json!({"x": 1})), None)
        .unwrap();
    let total_before = total(&e, org_o());

    e.merge(org_o(), p, d).unwrap();
    // Work on the merged contact: a taken metadata key changes, the duplicate's email
    // is detached, a new email attached, a message appended to the combined memory, a
    // taken fact changed, a fact written to the record that moved whole.
    let merged = e.get(org_o(), p).unwrap();
    let dee = merged
        .identifiers
        .iter()
        .find(|i| i.identifier_value == "dee@example.com")
        .expect("the duplicate's email moved")
        .id;
    e.update(
        org_o(),
        p,
        &UpdateRequest::new()
            .with_metadata(json!({"city": "Bergen"}))
            .with_email("new@example.com"),
    )
    .unwrap();
    e.detach(org_o(), p, dee).unwrap();
    e.memory_append_messages(org_o(), pm, &[msg("after", 9)], None)
        .unwrap();
    e.memory_merge_facts(org_o(), pm, &facts(json!({"lang": "en"})), None)
        .unwrap();
    e.memory_merge_facts(org_o(), only, &facts(json!({"y": 2})), None)
        .unwrap();

    let out = e.unmerge(org_o(), p, d).unwrap();
    let fields: BTreeSet<String> = out.not_restored.iter().map(|n| n.field.clone()).collect();
    let expected: BTreeSet<String> = [
        "metadata.city".to_owned(),
        format!("identifiers.{dee}"),
        format!("memories.{dm}.facts.lang"),
    ]
    .into();
    assert_eq!(fields, expected, "{:?}", out.not_restored);

    // The duplicate, under its old id.
    let dup = e.get(org_o(), d).unwrap();
    assert_eq!(out.duplicate, dup);
    assert_eq!(dup.contact.created_at, d_before.contact.created_at);
    assert_eq!(dup.contact.name.as_deref(), Some("Dee"));
    assert_eq!(
        dup.contact.metadata.to_object(),
        facts(json!({"tier": "silver", "pet": "cat"}))
    );
    assert_eq!(values(&dup), [(PhoneNumber, "+14155550193", true)]);
    let find = |req: FindRequest| e.find(org_o(), &req).unwrap().map(|c| c.contact.id);
    assert_eq!(find(FindRequest::new().with_phone("+14155550193")), Some(d));
    assert_eq!(find(FindRequest::new().with_email("dee@example.com")), None);
    let dup_shared = e.memory_get(org_o(), dm).unwrap();
    assert_eq!(dup_shared.contact_id, d);
    assert_eq!(
        dup_shared.facts,
        facts(json!({"tz": "ET", "pet": "cat"})),
        "its own tz (the primary's won the merge) comes back; the changed lang does not"
    );
    assert_eq!(contents(&dup_shared), ["d1", "d2"]);
    assert_eq!(
        dup_shared.summary.as_deref(),
        Some("the duplicate's summary")
    );
    let dup_only = e.memory_get(org_o(), only).unwrap();
    assert_eq!(
        (dup_only.contact_id, &dup_only.facts),
        (d, &facts(json!({"x": 1})))
    );
    assert_eq!(dup.memories.len(), 2);

    // The primary, without what came from the duplicate.
    let pri = e.get(org_o(), p).unwrap();
    assert_eq!(out.primary, pri);
    assert_eq!(pri.contact.name, None, "the taken name went back");
    assert_eq!(
        pri.contact.metadata.to_object(),
        facts(json!({"tier": "gold", "city": "Bergen"}))
    );
    assert_eq!(
        values(&pri),
        [
            (Email, "new@example.com", true),
            (PhoneNumber, "+14155550192", true)
        ]
    );
    let pri_shared = e.memory_get(org_o(), pm).unwrap();
    assert_eq!(pri_shared.facts, facts(json!({"tz": "PT", "lang": "en"})));
    assert_eq!(contents(&pri_shared), ["p1", "after"]);
    assert_eq!(pri_shared.summary, None);
    let rest = pri
        .memories
        .iter()
        .find(|m| m.agent_number.as_deref() == Some("+14155550900"))
        .expect("what was written to the moved record since stays with the primary");
    assert_ne!(rest.id, only);
    assert_eq!(rest.facts, facts(json!({"y": 2})));

    assert_eq!(total(&e, org_o()), total_before);
    for id in [p, d] {
        let h = e.history(org_o(), id, 0, 200).unwrap();
        assert_eq!(
            h.entries.last().map(|x| x.kind),
            Some(HistoryKind::Unmerged)
        );
    }
    merge_not_found(e.unmerge(org_o(), p, d), "a second unmerge");
}

/// docs/semantics.md 4, "Unmerge", and Store contract 14: a merge is undone only from
/// the contact it was merged into directly; undoing the later merge of a chain brings
/// back the ids merged into the restored contact, so the earlier merge can be undone
/// next; a memory reset on a primary, or deleting it, erases its merges' snapshots;
/// another org sees none.
pub fn unmerge_follows_chains<S: Store>(store: S) {
    let e = engine(store);
    let a = id_of(&e, &phone("+14155550192"));
    let b = id_of(&e, &phone("+14155550193"));
    let c = id_of(&e, &phone("+14155550194"));
    e.merge(org_o(), b, a).unwrap();
    e.merge(org_o(), c, b).unwrap();
    merge_not_found(e.unmerge(org_o(), c, a), "a was merged into b, not c");
    assert!(
        matches!(
            e.unmerge(org_p(), c, b),
            Err(Error::NotFound {
                entity: "Contact",
                merged_into: None
            })
        ),
        "another org knows neither contact"
    );
    match e.unmerge(org_o(), b, a) {
        Err(Error::NotFound {
            entity: "Contact",
            merged_into,
        }) => assert_eq!(merged_into, Some(c)),
        other => panic!("the merged-away primary: {other:?}"),
    }
    assert!(matches!(
        e.unmerge(org_o(), c, c),
        Err(Error::InvalidInput { .. })
    ));

    e.unmerge(org_o(), c, b).unwrap();
    let err = e.get(org_o(), a).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { merged_into: Some(x), .. } if x == b),
        "a leads to b again: {err:?}"
    );
    let held = |id: ContactId| -> Vec<String> {
        e.get(org_o(), id)
            .unwrap()
            .identifiers
            .into_iter()
            .map(|i| i.identifier_value)
            .collect()
    };
    assert_eq!(held(b), ["+14155550193", "+14155550192"]);
    assert_eq!(held(c), ["+14155550194"]);
    e.unmerge(org_o(), b, a).unwrap();
    assert_eq!(held(a), ["+14155550192"]);
    assert_eq!(held(b), ["+14155550193"]);
    assert_eq!(total(&e, org_o()), 3);

    // A memory reset on the primary erases the copies its merges' snapshots hold, so
    // those merges become final.
    let x = id_of(&e, &phone("+14155550195"));
    e.memory_create(org_o(), x, &ScopeRequest::persona("s"))
        .unwrap();
    e.merge(org_o(), b, x).unwrap();
    assert!(
        e.memory_reset(org_o(), b, &ScopeRequest::persona("s"))
            .unwrap()
    );
    assert_eq!(e.store().merge_snapshot(org_o(), x).unwrap(), None);
    merge_not_found(e.unmerge(org_o(), b, x), "after a memory reset");

    // A deleted primary takes its merges' snapshots with it.
    e.merge(org_o(), c, a).unwrap();
    e.delete(org_o(), c).unwrap();
    assert_eq!(e.store().merge_snapshot(org_o(), a).unwrap(), None);
    assert!(matches!(
        e.unmerge(org_o(), c, a),
        Err(Error::NotFound {
            entity: "Contact",
            merged_into: None
        })
    ));
}

/// docs/semantics.md 4, "Unmerge": two merges into one scope of a primary that had
/// none (the first moves the record whole, the second combines into it) can be undone
/// in either order, and each duplicate gets exactly its own memory back while the
/// primary ends with no record of the scope.
pub fn unmerge_two_merges_into_one_scope<S: Store>(store: S) {
    let e = engine(store);
    let s = ScopeRequest::persona("s");
    for (round, older_first) in [(0u8, true), (1, false)] {
        let number = |n: u8| format!("+1415555{round}{n}92");
        let p = id_of(&e, &phone(&number(0)));
        let d1 = id_of(&e, &phone(&number(1)));
        let d2 = id_of(&e, &phone(&number(2)));
        let m1 = e.memory_create(org_o(), d1, &s).unwrap().memory.id;
        let m2 = e.memory_create(org_o(), d2, &s).unwrap().memory.id;
        e.memory_append_messages(org_o(), m1, &[msg("from d1", 1)], None)
            .unwrap();
        e.memory_append_messages(org_o(), m2, &[msg("from d2", 2)], None)
            .unwrap();
        e.memory_merge_facts(org_o(), m2, &facts(json!({"k": 2})), None)
            .unwrap();
        e.merge(org_o(), p, d1).unwrap();
        e.merge(org_o(), p, d2).unwrap();
        let order = if older_first { [d1, d2] } else { [d2, d1] };
        for d in order {
            let out = e.unmerge(org_o(), p, d).unwrap();
            assert!(out.not_restored.is_empty(), "{:?}", out.not_restored);
            // The answer is what was committed.
            assert_eq!(out.primary, e.get(org_o(), p).unwrap());
            assert_eq!(out.duplicate, e.get(org_o(), d).unwrap());
        }
        let one = e.memory_get(org_o(), m1).unwrap();
        assert_eq!((one.contact_id, contents(&one)), (d1, vec!["from d1"]));
        assert!(one.facts.is_empty(), "older first: {older_first}");
        let two = e.memory_get(org_o(), m2).unwrap();
        assert_eq!((two.contact_id, contents(&two)), (d2, vec!["from d2"]));
        assert_eq!(two.facts, facts(json!({"k": 2})));
        assert!(
            e.get(org_o(), p).unwrap().memories.is_empty(),
            "older first: {older_first}"
        );
    }
}
