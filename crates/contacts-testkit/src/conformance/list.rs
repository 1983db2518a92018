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
        assert_eq!(page.pagination.offset, offset as u64);
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
    assert_eq!((page.pagination.limit, page.pagination.offset), (50, 0));
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
                limit: None,
                offset: Some(i64::MIN),
            },
        ),
        "offset",
    );
}
