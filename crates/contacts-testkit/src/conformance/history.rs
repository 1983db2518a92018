//! Conformance scenarios for contact history (docs/semantics.md 4, "History"; the Store
//! contract, rule 13).

use contacts_core::{
    Change, ContactHistoryEntry, HistoryKind, HistoryPage, IdentifierId, ScopeRequest,
    UpdateRequest,
};

use super::*;

fn all<S: Store>(e: &Engine<S>, id: ContactId) -> Vec<ContactHistoryEntry> {
    e.history(org_o(), id, 0, 200).unwrap().entries
}

fn kinds(entries: &[ContactHistoryEntry]) -> Vec<(u64, HistoryKind)> {
    entries.iter().map(|e| (e.version, e.kind)).collect()
}

fn attached(id: IdentifierId, kind: IdentifierKind, value: &str) -> Change {
    Change::IdentifierAttached {
        identifier_id: id,
        identifier_type: kind,
        value: Some(value.to_owned()),
    }
}

fn identifier_id<S: Store>(e: &Engine<S>, contact: ContactId, value: &str) -> IdentifierId {
    e.get(org_o(), contact)
        .unwrap()
        .identifiers
        .iter()
        .find(|i| i.identifier_value == value)
        .expect("identifier held")
        .id
}

/// docs/semantics.md 4 and Store contract 13: every committed change to a contact is one
/// entry, numbered by the version it produced, with what changed (before and after);
/// pure reads and memory writes add none; a merged-away contact keeps its entries;
/// pages walk by version; other orgs see nothing.
pub fn history_records_every_change<S: Store>(store: S) {
    let e = engine(store);
    let first = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_name("Ana")
                .with_metadata(json!({"tier": "gold"})),
        )
        .unwrap();
    let a = first.contact.id;
    let phone_id = identifier_id(&e, a, "+14155550192");
    let created = all(&e, a);
    assert_eq!(kinds(&created), [(1, HistoryKind::Created)]);
    assert_eq!(
        created[0].changes,
        [
            Change::Name {
                before: None,
                after: Some("Ana".into())
            },
            Change::Metadata {
                key: "tier".into(),
                before: None,
                after: Some(json!("gold"))
            },
            attached(phone_id, PhoneNumber, "+14155550192"),
        ]
    );
    assert!(!created[0].redacted);
    assert_eq!(created[0].timestamp, first.contact.created_at);

    // A pure read adds nothing; an attach is one entry.
    e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let with_email = e
        .resolve(
            org_o(),
            &phone("+14155550192").with_email("ana@example.com"),
        )
        .unwrap();
    assert_eq!(with_email.attached.len(), 1);
    let email_id = identifier_id(&e, a, "ana@example.com");
    let entries = all(&e, a);
    assert_eq!(
        kinds(&entries),
        [(1, HistoryKind::Created), (2, HistoryKind::Updated)]
    );
    assert_eq!(
        entries[1].changes,
        [attached(email_id, Email, "ana@example.com")]
    );

    e.update(
        org_o(),
        a,
        &UpdateRequest::new()
            .with_name("Ana Lima")
            .with_metadata(json!({"tier": null, "lang": "pt"})),
    )
    .unwrap();
    assert_eq!(
        all(&e, a)[2].changes,
        [
            Change::Name {
                before: Some("Ana".into()),
                after: Some("Ana Lima".into())
            },
            Change::Metadata {
                key: "lang".into(),
                before: None,
                after: Some(json!("pt"))
            },
            Change::Metadata {
                key: "tier".into(),
                before: Some(json!("gold")),
                after: None
            },
        ]
    );
    e.detach(org_o(), a, email_id).unwrap();
    assert_eq!(
        all(&e, a)[3].changes,
        [Change::IdentifierDetached {
            identifier_id: email_id,
            identifier_type: Email,
            value: Some("ana@example.com".into()),
        }]
    );

    // Memory writes are the memory's, not the contact's.
    let memory = e
        .memory_create(org_o(), a, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    e.memory_replace_summary(org_o(), memory, "s", None)
        .unwrap();
    assert_eq!(all(&e, a).len(), 4);

    // A merge: both sides record it, and the duplicate keeps its entries.
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("crm-b"))
        .unwrap()
        .contact
        .id;
    let ext_id = identifier_id(&e, b, "crm-b");
    e.merge(org_o(), a, b).unwrap();
    let moved = Change::IdentifierMoved {
        identifier_id: ext_id,
        identifier_type: ExternalId,
        value: Some("crm-b".into()),
        from: b,
        to: a,
    };
    let merge = Change::Merge {
        primary: a,
        duplicate: b,
    };
    let primary = all(&e, a);
    assert_eq!(primary[4].kind, HistoryKind::MergedFrom);
    assert_eq!(primary[4].version, 5);
    assert!(primary[4].changes.contains(&moved), "{:?}", primary[4]);
    assert!(primary[4].changes.contains(&merge));
    let duplicate = all(&e, b);
    assert_eq!(
        kinds(&duplicate),
        [(1, HistoryKind::Created), (2, HistoryKind::MergedInto)]
    );
    assert!(duplicate[1].changes.contains(&moved) && duplicate[1].changes.contains(&merge));
    assert!(!duplicate[1].redacted, "a merge is not an erasure");
    for w in primary.windows(2) {
        assert!(w[0].timestamp <= w[1].timestamp);
        assert_eq!(w[0].version + 1, w[1].version, "gap-free");
    }

    // Pages by version.
    let page = |after| e.history(org_o(), a, after, 2).unwrap();
    let HistoryPage {
        entries,
        next_after,
    } = page(0);
    assert_eq!((kinds(&entries).len(), next_after), (2, Some(2)));
    assert_eq!(page(2).next_after, Some(4));
    let last = page(4);
    assert_eq!((last.entries.len(), last.next_after), (1, None));
    assert!(page(5).entries.is_empty());
    assert_invalid(e.history(org_o(), a, 0, 0), "limit");

    // Other orgs and unknown ids.
    assert!(matches!(
        e.history(org_p(), a, 0, 10),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        e.history(org_o(), ContactId(Uuid::now_v7()), 0, 10),
        Err(Error::NotFound { .. })
    ));

    // The JSON shape.
    let json = serde_json::to_value(&created[0]).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "changes",
            "contact_id",
            "redacted",
            "timestamp",
            "type",
            "version"
        ]
    );
    assert_eq!(json["type"], "created");
    assert_eq!(json["changes"][2]["change"], "identifier_attached");
    assert_eq!(json["changes"][2]["identifier_type"], "phone_number");
}

/// docs/semantics.md 4 and Store contract 13: each contact keeps its newest entries up
/// to the bound; a delete appends its entry and erases every personal value from the
/// contact's entries and from those of the contacts merged into it.
pub fn history_is_bounded_and_erased<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_history_per_contact(3));
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_name("Ana"))
        .unwrap()
        .contact
        .id;
    for n in 0..5 {
        e.update(
            org_o(),
            a,
            &UpdateRequest::new().with_name(format!("Ana {n}")),
        )
        .unwrap();
    }
    let entries = all(&e, a);
    assert_eq!(
        entries.iter().map(|e| e.version).collect::<Vec<_>>(),
        [4, 5, 6],
        "the oldest go first"
    );

    let b = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("bea@example.com")
                .with_name("Bea"),
        )
        .unwrap()
        .contact
        .id;
    e.merge(org_o(), a, b).unwrap();
    e.delete(org_o(), a).unwrap();
    let erased = all(&e, a);
    assert_eq!(erased.len(), 3);
    let last = erased.last().unwrap();
    assert_eq!((last.version, last.kind), (8, HistoryKind::Deleted));
    assert!(last.changes.is_empty());
    let merged = all(&e, b);
    for entry in erased.iter().chain(&merged) {
        assert!(entry.redacted, "{entry:?}");
        let text = serde_json::to_string(entry).unwrap();
        for personal in ["Ana", "Bea", "bea@example.com", "+14155550192"] {
            assert!(!text.contains(personal), "{personal} survived: {text}");
        }
    }
    // The facts that are not personal stay: kinds, ids, which identifier moved.
    assert_eq!(merged[1].kind, HistoryKind::MergedInto);
    assert!(merged[1].changes.iter().any(|c| matches!(
        c,
        Change::IdentifierMoved {
            identifier_type: Email,
            value: None,
            ..
        }
    )));
    assert!(matches!(e.get(org_o(), a), Err(Error::NotFound { .. })));

    // Another contact's history is untouched by that erasure.
    let c = e
        .resolve(org_o(), &phone("+14155550193").with_name("Cy"))
        .unwrap()
        .contact
        .id;
    assert!(!all(&e, c)[0].redacted);
}

/// docs/semantics.md 4: with the bound at 0 nothing is recorded and a contact without
/// entries is still found; entries written before it was turned off are still erased
/// with their contact; a page is at most 200 entries, a larger `limit` clamped.
pub fn history_can_be_turned_off<S: Store>(store: S) {
    let store = Arc::new(store);
    let on = engine_with(
        Arc::clone(&store),
        Config::default().with_history_per_contact(300),
    );
    let a = on
        .resolve(org_o(), &phone("+14155550192").with_name("Ana"))
        .unwrap()
        .contact
        .id;
    for n in 0..205 {
        on.update(org_o(), a, &UpdateRequest::new().with_name(format!("A{n}")))
            .unwrap();
    }
    let page = on.history(org_o(), a, 0, 10_000).unwrap();
    assert_eq!(page.entries.len(), 200, "clamped to 200");
    assert_eq!(page.next_after, Some(200));
    assert_eq!(
        on.history(org_o(), a, 200, 10_000).unwrap().entries.len(),
        6
    );

    // Real ids: a second sequential generator would hand out the first engine's ids
    // again, which no deployment ever does.
    let e =
        Engine::with_config(store, Config::default().with_history_per_contact(0)).expect("config");
    e.delete(org_o(), a).unwrap();
    let erased = e.history(org_o(), a, 0, 200).unwrap().entries;
    assert_eq!(erased.len(), 200, "no entry appended with history off");
    for x in &erased {
        assert!(
            x.redacted && !serde_json::to_string(x).unwrap().contains("Ana"),
            "{x:?}"
        );
    }
    assert!(
        matches!(
            e.history(org_o(), ContactId(Uuid::now_v7()), 5, 10),
            Err(Error::NotFound { .. })
        ),
        "an unknown id is NotFound at any cursor"
    );

    let d = e
        .resolve(org_o(), &phone("+14155550194"))
        .unwrap()
        .contact
        .id;
    e.update(org_o(), d, &UpdateRequest::new().with_name("Di"))
        .unwrap();
    let page = e.history(org_o(), d, 0, 10).unwrap();
    assert!(page.entries.is_empty() && page.next_after.is_none());
    e.delete(org_o(), d).unwrap();
    assert!(matches!(
        e.history(org_o(), d, 0, 10),
        Err(Error::NotFound { .. })
    ));
}
