//! Conformance scenarios for memory switched off per persona or pathway
//! (docs/semantics.md 6, "Switching memory off"; the Store contract, rule 11).

use contacts_core::{
    MemoryEnableRequest, MemoryRecord, MemoryScope, MemorySwitch, NewMessage, Role, ScopeRequest,
    SwitchKind,
};

use super::*;

const VERSION: &str = "4f9d2c1e-8a7b-4c3d-9e2f-1a2b3c4d5e6f";

fn switch(kind: SwitchKind, target: &str, enabled: bool, at: i64) -> MemorySwitch {
    MemorySwitch {
        kind,
        target_id: target.to_owned(),
        version: "7".to_owned(),
        enabled,
        updated_at: Timestamp::from_millis(at),
    }
}

fn commit<S: Store>(e: &Engine<S>, ops: Vec<WriteOp>) -> Result<(), CommitError> {
    e.store().commit(org_o(), &WriteBatch::new(ops))
}

fn expect_on(persona: &str) -> WriteOp {
    WriteOp::ExpectMemoryEnabled {
        persona_id: persona.to_owned(),
    }
}

fn message(text: &str) -> NewMessage {
    NewMessage {
        role: Role::User,
        content: text.to_owned(),
        channel: "sms".to_owned(),
        timestamp: None,
    }
}

fn conflict<T: Debug>(result: Result<T, Error>, what: &str) {
    assert!(
        matches!(&result, Err(Error::Conflict { reason }) if reason.contains("disabled")),
        "{what}: expected a conflict naming the switch, got {result:?}"
    );
}

/// Store contract 11: a switch reads back exactly as committed, the last one wins, the
/// two kinds and the orgs are apart, and a batch that fails takes its switch with it.
pub fn memory_switch_round_trip<S: Store>(store: S) {
    let e = engine(store);
    let s = e.store();
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Persona, "p").unwrap(),
        None
    );
    let off = switch(SwitchKind::Persona, "p", false, 1_000);
    commit(&e, vec![WriteOp::SetMemorySwitch(off.clone())]).unwrap();
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Persona, "p").unwrap(),
        Some(off)
    );
    let on = MemorySwitch {
        version: VERSION.to_owned(),
        ..switch(SwitchKind::Persona, "p", true, 2_000)
    };
    commit(&e, vec![WriteOp::SetMemorySwitch(on.clone())]).unwrap();
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Persona, "p").unwrap(),
        Some(on.clone())
    );
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Pathway, "p").unwrap(),
        None,
        "a persona's switch is not a pathway's"
    );
    assert_eq!(
        s.memory_switch(org_p(), SwitchKind::Persona, "p").unwrap(),
        None,
        "switches are per org"
    );
    let pathway = switch(SwitchKind::Pathway, "p", false, 3_000);
    commit(&e, vec![WriteOp::SetMemorySwitch(pathway.clone())]).unwrap();
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Pathway, "p").unwrap(),
        Some(pathway)
    );
    // All or nothing: the failing precondition after it undoes the switch.
    let failed = commit(
        &e,
        vec![
            WriteOp::SetMemorySwitch(switch(SwitchKind::Persona, "p", false, 4_000)),
            WriteOp::Expect {
                contact_id: ContactId(Uuid::now_v7()),
                version: 1,
            },
        ],
    );
    assert!(
        matches!(failed, Err(CommitError::Precondition(_))),
        "{failed:?}"
    );
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Persona, "p").unwrap(),
        Some(on)
    );
    // Awkward ids round-trip like any other key.
    let odd = switch(SwitchKind::Persona, "persona \u{e9}'\"; --", false, 5_000);
    commit(&e, vec![WriteOp::SetMemorySwitch(odd.clone())]).unwrap();
    assert_eq!(
        s.memory_switch(org_o(), SwitchKind::Persona, &odd.target_id)
            .unwrap(),
        Some(odd)
    );
}

/// Store contract 11: `ExpectMemoryEnabled` passes with no switch and with one that is
/// on, fails as a precondition (writing nothing of its batch) with one that is off, and
/// sees a switch set earlier in its own batch; a pathway's switch never blocks it.
pub fn memory_switch_precondition<S: Store>(store: S) {
    let e = engine(store);
    let c = e
        .resolve(org_o(), &phone("+14155550192"))
        .unwrap()
        .contact
        .id;
    commit(&e, vec![expect_on("p")]).unwrap();
    commit(
        &e,
        vec![WriteOp::SetMemorySwitch(switch(
            SwitchKind::Pathway,
            "p",
            false,
            1,
        ))],
    )
    .unwrap();
    commit(&e, vec![expect_on("p")]).expect("a pathway's switch is not the persona's");
    commit(
        &e,
        vec![WriteOp::SetMemorySwitch(switch(
            SwitchKind::Persona,
            "p",
            false,
            2,
        ))],
    )
    .unwrap();
    let record = e
        .memory_create(org_o(), c, &ScopeRequest::persona("q"))
        .unwrap();
    let mut moved: MemoryRecord = record.memory.clone();
    moved.id = contacts_core::MemoryId(Uuid::now_v7());
    moved.persona_id = Some("p".into());
    let refused = commit(&e, vec![expect_on("p"), WriteOp::InsertMemory(moved)]);
    assert!(
        matches!(refused, Err(CommitError::Precondition(_))),
        "{refused:?}"
    );
    assert!(
        e.store()
            .memory(org_o(), c, &MemoryScope::Persona("p".into()))
            .unwrap()
            .is_none(),
        "the refused batch wrote its record"
    );
    commit(&e, vec![expect_on("q")]).expect("another persona is still on");
    commit(
        &e,
        vec![
            WriteOp::SetMemorySwitch(switch(SwitchKind::Persona, "p", true, 3)),
            expect_on("p"),
        ],
    )
    .expect("the batch's own switch-on counts");
    commit(
        &e,
        vec![
            WriteOp::SetMemorySwitch(switch(SwitchKind::Persona, "q", false, 4)),
            expect_on("q"),
        ],
    )
    .expect_err("the batch's own switch-off counts");
    commit(&e, vec![expect_on("q")]).expect("the failed batch left q on");
}

/// Store contract 11 under real threads: once a switch-off has returned, no memory
/// write of that persona lands, however many were racing it. Four rounds of four
/// writers, because a race lost only now and then must still fail the scenario.
pub fn memory_switch_serialises_with_writes<S: Store>(store: S) {
    let e = Arc::new(engine(store));
    let c = e
        .resolve(org_o(), &phone("+14155550192"))
        .unwrap()
        .contact
        .id;
    let id = e
        .memory_create(org_o(), c, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    for round in 0..4 {
        e.memory_enable(org_o(), &MemoryEnableRequest::persona("p", VERSION, true))
            .unwrap();
        let start = e.memory_get(org_o(), id).unwrap().revision;
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let e = Arc::clone(&e);
                std::thread::spawn(move || {
                    let mut refused = 0;
                    // Bounded, so an engine that never refuses fails instead of hanging.
                    for i in 0..20_000 {
                        if refused > 20 {
                            break;
                        }
                        let text = format!("{round}-{t}-{i}");
                        match e.memory_append_messages(org_o(), id, &[message(&text)], None) {
                            Ok(_) => {}
                            Err(Error::Conflict { reason }) if reason.contains("disabled") => {
                                refused += 1;
                            }
                            Err(other) => panic!("unexpected error: {other:?}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        // Let the writers get going, then switch the persona off in the middle of them.
        while e.memory_get(org_o(), id).unwrap().revision < start + 20 {
            std::thread::yield_now();
        }
        e.memory_enable(org_o(), &MemoryEnableRequest::persona("p", VERSION, false))
            .unwrap();
        let at_switch_off = e.memory_get(org_o(), id).unwrap().revision;
        let refused: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(refused > 0, "no writer saw the switch-off");
        assert_eq!(
            e.memory_get(org_o(), id).unwrap().revision,
            at_switch_off,
            "round {round}: a memory write landed after the switch-off returned"
        );
    }
}

/// docs/semantics.md 6: `memory_enable` takes exactly one target with its own version
/// and the flag, refusing everything else with the documented sentences or a named
/// field, and writing nothing.
pub fn memory_enable_validation<S: Store>(store: S) {
    let e = engine(store);
    let documented = |req: MemoryEnableRequest, field: &str, sentence: &str| match e
        .memory_enable(org_o(), &req)
    {
        Err(err @ Error::InvalidInput { .. }) => {
            assert_eq!(err.message(), sentence);
            assert!(matches!(&err, Error::InvalidInput { field: f, .. } if f == field));
        }
        other => panic!("expected {sentence:?}, got {other:?}"),
    };
    let mut no_flag = MemoryEnableRequest::persona("p", VERSION, true);
    no_flag.memory_enabled = None;
    documented(
        no_flag,
        "memory_enabled",
        "memory_enabled (boolean) is required.",
    );
    let one = "Exactly one of pathway_id or persona_id is required.";
    let neither = MemoryEnableRequest {
        memory_enabled: Some(true),
        ..MemoryEnableRequest::default()
    };
    documented(neither, "persona_id", one);
    let mut both = MemoryEnableRequest::persona("p", VERSION, true);
    both.pathway_id = Some("w".into());
    documented(both, "persona_id", one);
    let mut blank = MemoryEnableRequest::persona("  ", VERSION, true);
    blank.pathway_id = Some("".into());
    documented(blank, "persona_id", one);

    let mut no_version = MemoryEnableRequest::persona("p", VERSION, true);
    no_version.version_id = None;
    assert_invalid(e.memory_enable(org_o(), &no_version), "version_id");
    for bad in ["7", "not-a-uuid", "4f9d2c1e8a7b4c3d9e2f1a2b3c4d5e6f"] {
        assert_invalid(
            e.memory_enable(org_o(), &MemoryEnableRequest::persona("p", bad, true)),
            "version_id",
        );
    }
    let mut mixed = MemoryEnableRequest::persona("p", VERSION, true);
    mixed.version_number = Some(3);
    assert_invalid(e.memory_enable(org_o(), &mixed), "version_number");
    let mut no_number = MemoryEnableRequest::pathway("w", 3, true);
    no_number.version_number = None;
    assert_invalid(e.memory_enable(org_o(), &no_number), "version_number");
    let mut mixed = MemoryEnableRequest::pathway("w", 3, true);
    mixed.version_id = Some(VERSION.into());
    assert_invalid(e.memory_enable(org_o(), &mixed), "version_id");
    assert_invalid(
        e.memory_enable(
            org_o(),
            &MemoryEnableRequest::persona("x".repeat(256), VERSION, true),
        ),
        "persona_id",
    );
    assert_invalid(
        e.memory_enable(org_o(), &MemoryEnableRequest::pathway("a\u{7}", 3, true)),
        "pathway_id",
    );
    for kind in [SwitchKind::Persona, SwitchKind::Pathway] {
        for target in ["p", "w", ""] {
            assert_eq!(e.memory_switch(org_o(), kind, target).unwrap(), None);
        }
    }

    // The accepted forms: trimmed ids, the version as given, the documented messages.
    let upper = VERSION.to_uppercase();
    let on = e
        .memory_enable(
            org_o(),
            &MemoryEnableRequest::persona(" p ", upper.as_str(), true),
        )
        .unwrap();
    assert_eq!(on.message(), "Memory enabled successfully for persona.");
    assert_eq!(
        e.memory_switch(org_o(), SwitchKind::Persona, "p").unwrap(),
        Some(on.clone())
    );
    assert_eq!((on.target_id.as_str(), on.version.as_str()), ("p", VERSION));
    let off = e
        .memory_enable(org_o(), &MemoryEnableRequest::pathway("w", 12, false))
        .unwrap();
    assert_eq!(off.message(), "Memory disabled successfully for pathway.");
    assert_eq!(
        (off.kind, off.version.as_str(), off.enabled),
        (SwitchKind::Pathway, "12", false)
    );
}

/// docs/semantics.md 6: while a persona is off, resolve with it creates and returns no
/// memory, and every memory write for it is refused; its records are kept, readable,
/// resettable, and written again once it is back on. Agent numbers, other personas, a
/// pathway of the same name and other orgs are untouched.
pub fn disabled_persona_gets_no_memory<S: Store>(store: S) {
    let e = engine(store);
    let ana = e
        .resolve(org_o(), &phone("+14155550192").with_persona("support"))
        .unwrap();
    let kept = ana.memory.clone().expect("on by default").id;
    e.memory_append_messages(org_o(), kept, &[message("before")], None)
        .unwrap();
    e.memory_enable(org_o(), &MemoryEnableRequest::pathway("support", 1, false))
        .unwrap();
    let still_on = e
        .resolve(org_o(), &phone("+14155550192").with_persona("support"))
        .unwrap();
    assert!(
        still_on.memory.is_some(),
        "a pathway switched a persona off"
    );

    e.memory_enable(
        org_o(),
        &MemoryEnableRequest::persona("support", VERSION, false),
    )
    .unwrap();
    let known = e
        .resolve(org_o(), &phone("+14155550192").with_persona("support"))
        .unwrap();
    assert_eq!(known.contact.id, ana.contact.id);
    assert_eq!((known.memory, known.memory_created), (None, None));
    let fresh = e
        .resolve(org_o(), &phone("+14155550193").with_persona("support"))
        .unwrap();
    assert!(fresh.created, "the contact is still created");
    assert_eq!((fresh.memory, fresh.memory_created), (None, None));
    let fresh_record = e.get(org_o(), fresh.contact.id).unwrap();
    assert!(fresh_record.memories.is_empty(), "a record was created");

    // Writes are refused and change nothing.
    let before = e.memory_get(org_o(), kept).unwrap();
    conflict(
        e.memory_append_messages(org_o(), kept, &[message("during")], None),
        "append",
    );
    conflict(
        e.memory_replace_summary(org_o(), kept, "s", None),
        "summary",
    );
    conflict(
        e.memory_create(org_o(), fresh.contact.id, &ScopeRequest::persona("support")),
        "create",
    );
    assert_eq!(e.memory_get(org_o(), kept).unwrap(), before);
    // Reads go on: the record is kept, and get-or-create returns it.
    let again = e
        .memory_create(org_o(), ana.contact.id, &ScopeRequest::persona("support"))
        .unwrap();
    assert_eq!((again.memory.id, again.created), (kept, false));
    assert_eq!(
        e.memory_messages(org_o(), kept).unwrap()[0].content,
        "before"
    );

    // Other scopes and orgs are untouched.
    let other = e
        .resolve(org_o(), &phone("+14155550192").with_persona("sales"))
        .unwrap();
    assert_eq!(other.memory_created, Some(true));
    let agent = e
        .resolve(
            org_o(),
            &phone("+14155550192").with_agent_number("+14155550100"),
        )
        .unwrap();
    assert_eq!(agent.memory_created, Some(true));
    let elsewhere = e
        .resolve(org_p(), &phone("+14155550192").with_persona("support"))
        .unwrap();
    assert_eq!(elsewhere.memory_created, Some(true));

    // Reset still removes what was kept.
    let spare = e
        .memory_create(org_o(), ana.contact.id, &ScopeRequest::persona("spare"))
        .unwrap()
        .memory;
    e.memory_enable(
        org_o(),
        &MemoryEnableRequest::persona("spare", VERSION, false),
    )
    .unwrap();
    assert!(
        e.memory_reset(org_o(), ana.contact.id, &ScopeRequest::persona("spare"))
            .unwrap()
    );
    assert!(e.memory_get(org_o(), spare.id).is_err());

    // Back on: the kept record comes back and takes writes again.
    e.memory_enable(
        org_o(),
        &MemoryEnableRequest::persona("support", VERSION, true),
    )
    .unwrap();
    let back = e
        .resolve(org_o(), &phone("+14155550192").with_persona("support"))
        .unwrap();
    assert_eq!(back.memory.map(|m| m.id), Some(kept));
    e.memory_append_messages(org_o(), kept, &[message("after")], None)
        .unwrap();
    let texts: Vec<String> = e
        .memory_messages(org_o(), kept)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(texts, ["before", "after"]);
}
