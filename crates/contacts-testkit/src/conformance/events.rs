//! Conformance scenarios for the change feed (docs/semantics.md 4, "Change feed"; the
//! Store contract, rule 15).

use std::time::Duration;

use contacts_core::store::PageStart;
use contacts_core::{Event, EventKind, MemoryEnableRequest, MemoryId, ScopeRequest, UpdateRequest};

use super::lifecycle::msg;
use super::*;

fn all<S: Store>(e: &Engine<S>, org: OrgId) -> Vec<Event> {
    e.events(org, 0, 1_000).unwrap().events
}

fn kinds(events: &[Event]) -> Vec<(u64, EventKind)> {
    events.iter().map(|e| (e.sequence, e.kind)).collect()
}

/// docs/semantics.md 4, "Change feed", and Store contract 15: every committed change is
/// one event, numbered 1, 2, 3... per org in commit order, with the versions and
/// revisions it produced; pure reads add none; pages walk by `next_after`; a cursor
/// past the newest event and a zero limit are refused; other orgs see nothing.
pub fn events_record_every_change<S: Store>(store: S) {
    use EventKind as K;
    let e = engine(store);
    let page = e.events(org_o(), 0, 10).unwrap();
    assert_eq!((page.events.len(), page.next_after, page.latest), (0, 0, 0));
    assert!(!page.has_more);

    let a = e
        .resolve(org_o(), &phone("+14155550192"))
        .unwrap()
        .contact
        .id;
    e.resolve(org_o(), &phone("+14155550192")).unwrap(); // a pure read
    e.update(org_o(), a, &UpdateRequest::new().with_name("Ana"))
        .unwrap();
    let m = e
        .memory_create(org_o(), a, &ScopeRequest::persona("p"))
        .unwrap()
        .memory
        .id;
    e.memory_append_messages(org_o(), m, &[msg("hi", 1)], None)
        .unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("crm-b"))
        .unwrap()
        .contact
        .id;
    let bm = e
        .memory_create(org_o(), b, &ScopeRequest::persona("q"))
        .unwrap()
        .memory
        .id;
    e.merge(org_o(), a, b).unwrap();
    e.unmerge(org_o(), a, b).unwrap();
    e.memory_enable(
        org_o(),
        &MemoryEnableRequest::persona("p", Uuid::now_v7().to_string(), false),
    )
    .unwrap();
    e.delete(org_o(), b).unwrap();

    let events = all(&e, org_o());
    let seqs: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "gap-free"
    );
    let expect_start = [
        (1, K::ContactCreated),
        (2, K::ContactUpdated),
        (3, K::MemoryCreated),
        (4, K::MemoryUpdated),
        (5, K::ContactCreated),
        (6, K::MemoryCreated),
    ];
    assert_eq!(kinds(&events[..6]), expect_start);
    assert_eq!(
        (events[0].contact_id, events[0].version),
        (Some(a), Some(1))
    );
    assert_eq!(events[1].version, Some(2));
    assert_eq!(
        (
            events[3].memory_id,
            events[3].contact_id,
            events[3].revision
        ),
        (Some(m), Some(a), Some(2))
    );

    // The merge: the primary updated, the duplicate merged into it, its record moved.
    let merge: Vec<&Event> = events[6..]
        .iter()
        .take_while(|ev| ev.kind != K::ContactUnmerged)
        .collect();
    assert!(
        merge
            .iter()
            .any(|ev| ev.kind == K::ContactUpdated && ev.contact_id == Some(a)),
        "{merge:?}"
    );
    let merged = merge
        .iter()
        .find(|ev| ev.kind == K::ContactMerged)
        .expect("merged event");
    assert_eq!(
        (merged.contact_id, merged.merged_into, merged.version),
        (Some(b), Some(a), Some(2))
    );
    assert!(
        merge.iter().any(|ev| ev.kind == K::MemoryUpdated
            && ev.memory_id == Some(bm)
            && ev.contact_id == Some(a)),
        "the duplicate's record moved: {merge:?}"
    );
    let unmerged = events
        .iter()
        .find(|ev| ev.kind == K::ContactUnmerged)
        .expect("unmerged event");
    assert_eq!((unmerged.contact_id, unmerged.version), (Some(b), Some(3)));
    let switched = events
        .iter()
        .find(|ev| ev.kind == K::MemorySwitched)
        .expect("switch event");
    assert_eq!(
        (switched.persona_id.as_deref(), switched.enabled),
        (Some("p"), Some(false))
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind, last.contact_id, last.version),
        (K::ContactDeleted, Some(b), Some(4))
    );

    // A contact's events carry consecutive versions, ending at its own.
    let mut versions: BTreeMap<ContactId, Vec<u64>> = BTreeMap::new();
    for ev in &events {
        if let (Some(c), Some(v)) = (ev.contact_id, ev.version) {
            versions.entry(c).or_default().push(v);
        }
    }
    for (c, vs) in &versions {
        assert_eq!(*vs, (1..=vs.len() as u64).collect::<Vec<_>>(), "{c}");
    }
    assert_eq!(
        e.history(org_o(), a, 0, 200).unwrap().entries.len(),
        versions[&a].len(),
        "one event per history entry"
    );

    // Pages.
    let n = events.len() as u64;
    let first = e.events(org_o(), 0, 4).unwrap();
    assert_eq!(first.events, events[..4]);
    assert_eq!(
        (first.next_after, first.has_more, first.latest),
        (4, true, n)
    );
    let rest = e.events(org_o(), 4, 1_000).unwrap();
    assert_eq!(rest.events, events[4..]);
    assert_eq!((rest.next_after, rest.has_more), (n, false));
    let caught_up = e.events(org_o(), n, 10).unwrap();
    assert!(caught_up.events.is_empty() && !caught_up.has_more);
    assert_eq!(caught_up.next_after, n);
    assert_invalid(e.events(org_o(), n + 1, 10), "after");
    assert_invalid(e.events(org_o(), 0, 0), "limit");

    // Other orgs have their own feed.
    assert!(all(&e, org_p()).is_empty());
    e.resolve(org_p(), &phone("+14155550192")).unwrap();
    assert_eq!(kinds(&all(&e, org_p())), [(1, K::ContactCreated)]);
    assert_eq!(all(&e, org_o()), events);

    // The JSON shape: only the fields the kind has.
    let json = serde_json::to_value(&events[0]).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["contact_id", "sequence", "timestamp", "type", "version"]
    );
    assert_eq!(json["type"], "contact_created");
}

/// docs/semantics.md 4, "Change feed", and Store contract 15: the feed keeps each org's
/// newest events up to the count, and drops those older than the age, oldest first,
/// leaving one run that ends at the newest; a cursor whose successors were dropped is
/// refused naming `after`, and the numbers go on without reuse; a lowered count is
/// reached over the next writes, each dropping a bounded prefix; a feed turned off
/// writes nothing.
pub fn events_are_bounded<S: Store>(store: S) {
    let store = Arc::new(store);
    let e = engine_with(Arc::clone(&store), Config::default().with_events(3, None));
    for i in 0..5 {
        e.resolve(org_o(), &phone(&format!("+1415555010{i}")))
            .unwrap();
    }
    let kept = all_after(&e, 2);
    assert_eq!(
        kept.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_invalid(e.events(org_o(), 0, 10), "after");
    assert_invalid(e.events(org_o(), 1, 10), "after");
    assert_eq!(e.events(org_o(), 4, 10).unwrap().events.len(), 1);
    // The refused reader learns where the feed ends, and continues from there.
    assert_eq!(e.events_latest(org_o()).unwrap(), 5);
    assert_eq!(e.events_latest(org_p()).unwrap(), 0);
    let page = e.events(org_o(), 5, 10).unwrap();
    assert!(page.events.is_empty() && !page.has_more);

    // By age: one second, on a clock the test moves.
    let clock = Arc::new(ManualClock::new(EPOCH, 0));
    let aged = Engine::with_config(
        Arc::clone(&store),
        Config::default().with_events(100, Some(Duration::from_secs(1))),
    )
    .unwrap()
    .with_clock(Arc::clone(&clock));
    aged.resolve(org_o(), &phone("+14155550200")).unwrap();
    clock.set(Timestamp::from_millis(EPOCH.as_millis() + 2_000));
    aged.resolve(org_o(), &phone("+14155550201")).unwrap();
    let page = aged.events(org_o(), 6, 10).unwrap();
    assert_eq!(kinds(&page.events), [(7, EventKind::ContactCreated)]);
    assert_invalid(aged.events(org_o(), 5, 10), "after");
    // Everything expired: the numbers still go on from the head.
    clock.set(Timestamp::from_millis(EPOCH.as_millis() + 10_000));
    aged.resolve(org_o(), &phone("+14155550202")).unwrap();
    let page = aged.events(org_o(), 7, 10).unwrap();
    assert_eq!(
        page.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [8]
    );
    assert_eq!(page.latest, 8);
    assert_eq!(aged.events_latest(org_o()).unwrap(), 8);

    // A lowered count is reached over the next writes, each dropping at most 2n+8 of
    // the oldest (n = the events it appends), never a gap.
    let many = engine_with(Arc::clone(&store), Config::default().with_events(100, None));
    for i in 0..20 {
        many.resolve(org_o(), &phone(&format!("+1415555{:04}", 300 + i)))
            .unwrap();
    }
    assert_eq!(all_after(&many, 7).len(), 21, "8..=28 kept");
    let fewer = engine_with(Arc::clone(&store), Config::default().with_events(3, None));
    let sequences = |e: &Engine<Arc<S>>| {
        let log = e.store().events(org_o(), 0, 1_000).unwrap();
        log.events.iter().map(|e| e.sequence).collect::<Vec<_>>()
    };
    fewer.resolve(org_o(), &phone("+14155550400")).unwrap();
    assert_eq!(
        sequences(&fewer),
        (18..=29).collect::<Vec<_>>(),
        "ten dropped"
    );
    fewer.resolve(org_o(), &phone("+14155550401")).unwrap();
    assert_eq!(sequences(&fewer), [28, 29, 30]);

    // Off: nothing is written, and the feed stays where it was.
    let off = engine_with(store, Config::default().with_events(0, None));
    off.resolve(org_o(), &phone("+14155550203")).unwrap();
    assert_eq!(off.events(org_o(), 30, 10).unwrap().latest, 30);
}

fn all_after<S: Store>(e: &Engine<S>, after: u64) -> Vec<Event> {
    e.events(org_o(), after, 1_000).unwrap().events
}

/// What a feed reader knows: each live contact's version and each memory record's
/// contact and revision, as the events told it.
#[derive(Debug, Default, PartialEq, Clone)]
struct View {
    contacts: BTreeMap<ContactId, u64>,
    memories: BTreeMap<MemoryId, (ContactId, u64)>,
}

impl View {
    fn apply(&mut self, ev: &Event) {
        use EventKind as K;
        match ev.kind {
            K::ContactCreated | K::ContactUpdated | K::ContactUnmerged => {
                let c = ev.contact_id.expect("contact");
                let v = ev.version.expect("version");
                let before = self.contacts.insert(c, v);
                // Versions of one contact arrive in order and without gaps (an
                // unmerged contact comes back from a merge the view removed).
                let expected = match ev.kind {
                    K::ContactUpdated => Some(v - 1),
                    _ => None,
                };
                assert_eq!(before, expected, "{ev:?}");
            }
            K::ContactMerged | K::ContactDeleted => {
                let c = ev.contact_id.expect("contact");
                assert_eq!(
                    self.contacts.remove(&c),
                    ev.version.map(|v| v - 1),
                    "{ev:?}"
                );
                self.memories.retain(|_, (owner, _)| *owner != c);
            }
            K::MemoryCreated | K::MemoryUpdated => {
                let m = ev.memory_id.expect("memory");
                let entry = (ev.contact_id.expect("contact"), ev.revision.expect("rev"));
                self.memories.insert(m, entry);
            }
            K::MemoryDeleted => {
                self.memories.remove(&ev.memory_id.expect("memory"));
            }
            K::MemorySwitched => {}
        }
    }

    fn of_store<S: Store>(store: &S) -> View {
        let page = store
            .list(org_o(), PageStart::Offset(0), 100_000)
            .expect("list");
        let mut view = View::default();
        for record in page.contacts {
            let id = record.contact.contact.id;
            view.contacts.insert(id, record.contact.version);
            for m in record.memories {
                view.memories.insert(m.id, (id, m.revision));
            }
        }
        view
    }
}

/// docs/semantics.md 4, "Change feed", and Store contract 15: four writers create,
/// update, merge, delete contacts and write memory at once while a reader follows the
/// feed and, at random points, forgets where it was and resumes from a cursor it saved
/// earlier (re-reading what follows, which must be exactly what it saw); when the
/// writers are done and the reader has caught up, what it knows equals the store: no
/// change missed, none seen twice, each contact's versions in order.
pub fn concurrent_writers_feed_a_restarting_reader<S: Store>(store: S) {
    const WRITERS: u64 = 4;
    const OPS: u64 = 150;
    let store = Arc::new(store);
    let e = Arc::new(engine(Arc::clone(&store)));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                let mut x = 0x2545_F491_4F6C_DD1Du64.wrapping_mul(t + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for _ in 0..OPS {
                    let r = next();
                    let person = r % 40;
                    let req = phone(&format!("+1415555{person:04}"));
                    let Ok(out) = e.resolve(org_o(), &req) else {
                        continue;
                    };
                    let c = out.contact.id;
                    // Races with the other writers (a contact deleted or merged away
                    // meanwhile) are expected: only committed changes matter.
                    match (r >> 8) % 6 {
                        0 => {
                            let _ = e.update(
                                org_o(),
                                c,
                                &UpdateRequest::new().with_name(format!("n{}", r % 97)),
                            );
                        }
                        1 | 2 => {
                            if let Ok(m) = e.memory_create(org_o(), c, &ScopeRequest::persona("p"))
                            {
                                let _ = e.memory_append_messages(
                                    org_o(),
                                    m.memory.id,
                                    &[msg("hi", 1)],
                                    None,
                                );
                            }
                        }
                        3 => {
                            let other = phone(&format!("+1415555{:04}", (person + 1) % 40));
                            if let Ok(d) = e.resolve(org_o(), &other)
                                && d.contact.id != c
                            {
                                let _ = e.merge(org_o(), c, d.contact.id);
                            }
                        }
                        4 => {
                            let _ = e.delete(org_o(), c);
                        }
                        _ => {}
                    }
                }
            })
        })
        .collect();
    let reader = {
        let e = Arc::clone(&e);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let mut view = View::default();
            let mut cursor = 0;
            // Saved checkpoints: (cursor, view then, events seen after it).
            let mut saved = (0, View::default(), Vec::<Event>::new());
            let mut restarts = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = e
                    .events(org_o(), cursor, 1 + x % 37)
                    .expect("read the feed");
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                for ev in &page.events {
                    assert_eq!(ev.sequence, cursor + 1, "gap-free, in order");
                    view.apply(ev);
                    saved.2.push(ev.clone());
                    cursor = ev.sequence;
                }
                assert_eq!(page.next_after, cursor);
                if (x >> 40).is_multiple_of(5) {
                    // Restart from the checkpoint: what follows it is what was seen.
                    let (at, ref then, ref seen) = saved;
                    let again = e.events(org_o(), at, 1_000).expect("re-read");
                    let n = seen.len().min(again.events.len());
                    assert_eq!(again.events[..n], seen[..n], "a re-read is identical");
                    cursor = at;
                    view = then.clone();
                    saved.2.clear();
                    restarts += 1;
                } else if (x >> 40) % 5 == 1 {
                    saved = (cursor, view.clone(), Vec::new());
                }
                if finished && !page.has_more && cursor == page.latest {
                    return (view, restarts);
                }
            }
        })
    };
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (view, restarts) = reader.join().expect("reader");
    assert!(restarts > 0, "the reader restarted");
    assert!(!view.contacts.is_empty());
    assert_eq!(
        view,
        View::of_store(&*store),
        "the reader's view is the final state"
    );
}
