//! Differential testing: the same operation sequence, with the same clock and id
//! generator, applied to two stores must give identical JSON at every step.

use contacts_core::{ContactId, Engine, Error, ListRequest, Store};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::conformance::engine_with;
use crate::machine::{Op, find_request, limits, machine_config, offsets, org, resolve_request};

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
            Op::List(o, limit, offset) => render(self.engine.list(
                org(*o),
                ListRequest {
                    limit: *limit,
                    offset: *offset,
                },
            )),
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
