//! Differential testing: the same operation sequence, with the same clock and id
//! generator, applied to two stores must give identical JSON at every step.

use contacts_core::{
    ContactId, Engine, Error, ListRequest, MemoryId, MemoryScope, OrgId, ScopeRequest, Store,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::conformance::engine_with;
use crate::machine::write_memory;
use crate::machine::{
    Op, find_request, limits, machine_config, memory_ops, memory_scopes, offsets, org,
    resolve_request, stored_identifiers, update_request,
};
use crate::model::MemoryOp;

/// Any operation; `Get`'s index picks among the contacts created so far in its org.
pub fn op() -> impl Strategy<Value = Op> {
    let org_bit = || prop_oneof![4 => Just(0u8), 1 => Just(1u8)];
    prop_oneof![
        6 => (org_bit(), resolve_request()).prop_map(|(o, r)| Op::Resolve(o, r)),
        2 => (org_bit(), find_request()).prop_map(|(o, r)| Op::Find(o, r)),
        2 => (org_bit(), any::<usize>(), org_bit()).prop_map(|(o, index, q)| Op::Get {
            owner_org: o,
            index,
            query_org: q,
        }),
        1 => org_bit().prop_map(Op::GetUnknown),
        1 => (org_bit(), limits(), offsets()).prop_map(|(o, l, f)| Op::List(o, l, f)),
        2 => (org_bit(), any::<usize>(), memory_scopes())
            .prop_map(|(o, index, scope)| Op::MemoryCreate { org: o, index, scope }),
        2 => (org_bit(), any::<usize>(), update_request()).prop_map(|(o, i, r)| Op::Update(o, i, r)),
        1 => (org_bit(), any::<usize>(), any::<usize>()).prop_map(|(o, p, d)| Op::Merge(o, p, d)),
        // Few contacts per sequence, so a random pair often names a merge made before.
        2 => (org_bit(), any::<usize>(), any::<usize>()).prop_map(|(o, p, d)| Op::Unmerge(o, p, d)),
        1 => (org_bit(), any::<usize>()).prop_map(|(o, i)| Op::Delete(o, i)),
        1 => (org_bit(), any::<usize>(), stored_identifiers()).prop_map(|(o, i, (k, v))| Op::Detach(o, i, k, v)),
        5 => (org_bit(), any::<usize>(), memory_scopes(), memory_ops(), proptest::bool::weighted(0.1))
            .prop_map(|(o, index, scope, op, stale)| Op::Memory { org: o, index, scope, op, stale }),
    ]
}

/// A sequence of up to `max` operations.
pub fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..max)
}

fn render<T: serde::Serialize>(result: Result<T, Error>) -> Value {
    match result {
        Ok(v) => serde_json::to_value(v).expect("engine output serialises"),
        Err(Error::InvalidInput { field, reason }) => {
            json!({"error": "BAD_REQUEST", "field": field, "reason": reason})
        }
        Err(e) => json!({"error": e.code(), "message": e.to_string()}),
    }
}

/// One engine per store, each with the deterministic clock and ids of
/// [`engine_with`] and the state-machine config.
struct Side<S> {
    engine: Engine<S>,
    created: [Vec<ContactId>; 2],
}

impl<S: Store> Side<S> {
    fn step(&mut self, op: &Op) -> Value {
        match op {
            Op::Resolve(o, r) => {
                let out = self.engine.resolve(org(*o), r);
                if let Ok(out) = &out
                    && out.created
                {
                    self.created[usize::from(*o)].push(out.contact.id);
                }
                render(out)
            }
            Op::Find(o, r) => render(self.engine.find(org(*o), r)),
            Op::Get {
                owner_org,
                index,
                query_org,
            } => {
                let ids = &self.created[usize::from(*owner_org)];
                if ids.is_empty() {
                    return Value::Null;
                }
                render(self.engine.get(org(*query_org), ids[index % ids.len()]))
            }
            Op::GetUnknown(o) => render(
                self.engine
                    .get(org(*o), ContactId(uuid::Uuid::from_u128(42))),
            ),
            Op::Update(o, index, req) => match self.pick(*o, *index) {
                Some(id) => render(self.engine.update(org(*o), id, req)),
                None => Value::Null,
            },
            Op::Merge(o, p, d) => match (self.pick(*o, *p), self.pick(*o, *d)) {
                (Some(p), Some(d)) => render(self.engine.merge(org(*o), p, d)),
                _ => Value::Null,
            },
            Op::Unmerge(o, p, d) => match (self.pick(*o, *p), self.pick(*o, *d)) {
                (Some(p), Some(d)) => render(self.engine.unmerge(org(*o), p, d)),
                _ => Value::Null,
            },
            Op::Delete(o, index) => match self.pick(*o, *index) {
                Some(id) => render(self.engine.delete(org(*o), id)),
                None => Value::Null,
            },
            Op::Detach(o, index, kind, value) => match self.pick(*o, *index) {
                Some(id) => {
                    let ident = self
                        .engine
                        .get(org(*o), id)
                        .ok()
                        .and_then(|c| {
                            c.identifiers
                                .into_iter()
                                .find(|x| {
                                    x.identifier_type == *kind && x.identifier_value == *value
                                })
                                .map(|x| x.id)
                        })
                        .unwrap_or(contacts_core::IdentifierId(uuid::Uuid::from_u128(9999)));
                    render(self.engine.detach(org(*o), id, ident))
                }
                None => Value::Null,
            },
            Op::MemoryCreate {
                org: o,
                index,
                scope,
            } => {
                let ids = &self.created[usize::from(*o)];
                if ids.is_empty() {
                    return Value::Null;
                }
                render(
                    self.engine
                        .memory_create(org(*o), ids[index % ids.len()], scope),
                )
            }
            Op::Memory {
                org: o,
                index,
                scope,
                op,
                stale,
            } => {
                let ids = &self.created[usize::from(*o)];
                if ids.is_empty() {
                    return Value::Null;
                }
                self.memory_step(org(*o), ids[index % ids.len()], scope, op, *stale)
            }
            Op::List(o, limit, offset) => render(self.engine.list(
                org(*o),
                ListRequest {
                    limit: *limit,
                    offset: *offset,
                    after: None,
                },
            )),
        }
    }
}

impl<S: Store> Side<S> {
    /// The contact `index` picks among those created in org `o` (deleted ones too).
    fn pick(&self, o: u8, index: usize) -> Option<ContactId> {
        let ids = &self.created[usize::from(o)];
        (!ids.is_empty()).then(|| ids[index % ids.len()])
    }

    fn memory_step(
        &self,
        org: OrgId,
        contact: ContactId,
        scope: &ScopeRequest,
        op: &MemoryOp,
        stale: bool,
    ) -> Value {
        let e = &self.engine;
        // `memory_scopes` gives canonical values only, so the scope maps directly.
        let key = match (&scope.persona_id, &scope.agent_number) {
            (Some(p), _) => MemoryScope::Persona(p.clone()),
            (None, a) => MemoryScope::AgentNumber(a.clone().unwrap_or_default()),
        };
        let current = e
            .store()
            .memory(org, contact, &key)
            .ok()
            .flatten()
            .map(|m| m.id);
        let id = current.unwrap_or(MemoryId(uuid::Uuid::from_u128(7777)));
        let revision = if stale {
            e.memory_get(org, id)
                .ok()
                .map(|m| m.revision.saturating_sub(1))
        } else {
            None
        };
        match op {
            MemoryOp::Reset => render(e.memory_reset(org, contact, scope)),
            MemoryOp::Context => render(e.memory_context(org, contact, scope)),
            write => render(write_memory(e, org, id, write, revision).expect("a write")),
        }
    }
}

/// Applies `ops` to engines over `a` and `b` and panics at the first step whose JSON
/// differs, naming the step and the operation.
pub fn run_differential<A: Store, B: Store>(a: A, b: B, ops: &[Op]) {
    let mut left = Side {
        engine: engine_with(a, machine_config()),
        created: [Vec::new(), Vec::new()],
    };
    let mut right = Side {
        engine: engine_with(b, machine_config()),
        created: [Vec::new(), Vec::new()],
    };
    for (i, op) in ops.iter().enumerate() {
        let l = left.step(op);
        let r = right.step(op);
        assert_eq!(
            l,
            r,
            "step {i} ({op:?}) differs between {:?} and {:?}",
            left.engine.store(),
            right.engine.store()
        );
    }
}
