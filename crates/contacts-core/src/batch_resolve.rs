//! Batch resolve (docs/semantics.md 3, "Batches"): many resolves with the outcomes of
//! running them one after another, committed in as few transactions as that allows.
//!
//! Items are decided in order against the store, and their batches pile up in one
//! pending transaction. A pending write can change what a later item reads only
//! through a key it inserts or a contact it touches (resolve never deletes or moves an
//! identifier), so before an item that looks up such a key or whose owners include
//! such a contact, the pending transaction is committed and the item reads afresh.
//! Every other item reads exactly what it would have read had the earlier items been
//! committed one by one. If the pending commit loses a race (or fails), its items run
//! again one at a time through [`Engine::resolve`], whose own retry loop settles them,
//! so a batch never reports an outcome that was not committed.
//!
//! The keys of a window of items are looked up together, once: until the first flush,
//! nothing this batch wrote is visible to any read, so each item's owners are those it
//! would have read for itself (a concurrent writer's commit in between is caught by
//! the preconditions, as it would be for a read made later).

use std::collections::HashSet;

use compact_str::CompactString;
use smallvec::SmallVec;

use crate::engine::Engine;
use crate::engine::ResolveInput;
use crate::error::{Error, Result};
use crate::ids::{ContactId, OrgId};
use crate::request::{ResolveOutcome, ResolveRequest};
use crate::store::{IdentifierKey, Owner, Owners, Store, WriteBatch, WriteOp};
use crate::types::IdentifierKind;

/// Items whose keys are looked up together, in one read. A window's read is dropped
/// at its first flush (the items after it read for themselves), so a batch of people
/// who are all new reads once per window, and one of repeats costs what it did.
const LOOKAHEAD: usize = 64;

/// The transaction being gathered: its operations, the items whose outcomes it
/// carries, and what a later item must not read past.
#[derive(Default)]
struct Pending {
    ops: Vec<WriteOp>,
    /// The items' history entries, written after every other operation: they have no
    /// preconditions, and kept together a backend writes them in one statement, as it
    /// writes a run of new people.
    history: Vec<WriteOp>,
    items: Vec<(usize, ResolveOutcome)>,
    keys: HashSet<(IdentifierKind, CompactString)>,
    contacts: HashSet<ContactId>,
}

impl Pending {
    fn add(&mut self, item: usize, outcome: ResolveOutcome, ops: Vec<WriteOp>) {
        let (history, ops): (Vec<WriteOp>, Vec<WriteOp>) = ops
            .into_iter()
            .partition(|op| matches!(op, WriteOp::AppendHistory { .. }));
        self.history.extend(history);
        for op in &ops {
            match op {
                WriteOp::Expect { contact_id, .. } => {
                    self.contacts.insert(*contact_id);
                }
                WriteOp::InsertContact(c) | WriteOp::UpdateContact { contact: c, .. } => {
                    self.contacts.insert(c.id);
                }
                WriteOp::InsertIdentifier(i) => {
                    self.contacts.insert(i.contact_id);
                    self.keys.insert((
                        i.identifier_type,
                        CompactString::from(i.identifier_value.as_str()),
                    ));
                }
                WriteOp::InsertMemory(m) => {
                    self.contacts.insert(m.contact_id);
                }
                // Resolve writes nothing else; any other operation would be pinned by
                // a contact listed above.
                _ => {}
            }
        }
        self.ops.extend(ops);
        self.items.push((item, outcome));
    }

    fn blocks_keys(&self, prepared: &crate::engine::Prepared<'_>) -> bool {
        !self.keys.is_empty()
            && prepared
                .keys()
                .iter()
                .any(|k| self.keys.contains(&(k.kind, CompactString::from(k.value))))
    }

    fn blocks_owners(&self, owners: &[Option<Owner>]) -> bool {
        owners
            .iter()
            .flatten()
            .any(|o| self.contacts.contains(&o.contact.id))
    }
}

impl<S: Store> Engine<S> {
    /// Resolves each request in order, with the outcomes that many
    /// [`resolve`](Engine::resolve) calls run one after another would give, in as
    /// few transactions as correctness allows (one for a batch of different new
    /// people; see docs/semantics.md 3, "Batches"). One result per request, in order:
    /// an invalid request is its own error and does not stop the others.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// let out = engine.resolve_many(
    ///     org,
    ///     &[
    ///         ResolveRequest::new().with_phone("+14155550192"),
    ///         ResolveRequest::new().with_phone("not a number"),
    ///         ResolveRequest::new().with_phone("+1 415 555 0192").with_name("Sarah"),
    ///     ],
    /// )?;
    /// let first = out[0].as_ref().expect("created");
    /// assert!(first.created);
    /// assert!(matches!(out[1], Err(Error::InvalidInput { .. })));
    /// let third = out[2].as_ref().expect("found");
    /// assert_eq!((third.contact.id, third.created), (first.contact.id, false));
    /// assert_eq!(third.contact.name.as_deref(), Some("Sarah"));
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `requests` when there are more than
    /// [`Config::max_batch_requests`](crate::Config::max_batch_requests); nothing is
    /// written. Each item's own errors are those of [`resolve`](Engine::resolve).
    pub fn resolve_many(
        &self,
        org: OrgId,
        requests: &[ResolveRequest],
    ) -> Result<Vec<Result<ResolveOutcome>>> {
        let max = self.config.max_batch_requests;
        if requests.len() > max {
            return Err(Error::invalid(
                "requests",
                format!("at most {max} requests per batch, got {}", requests.len()),
            ));
        }
        let mut results: Vec<Option<Result<ResolveOutcome>>> =
            requests.iter().map(|_| None).collect();
        let mut pending = Pending::default();
        for (w, window) in requests.chunks(LOOKAHEAD).enumerate() {
            let base = w * LOOKAHEAD;
            let inputs: Vec<Result<ResolveInput<'_>>> =
                window.iter().map(|req| self.resolve_input(req)).collect();
            // On an error each item reads for itself below, and meets it there.
            let mut ahead = self.look_ahead(org, &inputs).ok();
            for (j, input) in inputs.into_iter().enumerate() {
                let i = base + j;
                let input = match input {
                    Ok(input) => input,
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                };
                if pending.blocks_keys(&input.prepared) {
                    self.flush(org, requests, &mut pending, &mut results);
                    // What was read ahead predates what the flush committed.
                    ahead = None;
                }
                let keys = input.prepared.keys();
                let mut step = || {
                    let mut owners = match ahead.as_mut() {
                        Some(ahead) => std::mem::take(&mut ahead[j]),
                        None => self.store.lookup(org, &keys)?,
                    };
                    if pending.blocks_owners(&owners) {
                        self.flush(org, requests, &mut pending, &mut results);
                        ahead = None;
                        owners = self.store.lookup(org, &keys)?;
                    }
                    self.resolve_step(org, &input, owners)
                };
                match step() {
                    Err(e) => results[i] = Some(Err(e)),
                    Ok((outcome, ops)) if ops.is_empty() => results[i] = Some(Ok(outcome)),
                    Ok((outcome, ops)) => pending.add(i, outcome, ops),
                }
            }
        }
        self.flush(org, requests, &mut pending, &mut results);
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::storage("engine", "a batch item was lost"))))
            .collect())
    }

    /// The owners of every valid input's keys, per input, in one read: what each would
    /// read for itself, had nothing been committed since (the caller drops them at
    /// its first flush). An invalid input gets no owners.
    fn look_ahead(&self, org: OrgId, inputs: &[Result<ResolveInput<'_>>]) -> Result<Vec<Owners>> {
        let per_input: Vec<_> = inputs
            .iter()
            .map(|input| {
                input
                    .as_ref()
                    .map_or_else(|_| SmallVec::new(), |i| i.prepared.keys())
            })
            .collect();
        let keys: Vec<IdentifierKey<'_>> = per_input.iter().flatten().copied().collect();
        let mut owners = self.store.lookup(org, &keys)?.into_iter();
        Ok(per_input
            .iter()
            .map(|keys| owners.by_ref().take(keys.len()).collect())
            .collect())
    }

    /// Commits the pending transaction and records its items' outcomes; if the commit
    /// fails, runs its items again one at a time, in order.
    fn flush(
        &self,
        org: OrgId,
        requests: &[ResolveRequest],
        pending: &mut Pending,
        results: &mut [Option<Result<ResolveOutcome>>],
    ) {
        let Pending {
            mut ops,
            history,
            items,
            ..
        } = std::mem::take(pending);
        if items.is_empty() {
            return;
        }
        ops.extend(history);
        let batch = WriteBatch::new(ops);
        debug_assert_eq!(batch.validate(), Ok(()), "the engine built a bad batch");
        let batch = self.with_events(batch);
        match self.store.commit(org, &batch) {
            Ok(()) => {
                for (i, outcome) in items {
                    results[i] = Some(Ok(outcome));
                }
            }
            // A lost race or a failed backend: each item settles on its own, with its
            // own retries and its own error.
            Err(_) => {
                for (i, _) in items {
                    results[i] = Some(self.resolve(org, &requests[i]));
                }
            }
        }
    }
}
