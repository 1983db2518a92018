//! The reference side: the model applies each operation and predicts its outcome.

use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

use super::*;

impl ReferenceStateMachine for ModelMachine {
    type State = RefState;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<RefState> {
        Just(RefState {
            model: Model::new(machine_config()),
            expected: Expected::Nothing,
        })
        .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Op> {
        let org_bit = || prop_oneof![4 => Just(0u8), 1 => Just(1u8)];
        let mut known = Vec::new();
        for o in 0..2u8 {
            for i in 0..state.model.contacts(org(o)).len() {
                known.push((o, i));
            }
        }
        let resolve = (org_bit(), resolve_request()).prop_map(|(o, r)| Op::Resolve(o, r));
        let find = (org_bit(), find_request()).prop_map(|(o, r)| Op::Find(o, r));
        let list = (org_bit(), limits(), offsets()).prop_map(|(o, l, f)| Op::List(o, l, f));
        let unknown = org_bit().prop_map(Op::GetUnknown);
        if known.is_empty() {
            prop_oneof![6 => resolve, 2 => find, 1 => list, 1 => unknown].boxed()
        } else {
            let get =
                (proptest::sample::select(known.clone()), org_bit()).prop_map(|((o, i), q)| {
                    Op::Get {
                        owner_org: o,
                        index: i,
                        query_org: q,
                    }
                });
            let contacts = proptest::sample::select(known);
            let create =
                (contacts.clone(), memory_scopes()).prop_map(|((o, i), scope)| Op::MemoryCreate {
                    org: o,
                    index: i,
                    scope,
                });
            let update =
                (contacts.clone(), update_request()).prop_map(|((o, i), r)| Op::Update(o, i, r));
            // The second contact of a pair is another of the same org where there is one.
            let count = [0, 1].map(|o| state.model.contacts(org(o)).len());
            let other = move |o: u8, i: usize, j: usize| match count[usize::from(o)] {
                n if n > 1 => (i + 1 + j % (n - 1)) % n,
                _ => i,
            };
            let pair = (contacts.clone(), any::<usize>())
                .prop_map(move |((o, i), j)| Op::Merge(o, i, other(o, i, j)));
            let unpair = (contacts.clone(), any::<usize>())
                .prop_map(move |((o, i), j)| Op::Unmerge(o, i, other(o, i, j)));
            // The merges that can be undone, so sequences undo them often.
            let mut undoable = Vec::new();
            for o in 0..2u8 {
                for (d, c) in state.model.contacts(org(o)).iter().enumerate() {
                    if let (Some(p), Some(_)) = (c.direct_into, &c.snapshot) {
                        undoable.push(Op::Unmerge(o, p, d));
                    }
                }
            }
            let delete = contacts.clone().prop_map(|(o, i)| Op::Delete(o, i));
            let detach = (contacts.clone(), stored_identifiers())
                .prop_map(|((o, i), (k, v))| Op::Detach(o, i, k, v));
            let memory = (
                contacts,
                memory_scopes(),
                memory_ops(),
                proptest::bool::weighted(0.1),
            )
                .prop_map(|((o, i), scope, op, stale)| Op::Memory {
                    org: o,
                    index: i,
                    scope,
                    op,
                    stale,
                });
            let mut ops = vec![
                (6, resolve.boxed()),
                (2, find.boxed()),
                (2, get.boxed()),
                (1, list.boxed()),
                (1, unknown.boxed()),
                (2, create.boxed()),
                (6, memory.boxed()),
                (3, update.boxed()),
                (3, pair.boxed()),
                (1, unpair.boxed()),
                (1, delete.boxed()),
                (1, detach.boxed()),
            ];
            if !undoable.is_empty() {
                ops.push((4, proptest::sample::select(undoable).boxed()));
            }
            proptest::strategy::Union::new_weighted(ops).boxed()
        }
    }

    fn preconditions(state: &RefState, op: &Op) -> bool {
        match op {
            Op::Get {
                owner_org, index, ..
            } => *index < state.model.contacts(org(*owner_org)).len(),
            Op::MemoryCreate { org: o, index, .. }
            | Op::Memory { org: o, index, .. }
            | Op::Update(o, index, _)
            | Op::Delete(o, index)
            | Op::Detach(o, index, ..) => *index < state.model.contacts(org(*o)).len(),
            Op::Merge(o, p, d) | Op::Unmerge(o, p, d) => {
                let n = state.model.contacts(org(*o)).len();
                *p < n && *d < n
            }
            _ => true,
        }
    }

    fn apply(mut state: RefState, op: &Op) -> RefState {
        state.expected = match op {
            Op::Resolve(o, r) => Expected::Resolve(state.model.resolve(org(*o), r)),
            Op::Find(o, r) => Expected::Find(state.model.find(org(*o), r)),
            Op::Get {
                owner_org,
                index,
                query_org,
            } => {
                let c = &state.model.contacts(org(*owner_org))[*index];
                let own = owner_org == query_org;
                Expected::Get(own && !c.deleted, c.merged_into.filter(|_| own))
            }
            Op::Update(o, i, r) => Expected::Update(state.model.update(org(*o), *i, r)),
            Op::Merge(o, p, d) => Expected::Done(state.model.merge(org(*o), *p, *d)),
            Op::Unmerge(o, p, d) => Expected::Unmerge(state.model.unmerge(org(*o), *p, *d)),
            Op::Delete(o, i) => Expected::Done(state.model.delete(org(*o), *i)),
            Op::Detach(o, i, k, v) => Expected::Done(state.model.detach(org(*o), *i, *k, v)),
            Op::GetUnknown(_) => Expected::Get(false, None),
            Op::List(o, l, f) => Expected::List(state.model.list(org(*o), *l, *f)),
            Op::MemoryCreate {
                org: o,
                index,
                scope,
            } => Expected::MemoryCreate(state.model.memory_create(org(*o), *index, scope)),
            Op::Memory {
                org: o,
                index,
                scope,
                op,
                stale,
            } => {
                let current = state.model.contacts(org(*o)).get(*index).and_then(|c| {
                    let scope = state
                        .model
                        .scope(scope.persona_id.as_deref(), scope.agent_number.as_deref())
                        .ok()??;
                    c.memories
                        .iter()
                        .find(|m| m.scope == scope)
                        .map(|m| m.revision)
                });
                let writes = !matches!(op, MemoryOp::Reset | MemoryOp::Context);
                let expected = match current {
                    Some(rev) if *stale && writes => Some(rev - 1),
                    _ => None,
                };
                Expected::Memory(
                    state.model.memory_op(org(*o), *index, scope, op, expected),
                    expected,
                )
            }
        };
        state
    }
}
