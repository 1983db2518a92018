//! The `Store` contract (`contacts_core::store::Store`, rules 1 to 10, 17 and 19): one
//! owner per identifier, versions, concurrent resolves, dynamic dispatch, held memory
//! writes, reads without I/O.

use contacts_core::{MemoryScope, ScopeRequest, UpdateRequest};

use super::*;

/// Store contract 19: a lookup without I/O, whenever it answers, answers what a lookup
/// would at that moment, never an answer a commit has made stale; and
/// `Engine::resolve_without_io` answers a hit as `resolve` does, refuses what `resolve`
/// refuses, and leaves every write to `resolve`.
pub fn lookups_without_io_agree_with_lookups<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    let keys = [
        IdentifierKey {
            kind: PhoneNumber,
            value: "+14155550192",
        },
        IdentifierKey {
            kind: Email,
            value: "a@example.com",
        },
    ];
    let agree = |what: &str| {
        // A lookup first, which may fill a cache the second answers from.
        let owners = e.store().lookup(org_o(), &keys).unwrap();
        if let Some(quick) = e.store().lookup_without_io(org_o(), &keys) {
            assert_eq!(quick, owners, "{what}");
        }
        owners
    };
    agree("after the create");
    agree("again");
    e.update(
        org_o(),
        a.contact.id,
        &UpdateRequest::new().with_name("Sam"),
    )
    .unwrap();
    // Straight after the commit, before any lookup: the old owner is never given.
    if let Some(quick) = e.store().lookup_without_io(org_o(), &keys) {
        let owner = quick[0].as_ref().expect("the phone's owner");
        assert_eq!(
            owner.contact.name.as_deref(),
            Some("Sam"),
            "stale after an update"
        );
    }
    agree("after the update");
    let nobody = [IdentifierKey {
        kind: PhoneNumber,
        value: "+14155550100",
    }];
    let owners = e.store().lookup(org_o(), &nobody).unwrap();
    assert!(owners[0].is_none());
    if let Some(quick) = e.store().lookup_without_io(org_o(), &nobody) {
        assert_eq!(quick, owners, "a key nobody owns");
    }
    e.delete(org_o(), a.contact.id).unwrap();
    if let Some(quick) = e.store().lookup_without_io(org_o(), &keys) {
        assert!(quick.iter().all(Option::is_none), "stale after a delete");
    }

    let hit = phone("+14155550111");
    assert!(
        e.resolve_without_io(org_o(), &hit).is_none(),
        "a first sight writes, so it is resolve's"
    );
    assert_eq!(
        e.find(org_o(), &FindRequest::new().with_phone("+14155550111"))
            .unwrap(),
        None,
        "and nothing was written"
    );
    let first = e.resolve(org_o(), &hit).unwrap();
    agree_outcome(&e, &hit, &first);
    // A hit that would fill the name writes: never answered without I/O.
    assert!(
        e.resolve_without_io(org_o(), &hit.clone().with_name("Ann"))
            .is_none()
    );
    assert!(matches!(
        e.resolve_without_io(org_o(), &ResolveRequest::new()),
        Some(Err(Error::InvalidInput { .. }))
    ));
}

/// `resolve_without_io`, when it answers, answers as `resolve` does.
fn agree_outcome<S: Store>(e: &Engine<S>, req: &ResolveRequest, first: &ResolveOutcome) {
    for _ in 0..2 {
        let full = e.resolve(org_o(), req).unwrap();
        assert_eq!((full.contact.id, full.created), (first.contact.id, false));
        if let Some(quick) = e.resolve_without_io(org_o(), req) {
            assert_eq!(quick.unwrap(), full);
        }
    }
}

/// docs/semantics.md 2.2 and Store contract 4: the storage itself refuses a second owner for an
/// identifier, and a refused batch leaves nothing behind.
pub fn identifier_has_one_owner<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let new_contact = Contact {
        id: ContactId(Uuid::now_v7()),
        ..(*a.contact).clone()
    };
    let ident = |contact_id, value: &str| Identifier {
        id: IdentifierId(Uuid::now_v7()),
        contact_id,
        identifier_type: PhoneNumber,
        identifier_value: value.to_owned(),
        is_primary: true,
    };
    let batch = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(new_contact.clone()),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550192")),
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &batch),
        Err(CommitError::Precondition(_))
    ));
    assert_eq!(stored(&e, org_o(), new_contact.id), None);
    let free = e
        .find(org_o(), &FindRequest::new().with_phone("+14155550100"))
        .unwrap();
    assert_eq!(free, None, "half of a refused batch must not be visible");
    // The same value twice in one batch is refused too.
    let twice = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(new_contact.clone()),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
            WriteOp::InsertIdentifier(ident(new_contact.id, "+14155550100")),
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &twice),
        Err(CommitError::Precondition(_))
    ));
    // A run of several new people (which a backend may write in one statement) whose
    // last value is taken: refused whole.
    let people: Vec<Contact> = (0..3)
        .map(|_| Contact {
            id: ContactId(Uuid::now_v7()),
            ..(*a.contact).clone()
        })
        .collect();
    let mut ops = Vec::new();
    for (i, p) in people.iter().enumerate() {
        ops.push(WriteOp::InsertContact(p.clone()));
        let value = if i == 2 {
            "+14155550192".to_owned()
        } else {
            format!("+1415555011{i}")
        };
        ops.push(WriteOp::InsertIdentifier(ident(p.id, &value)));
    }
    assert!(matches!(
        e.store().commit(org_o(), &WriteBatch { ops }),
        Err(CommitError::Precondition(_))
    ));
    for p in &people {
        assert_eq!(
            stored(&e, org_o(), p.id),
            None,
            "half of a refused run is visible"
        );
    }
    assert_eq!(total(&e, org_o()), 1);
    // In another org the value is free.
    let other_org = Contact {
        org_id: org_p(),
        ..new_contact.clone()
    };
    let ok = WriteBatch {
        ops: vec![
            WriteOp::InsertContact(other_org.clone()),
            WriteOp::InsertIdentifier(ident(other_org.id, "+14155550192")),
        ],
    };
    e.store().commit(org_p(), &ok).unwrap();
    assert_eq!(total(&e, org_o()), 1);
}

/// Store contract 3 and 6: version preconditions are checked atomically with the
/// writes; a version starts at 1 and only `UpdateContact` moves it, by one.
pub fn store_version_preconditions<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let first = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(first.version, 1);
    let renamed = Contact {
        name: Some("New".into()),
        ..(*a.contact).clone()
    };
    let stale = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: renamed.clone(),
            expected_version: 7,
        }],
    };
    assert!(matches!(
        e.store().commit(org_o(), &stale),
        Err(CommitError::Precondition(_))
    ));
    let expect_stale = WriteBatch {
        ops: vec![
            WriteOp::UpdateContact {
                contact: renamed.clone(),
                expected_version: 1,
            },
            WriteOp::Expect {
                contact_id: ContactId(Uuid::now_v7()),
                version: 1,
            },
        ],
    };
    assert!(matches!(
        e.store().commit(org_o(), &expect_stale),
        Err(CommitError::Precondition(_))
    ));
    assert_eq!(
        stored(&e, org_o(), a.contact.id).unwrap().contact.name,
        None
    );
    let good = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: renamed,
            expected_version: 1,
        }],
    };
    e.store().commit(org_o(), &good).unwrap();
    let after = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(
        (after.version, after.contact.name.as_deref()),
        (2, Some("New"))
    );
    // A contact of another org cannot be updated through this org.
    let cross = WriteBatch {
        ops: vec![WriteOp::UpdateContact {
            contact: after.contact.clone(),
            expected_version: 2,
        }],
    };
    assert!(matches!(
        e.store().commit(org_p(), &cross),
        Err(CommitError::Precondition(_))
    ));
    // One update moves a contact's version by exactly one, however many identifier
    // operations the batch also holds for it.
    let ident = |value: &str| {
        WriteOp::InsertIdentifier(Identifier {
            id: IdentifierId(Uuid::now_v7()),
            contact_id: a.contact.id,
            identifier_type: Email,
            identifier_value: value.to_owned(),
            is_primary: false,
        })
    };
    let both = WriteBatch {
        ops: vec![
            WriteOp::UpdateContact {
                contact: after.contact.clone(),
                expected_version: 2,
            },
            ident("v1@example.com"),
            ident("v2@example.com"),
        ],
    };
    e.store().commit(org_o(), &both).unwrap();
    assert_eq!(stored(&e, org_o(), a.contact.id).unwrap().version, 3);
    // Identifier operations alone never move it: the store applies what it is given
    // and keeps no bookkeeping of its own. (The engine never sends such a batch:
    // `WriteBatch::validate` refuses it.)
    let only_ident = WriteBatch {
        ops: vec![ident("v3@example.com")],
    };
    assert!(only_ident.validate().is_err());
    e.store().commit(org_o(), &only_ident).unwrap();
    let last = stored(&e, org_o(), a.contact.id).unwrap();
    assert_eq!(last.version, 3);
    assert_eq!(last.identifiers.len(), 4);
    // An identifier for a contact that does not exist is refused.
    let orphan = WriteBatch {
        ops: vec![WriteOp::InsertIdentifier(Identifier {
            id: IdentifierId(Uuid::now_v7()),
            contact_id: ContactId(Uuid::now_v7()),
            identifier_type: Email,
            identifier_value: "orphan@example.com".to_owned(),
            is_primary: true,
        })],
    };
    assert!(matches!(
        e.store().commit(org_o(), &orphan),
        Err(CommitError::Precondition(_))
    ));
}

/// docs/semantics.md 3 (step 8): 8 threads x 1,000 resolves over an overlapping pool of people. Afterwards
/// no identifier has two owners, each person was created exactly once, and every
/// returned id exists.
pub fn concurrent_resolves_create_each_person_once<S: Store>(store: S) {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 1_000;
    const PEOPLE: u64 = 300;
    let e = Arc::new(Engine::new(store));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                // A small LCG: deterministic per thread, different across threads.
                let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                let mut results = Vec::with_capacity(PER_THREAD as usize);
                for _ in 0..PER_THREAD {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let person = (x >> 33) % PEOPLE;
                    // Every request carries the person's phone, so a person can only
                    // ever be one contact; half also carry the email.
                    let mut req = ResolveRequest::new().with_phone(format!("+1415555{person:04}"));
                    if (x >> 20) & 1 == 1 {
                        req = req.with_email(format!("p{person}@example.com"));
                    }
                    let out = e.resolve(org_o(), &req).expect("resolve under contention");
                    results.push((person, out.contact.id, out.created));
                }
                results
            })
        })
        .collect();
    let mut by_person: HashMap<u64, BTreeSet<ContactId>> = HashMap::new();
    let mut created: BTreeMap<u64, usize> = BTreeMap::new();
    for h in handles {
        for (person, id, was_created) in h.join().expect("thread") {
            by_person.entry(person).or_default().insert(id);
            if was_created {
                *created.entry(person).or_default() += 1;
            }
        }
    }
    for (person, ids) in &by_person {
        assert_eq!(
            ids.len(),
            1,
            "person {person} resolved to several contacts: {ids:?}"
        );
        assert_eq!(
            created.get(person),
            Some(&1),
            "person {person} created {:?} times",
            created.get(person)
        );
    }
    let page = e.list(org_o(), ListRequest::new(200, 0)).unwrap();
    let mut all = page.data;
    let mut offset = all.len() as i64;
    while (all.len() as u64) < page.pagination.total {
        let next = e.list(org_o(), ListRequest::new(200, offset)).unwrap();
        offset += next.data.len() as i64;
        all.extend(next.data);
    }
    assert_eq!(
        all.len(),
        by_person.len(),
        "one contact per person, no strays"
    );
    let mut owners: HashMap<(IdentifierKind, String), ContactId> = HashMap::new();
    for c in &all {
        for i in &c.identifiers {
            let prev = owners.insert(
                (i.identifier_type, i.identifier_value.clone()),
                c.contact.id,
            );
            assert!(prev.is_none(), "{} has two owners", i.identifier_value);
        }
    }
    for ids in by_person.values() {
        for id in ids {
            e.get(org_o(), *id).expect("every returned id exists");
        }
    }
}

/// The store works through `Arc<dyn Store>` and `Box<dyn Store>` (the forwarding impls).
pub fn dyn_store_round_trip<S: Store>(store: S) {
    let shared: Arc<dyn Store> = Arc::new(store);
    let e = engine(Arc::clone(&shared));
    let a = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    let boxed: Box<dyn Store> = Box::new(Arc::clone(&shared));
    let e2 = engine(boxed);
    let again = e2.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert_eq!((again.contact.id, again.created), (a.contact.id, false));
}

/// Store contract 2 and docs/semantics.md 3: `lookup` answers each key with its
/// owner's version and the number of identifiers of each kind it holds (what resolve
/// decides caps and compatibility from), equal to what `get` shows, after attaches,
/// a merge and a detach; keys nobody owns answer `None`, in the order asked.
pub fn lookup_reports_versions_and_counts<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_email("a@example.com"))
        .unwrap();
    let b = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_email("b@example.com")
                .with_external_id("crm-b"),
        )
        .unwrap();
    e.merge(org_o(), a.contact.id, b.contact.id).unwrap();
    let check = |keys: &[IdentifierKey<'_>]| {
        let owners = e.store().lookup(org_o(), keys).unwrap();
        assert_eq!(owners.len(), keys.len());
        for (key, owner) in keys.iter().zip(&owners) {
            let Some(owner) = owner else { continue };
            let s = stored(&e, org_o(), owner.contact.id).expect("owner is stored");
            assert_eq!(owner.version, s.version, "version of the owner of {key:?}");
            assert_eq!(owner.counts, s.counts(), "counts of the owner of {key:?}");
            assert_eq!(*owner.contact, s.contact, "contact of the owner of {key:?}");
        }
        owners
    };
    let owners = check(&[
        IdentifierKey {
            kind: ExternalId,
            value: "crm-b",
        },
        IdentifierKey {
            kind: PhoneNumber,
            value: "+14155550100",
        },
        IdentifierKey {
            kind: Email,
            value: "a@example.com",
        },
    ]);
    assert!(owners[1].is_none(), "an unowned key answers None");
    let owner = owners[0].as_ref().expect("merged external id");
    assert_eq!(
        (
            owner.counts.get(PhoneNumber),
            owner.counts.get(Email),
            owner.counts.get(ExternalId)
        ),
        (1, 2, 1)
    );
    assert_eq!(owners[2].as_ref().map(|o| o.contact.id), Some(a.contact.id));
    let phone_id = e
        .get(org_o(), a.contact.id)
        .unwrap()
        .identifiers
        .iter()
        .find(|i| i.identifier_type == PhoneNumber)
        .unwrap()
        .id;
    e.detach(org_o(), a.contact.id, phone_id).unwrap();
    let owners = check(&[IdentifierKey {
        kind: Email,
        value: "b@example.com",
    }]);
    assert_eq!(
        owners[0].as_ref().map(|o| o.counts.get(PhoneNumber)),
        Some(0)
    );
}

/// Store contract 10: `contact_version` and `memory_revision` say what `get` and
/// `memory` say of the version and revision, through updates and writes, and `None`
/// for what is missing, deleted, or another org's; delete and reset work from them.
pub fn removal_reads_only_versions<S: Store>(store: S) {
    let e = engine(store);
    let scope = ScopeRequest::persona("p");
    let stored_scope = MemoryScope::Persona("p".into());
    let a = e
        .resolve(org_o(), &phone("+14155550192"))
        .unwrap()
        .contact
        .id;
    let check = || {
        let record = e.store().get(org_o(), a).unwrap();
        assert_eq!(
            e.store().contact_version(org_o(), a).unwrap(),
            record.as_ref().map(|r| r.contact.version),
            "contact version"
        );
        let memory = e.store().memory(org_o(), a, &stored_scope).unwrap();
        assert_eq!(
            e.store()
                .memory_revision(org_o(), a, &stored_scope)
                .unwrap(),
            memory.map(|m| (m.id, m.revision)),
            "memory revision"
        );
        assert_eq!(
            e.store().contact_version(org_p(), a).unwrap(),
            None,
            "other org"
        );
        assert_eq!(
            e.store()
                .memory_revision(org_p(), a, &stored_scope)
                .unwrap(),
            None,
            "other org's memory"
        );
    };
    check();
    e.update(org_o(), a, &UpdateRequest::new().with_name("Sam"))
        .unwrap();
    check();
    let m = e.memory_create(org_o(), a, &scope).unwrap().memory.id;
    e.memory_replace_summary(org_o(), m, "first", None).unwrap();
    e.memory_replace_summary(org_o(), m, "second", None)
        .unwrap();
    check();
    assert!(e.memory_reset(org_o(), a, &scope).unwrap());
    check();
    e.delete(org_o(), a).unwrap();
    check();
    assert_eq!(e.store().contact_version(org_o(), a).unwrap(), None);
}

/// Store contract 17: a held memory write calls its `decide` once and commits what
/// it returns exactly as `commit` would: the batch whole, nothing for `None`, and a
/// stale revision refused as a lost race with nothing written. (That the hold keeps
/// other processes' writers off is a property of the stores that several processes
/// share; SQLite's and PostgreSQL's tests for it are each
/// `a_held_memory_write_keeps_other_processes_off`.)
pub fn held_memory_write_commits_once<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_persona("p"))
        .unwrap();
    let m = a.memory.expect("the persona's record").id;
    let read = || e.store().memory_by_id(org_o(), m).unwrap().unwrap();
    let summary_write = |summary: &str, expected_revision: u64| {
        let mut record = (*read()).clone();
        record.summary = Some(summary.into());
        record.revision = expected_revision + 1;
        WriteBatch::new(vec![WriteOp::UpdateMemory {
            record,
            expected_revision,
            entities: contacts_core::store::EntityWrites::Only(Vec::new()),
        }])
    };
    let held = |decide: &mut dyn FnMut() -> Option<WriteBatch>| {
        let mut calls = 0;
        let result = e.store().commit_holding_memory(org_o(), m, &mut || {
            calls += 1;
            decide()
        });
        assert_eq!(calls, 1, "decide is called exactly once");
        result
    };

    let start = read().revision;
    held(&mut || Some(summary_write("held", start))).unwrap();
    let after = read();
    assert_eq!(
        (after.revision, after.summary.as_deref()),
        (start + 1, Some("held")),
        "the held batch is committed"
    );

    held(&mut || None).unwrap();
    assert_eq!(read(), after, "deciding nothing writes nothing");

    let stale = held(&mut || Some(summary_write("stale", start)));
    assert!(
        matches!(stale, Err(CommitError::Precondition(_))),
        "a stale revision is a lost race: {stale:?}"
    );
    assert_eq!(read(), after, "a refused held batch writes nothing");

    // A record of another org is not there to hold: the decision reads it as gone.
    let mut saw = None;
    e.store()
        .commit_holding_memory(org_p(), m, &mut || {
            saw = Some(e.store().memory_by_id(org_p(), m).unwrap());
            None
        })
        .unwrap();
    assert_eq!(saw, Some(None), "org scoping holds for held writes");
}

/// A store whose plain commits of memory writes lose `losses` races before they land
/// (another writer seems to come first each time), and that counts the held ones.
#[derive(Debug)]
struct LosingMemoryWrites<S> {
    store: S,
    losses: std::sync::atomic::AtomicUsize,
    held: std::sync::atomic::AtomicUsize,
}

impl<S: Store> Store for LosingMemoryWrites<S> {
    crate::forward_store_reads!(store);
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
        use std::sync::atomic::Ordering::SeqCst;
        let memory_write = batch
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::UpdateMemory { .. }));
        if memory_write
            && self
                .losses
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(CommitError::precondition("another writer came first"));
        }
        self.store.commit(org, batch)
    }
    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: contacts_core::MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> Result<(), CommitError> {
        self.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.commit_holding_memory(org, id, decide)
    }
}

/// docs/semantics.md 6 and Store contract 17: a memory write that names no revision
/// and keeps losing the race is not given up on: after three lost races it commits
/// held, once, and lands; the lost attempts wrote nothing.
pub fn memory_writes_hold_after_lost_races<S: Store>(store: S) {
    use std::sync::atomic::Ordering::SeqCst;
    let e = engine(LosingMemoryWrites {
        store,
        losses: 0.into(),
        held: 0.into(),
    });
    let a = e
        .resolve(org_o(), &phone("+14155550192").with_persona("p"))
        .unwrap();
    let m = a.memory.expect("the persona's record").id;
    let before = e
        .store()
        .memory_by_id(org_o(), m)
        .unwrap()
        .unwrap()
        .revision;

    e.store().losses.store(2, SeqCst);
    e.memory_replace_summary(org_o(), m, "after two losses", None)
        .unwrap();
    assert_eq!(
        e.store().held.load(SeqCst),
        0,
        "two lost races commit unheld"
    );

    e.store().losses.store(usize::MAX, SeqCst);
    let written = e.memory_replace_summary(org_o(), m, "held", None).unwrap();
    assert_eq!(e.store().held.load(SeqCst), 1, "the fourth attempt is held");
    let stored = e.store().memory_by_id(org_o(), m).unwrap().unwrap();
    assert_eq!(stored.summary.as_deref(), Some("held"));
    assert_eq!(
        stored.revision,
        before + 2,
        "each write moved the revision once"
    );
    assert_eq!(*stored, written);
}
