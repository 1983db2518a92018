//! Conformance scenarios for merge redirects (docs/semantics.md 4, "Merge redirects";
//! the Store contract, rule 12).

use contacts_core::{IdentifierId, ScopeRequest, UpdateRequest};

use super::unmerge::bare_snapshot;
use super::*;

/// The error of an operation on a merged-away id: `NotFound`, carrying where it went.
#[track_caller]
fn merged<T: Debug>(result: Result<T, Error>, into: Option<ContactId>, what: &str) {
    match result {
        Err(Error::NotFound {
            entity: "Contact",
            merged_into,
        }) => assert_eq!(merged_into, into, "{what}"),
        other => panic!("{what}: expected NotFound (merged into {into:?}), got {other:?}"),
    }
}

fn id_of<S: Store>(e: &Engine<S>, req: &ResolveRequest) -> ContactId {
    e.resolve(org_o(), req).unwrap().contact.id
}

/// docs/semantics.md 4 and Store contract 12: after a merge every operation that takes
/// the duplicate's id answers `NotFound` naming the primary; a chain of merges leads to
/// its live end in one step; deleting that end leaves a plain `NotFound`; redirects
/// never cross orgs, and a plain delete makes none.
pub fn redirects_follow_merges<S: Store>(store: S) {
    let e = engine(store);
    let a = id_of(&e, &phone("+14155550192"));
    let b = id_of(&e, &ResolveRequest::new().with_email("b@example.com"));
    let c = id_of(&e, &ResolveRequest::new().with_external_id("crm-c"));
    e.merge(org_o(), a, b).unwrap();

    let into_a = Some(a);
    merged(e.get(org_o(), b), into_a, "get");
    let err = e.get(org_o(), b).unwrap_err();
    assert_eq!(
        err.message(),
        format!("Contact not found: it was merged into {a}")
    );
    merged(
        e.update(org_o(), b, &UpdateRequest::new().with_name("X")),
        into_a,
        "update",
    );
    merged(e.delete(org_o(), b), into_a, "delete");
    merged(
        e.detach(org_o(), b, IdentifierId(Uuid::now_v7())),
        into_a,
        "detach",
    );
    merged(e.merge(org_o(), b, c), into_a, "merge into it");
    merged(e.merge(org_o(), c, b), into_a, "merge it away");
    merged(
        e.memory_create(org_o(), b, &ScopeRequest::persona("p")),
        into_a,
        "memory create",
    );
    merged(
        e.memory_context(org_o(), b, &ScopeRequest::persona("p")),
        into_a,
        "memory context",
    );
    merged(
        e.memory_reset(org_o(), b, &ScopeRequest::persona("p")),
        into_a,
        "memory reset",
    );
    // Nothing of that changed the primary.
    assert_eq!(e.get(org_o(), a).unwrap().contact.name, None);
    assert_eq!(e.store().redirect(org_o(), b).unwrap(), Some(a));
    assert_eq!(e.store().redirect(org_o(), a).unwrap(), None);

    // Never across orgs.
    merged(e.get(org_p(), b), None, "another org");
    assert_eq!(e.store().redirect(org_p(), b).unwrap(), None);

    // A chain is one step to its live end.
    e.merge(org_o(), c, a).unwrap();
    merged(e.get(org_o(), a), Some(c), "the first primary");
    merged(e.get(org_o(), b), Some(c), "the first duplicate");
    assert_eq!(e.store().redirect(org_o(), b).unwrap(), Some(c));
    let found = e
        .find(org_o(), &FindRequest::new().with_email("b@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(found.contact.id, c, "its identifiers went along");

    // Deleting the end removes what led to it.
    e.delete(org_o(), c).unwrap();
    for id in [a, b, c] {
        merged(e.get(org_o(), id), None, "after the delete");
        assert_eq!(e.store().redirect(org_o(), id).unwrap(), None);
    }
    let d = id_of(&e, &phone("+14155550193"));
    e.delete(org_o(), d).unwrap();
    merged(e.get(org_o(), d), None, "a plain delete");
    merged(
        e.get(org_o(), ContactId(Uuid::now_v7())),
        None,
        "an unknown id",
    );

    // Store level: the target must live, and a failed batch records nothing.
    let x = id_of(&e, &phone("+14155550194"));
    let gone = ContactId(Uuid::now_v7());
    let refused = e.store().commit(
        org_o(),
        &WriteBatch::new(vec![WriteOp::Redirect {
            from: x,
            to: gone,
            snapshot: Box::new(bare_snapshot(&e, x, gone)),
        }]),
    );
    assert!(
        matches!(refused, Err(CommitError::Precondition(_))),
        "{refused:?}"
    );
    assert_eq!(e.store().redirect(org_o(), x).unwrap(), None);
}
