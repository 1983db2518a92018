//! List (docs/semantics.md 5): order, totals, pages, limits.

use super::*;

fn resolve_n<S: Store>(e: &Engine<S>, org: OrgId, n: usize) -> Vec<ContactId> {
    (0..n)
        .map(|i| {
            e.resolve(
                org,
                &ResolveRequest::new().with_external_id(format!("person-{i:04}")),
            )
            .unwrap()
            .contact
            .id
        })
        .collect()
}

/// docs/semantics.md 5: contacts come in `(created_at, id)` order, a total order even when the
/// clock stands still.
pub fn list_order<S: Store>(store: S) {
    // A frozen clock: every contact has the same created_at, so the id decides.
    let e = Engine::new(store)
        .with_clock(ManualClock::new(EPOCH, 0))
        .with_id_generator(SequentialIds::new());
    let ids = resolve_n(&e, org_o(), 12);
    let listed: Vec<_> = e
        .list(org_o(), ListRequest::new(200, 0))
        .unwrap()
        .data
        .into_iter()
        .map(|c| c.contact.id)
        .collect();
    assert_eq!(listed, ids);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
}

/// docs/semantics.md 5: `total`, `has_more`, and pages that neither repeat nor skip.
pub fn list_total_and_pages<S: Store>(store: S) {
    let e = engine(store);
    let ids = resolve_n(&e, org_o(), 23);
    resolve_n(&e, org_p(), 3);
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = e.list(org_o(), ListRequest::new(5, offset)).unwrap();
        assert_eq!(page.pagination.total, 23);
        assert_eq!(page.pagination.limit, 5);
        assert_eq!(page.pagination.offset, Some(offset as u64));
        let n = page.data.len() as i64;
        assert_eq!(page.pagination.has_more, offset + n < 23);
        seen.extend(page.data.into_iter().map(|c| c.contact.id));
        if !page.pagination.has_more {
            break;
        }
        offset += n;
    }
    assert_eq!(seen, ids);
}

/// docs/semantics.md 5: defaults (limit 50, offset 0) and clamping above 200.
pub fn list_defaults_and_clamping<S: Store>(store: S) {
    let e = engine(store);
    resolve_n(&e, org_o(), 205);
    let page = e.list(org_o(), ListRequest::default()).unwrap();
    assert_eq!(page.data.len(), 50);
    assert_eq!(
        (page.pagination.limit, page.pagination.offset),
        (50, Some(0))
    );
    assert!(page.pagination.has_more);
    let page = e.list(org_o(), ListRequest::new(500, 0)).unwrap();
    assert_eq!(page.data.len(), 200);
    assert_eq!(
        page.pagination.limit, 200,
        "reports the limit actually used"
    );
    let page = e.list(org_o(), ListRequest::new(i64::MAX, 200)).unwrap();
    assert_eq!(page.data.len(), 5);
    assert!(!page.pagination.has_more);
}

/// docs/semantics.md 5: an offset past the end gives an empty page, not an error.
pub fn list_offset_past_end<S: Store>(store: S) {
    let e = engine(store);
    resolve_n(&e, org_o(), 3);
    for offset in [3, 4, 1_000_000, i64::MAX] {
        let page = e.list(org_o(), ListRequest::new(10, offset)).unwrap();
        assert!(page.data.is_empty());
        assert_eq!(page.pagination.total, 3);
        assert!(!page.pagination.has_more);
    }
    let empty = e.list(org_p(), ListRequest::default()).unwrap();
    assert_eq!(empty.pagination.total, 0);
    assert!(empty.data.is_empty());
}

/// docs/semantics.md 5: a limit of 0 or less, or a negative offset, is `InvalidInput`.
pub fn list_rejects_bad_limit_and_offset<S: Store>(store: S) {
    let e = engine(store);
    assert_invalid(e.list(org_o(), ListRequest::new(0, 0)), "limit");
    assert_invalid(e.list(org_o(), ListRequest::new(-5, 0)), "limit");
    assert_invalid(e.list(org_o(), ListRequest::new(10, -1)), "offset");
    assert_invalid(
        e.list(
            org_o(),
            ListRequest {
                offset: Some(i64::MIN),
                ..ListRequest::default()
            },
        ),
        "offset",
    );
}

/// Walks the whole org by cursor from a first page of `limit`, checking each page's
/// pagination; the ids in the order seen.
fn walk_by_cursor<S: Store>(e: &Engine<S>, org: OrgId, limit: i64) -> Vec<ContactId> {
    let mut seen = Vec::new();
    let mut page = e
        .list(
            org,
            ListRequest {
                limit: Some(limit),
                ..ListRequest::default()
            },
        )
        .unwrap();
    assert_eq!(
        page.pagination.offset,
        Some(0),
        "the first page is at offset 0"
    );
    loop {
        assert!(page.data.len() as i64 <= limit);
        seen.extend(page.data.iter().map(|c| c.contact.id));
        let Some(cursor) = page.pagination.next_cursor.clone() else {
            assert!(!page.pagination.has_more, "no cursor only on the last page");
            return seen;
        };
        assert!(page.pagination.has_more, "a cursor only when more follow");
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {cursor}"
        );
        page = e.list(org, ListRequest::after(limit, cursor)).unwrap();
        assert_eq!(page.pagination.offset, None, "a cursor page has no offset");
    }
}

/// docs/semantics.md 5 ("Cursors"): a cursor walk visits every contact once, in list
/// order, even when they all share one millisecond (the id breaks the tie), with
/// `total` on every page; the store contract, rule 5.
pub fn list_cursor_walk<S: Store>(store: S) {
    let e = Engine::new(store)
        .with_clock(ManualClock::new(EPOCH, 0))
        .with_id_generator(SequentialIds::new());
    let ids = resolve_n(&e, org_o(), 23);
    resolve_n(&e, org_p(), 3);
    for limit in [1, 5, 22, 23, 200] {
        assert_eq!(walk_by_cursor(&e, org_o(), limit), ids, "limit {limit}");
    }
    let page = e.list(org_o(), ListRequest::new(5, 10)).unwrap();
    assert_eq!(page.pagination.total, 23);
    let cursor = page.pagination.next_cursor.expect("more follow");
    let next = e.list(org_o(), ListRequest::after(5, cursor)).unwrap();
    assert_eq!(next.pagination.total, 23);
    let next_ids: Vec<_> = next.data.iter().map(|c| c.contact.id).collect();
    assert_eq!(
        next_ids,
        ids[15..20],
        "an offset page's cursor continues it"
    );
    // Another org's walk is its own.
    assert_eq!(walk_by_cursor(&e, org_p(), 2).len(), 3);
}

/// docs/semantics.md 5 ("Cursors"): contacts created or deleted between two pages,
/// the cursor's own contact included, never make the walk repeat or skip another.
pub fn list_cursor_survives_writes<S: Store>(store: S) {
    let e = engine(store);
    let ids = resolve_n(&e, org_o(), 12);
    let first = e.list(org_o(), ListRequest::new(4, 0)).unwrap();
    let mut seen: Vec<ContactId> = first.data.iter().map(|c| c.contact.id).collect();
    assert_eq!(seen, ids[..4]);
    // Delete the contact the cursor names, one already seen and one not yet seen;
    // create two more.
    e.delete(org_o(), ids[3]).unwrap();
    e.delete(org_o(), ids[0]).unwrap();
    e.delete(org_o(), ids[6]).unwrap();
    let late: Vec<ContactId> = (0..2)
        .map(|i| {
            e.resolve(
                org_o(),
                &ResolveRequest::new().with_external_id(format!("late-{i}")),
            )
            .unwrap()
            .contact
            .id
        })
        .collect();
    let mut cursor = first.pagination.next_cursor;
    while let Some(c) = cursor {
        let page = e.list(org_o(), ListRequest::after(4, c)).unwrap();
        assert_eq!(page.pagination.total, 11);
        seen.extend(page.data.iter().map(|c| c.contact.id));
        cursor = page.pagination.next_cursor;
    }
    let mut want: Vec<ContactId> = ids[..4].to_vec();
    want.extend(ids[4..].iter().filter(|id| **id != ids[6]));
    want.extend(late);
    assert_eq!(seen, want);
}

/// docs/semantics.md 5 ("Cursors"): walks by cursor while other threads create and
/// delete contacts. Every contact that exists throughout is seen exactly once, the
/// walk only moves forward in list order, and no contact is seen twice.
pub fn list_cursor_walk_under_concurrent_writes<S: Store>(store: S) {
    let e = Arc::new(Engine::new(store));
    let org = org_o();
    let stable = resolve_n(&e, org, 60);
    let doomed: Vec<ContactId> = (0..60)
        .map(|i| {
            e.resolve(
                org,
                &ResolveRequest::new().with_email(format!("doomed{i}@example.com")),
            )
            .unwrap()
            .contact
            .id
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (e, doomed) = (Arc::clone(&e), doomed.clone());
            std::thread::spawn(move || {
                for i in 0..120 {
                    let req = ResolveRequest::new().with_external_id(format!("writer{w}-{i}"));
                    e.resolve(org, &req).unwrap();
                    if let Some(id) = doomed.get(i * 2 + w) {
                        e.delete(org, *id).unwrap();
                    }
                }
            })
        })
        .collect();
    // Walk for as long as the writers write, and at least three times.
    let mut walks = 0;
    while walks < 3 || writers.iter().any(|w| !w.is_finished()) {
        let mut seen: Vec<(Timestamp, ContactId)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let req = match cursor.take() {
                Some(c) => ListRequest::after(7, c),
                None => ListRequest::new(7, 0),
            };
            let page = e.list(org, req).unwrap();
            seen.extend(
                page.data
                    .iter()
                    .map(|c| (c.contact.created_at, c.contact.id)),
            );
            match page.pagination.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "the walk went back or repeated a contact"
        );
        let ids: BTreeSet<ContactId> = seen.iter().map(|(_, id)| *id).collect();
        for id in &stable {
            assert!(ids.contains(id), "walk {walks} skipped {id}");
        }
        walks += 1;
    }
    for w in writers {
        w.join().expect("writer panicked");
    }
}

/// docs/semantics.md 5 and the store contract, rule 9: `total` follows every insert
/// and delete (resolve, merge, delete), per org, and equals the rows a walk sees.
pub fn list_total_follows_writes<S: Store>(store: S) {
    let e = engine(store);
    assert_eq!(total(&e, org_o()), 0);
    // By email: a merge of two contacts is refused when both hold an external id.
    let ids: Vec<ContactId> = (0..10)
        .map(|i| {
            e.resolve(
                org_o(),
                &ResolveRequest::new().with_email(format!("p{i}@example.com")),
            )
            .unwrap()
            .contact
            .id
        })
        .collect();
    resolve_n(&e, org_p(), 4);
    assert_eq!((total(&e, org_o()), total(&e, org_p())), (10, 4));
    e.merge(org_o(), ids[0], ids[1]).unwrap();
    assert_eq!(total(&e, org_o()), 9, "a merge deletes the duplicate");
    e.delete(org_o(), ids[2]).unwrap();
    assert_eq!(total(&e, org_o()), 8);
    // A resolve that only attaches creates nothing.
    e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_email("p3@example.com")
            .with_external_id("person-0003"),
    )
    .unwrap();
    assert_eq!(total(&e, org_o()), 8);
    assert_eq!(total(&e, org_p()), 4, "another org's total is its own");
    assert_eq!(walk_by_cursor(&e, org_o(), 3).len(), 8);
    for id in walk_by_cursor(&e, org_o(), 50) {
        e.delete(org_o(), id).unwrap();
    }
    assert_eq!(total(&e, org_o()), 0);
    assert!(
        e.list(org_o(), ListRequest::default())
            .unwrap()
            .data
            .is_empty()
    );
}

/// docs/semantics.md 5 ("Cursors"): a value that is not a cursor, or a cursor given
/// with an offset, is `InvalidInput` naming `after`; a valid cursor past the end
/// gives an empty last page.
pub fn list_rejects_bad_cursor<S: Store>(store: S) {
    let e = engine(store);
    resolve_n(&e, org_o(), 3);
    for bad in [
        "",
        "x",
        "not a cursor",
        &"A".repeat(34),
        &"é".repeat(17),
        &"A".repeat(10_000),
    ] {
        assert_invalid(e.list(org_o(), ListRequest::after(10, bad)), "after");
    }
    let page = e.list(org_o(), ListRequest::new(2, 0)).unwrap();
    let cursor = page.pagination.next_cursor.expect("more follow");
    let both = ListRequest {
        offset: Some(0),
        ..ListRequest::after(2, cursor.clone())
    };
    assert_invalid(e.list(org_o(), both), "after");
    assert_invalid(
        e.list(org_o(), ListRequest::after(0, cursor.clone())),
        "limit",
    );
    let last = e.list(org_o(), ListRequest::after(2, cursor)).unwrap();
    assert_eq!(last.data.len(), 1);
    // A cursor naming the last contact: taken while a fourth existed, which then goes.
    let fourth = resolve_n(&e, org_o(), 4)[3];
    let page = e.list(org_o(), ListRequest::new(1, 2)).unwrap();
    let at_third = page.pagination.next_cursor.expect("a fourth follows");
    e.delete(org_o(), fourth).unwrap();
    let end = e.list(org_o(), ListRequest::after(2, at_third)).unwrap();
    assert!(end.data.is_empty());
    assert!(!end.pagination.has_more);
    assert_eq!(end.pagination.next_cursor, None);
}

/// docs/semantics.md 5 ("Export"): the export is the whole org in list order, each
/// contact exactly as the list shows it (memories included), across pages; another
/// org's export is its own, and an empty org exports nothing.
pub fn export_walks_every_contact_once<S: Store>(store: S) {
    let e = engine(store);
    let ids = resolve_n(&e, org_o(), 450);
    resolve_n(&e, org_p(), 2);
    e.resolve(
        org_o(),
        &ResolveRequest::new()
            .with_external_id("person-0007")
            .with_persona("persona-1"),
    )
    .unwrap();
    let exported: Vec<ContactWithRelations> = e.export(org_o()).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        exported.iter().map(|c| c.contact.id).collect::<Vec<_>>(),
        ids
    );
    let mut listed = Vec::new();
    let mut offset = 0;
    loop {
        let page = e.list(org_o(), ListRequest::new(200, offset)).unwrap();
        offset += page.data.len() as i64;
        listed.extend(page.data);
        if !page.pagination.has_more {
            break;
        }
    }
    assert_eq!(exported, listed, "the export shows what the list shows");
    assert_eq!(exported[7].memories.len(), 1);
    assert_eq!(e.export(org_p()).count(), 2);
    let nobody = OrgId(Uuid::from_u128(7));
    assert_eq!(e.export(nobody).count(), 0);
}
