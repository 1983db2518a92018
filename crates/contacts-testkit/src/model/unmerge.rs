//! Unmerge, restated (docs/semantics.md 4, "Unmerge"): the model's snapshot of a merge
//! split back off the primary, field by field, by the one rule: what the duplicate
//! brought and is still there unchanged goes back; what changed since stays and is
//! listed; what never reached the primary comes back from the snapshot.
//!
//! The list helpers at the end restate the engine's (`contacts-core/src/unmerge.rs`)
//! on purpose: shared, a mistake in them would be in both sides and no test would see it.

use super::{Model, ModelContact, ModelMemory, ModelMemorySnapshot, NOT_FOUND, Rejected};
use contacts_core::OrgId;

impl Model {
    /// Undoes the merge of `duplicate` into `primary`. Returns what was not restored,
    /// sorted, each as the engine's `not_restored` field without its ids
    /// (`identifiers`, `metadata.a`, `facts.a`, `entities.order/o1.status`, ...).
    ///
    /// # Errors
    /// `duplicate_contact_id`, or [`NOT_FOUND`] for a primary that is not live or a
    /// duplicate not merged into it directly with its snapshot kept.
    pub fn unmerge(
        &mut self,
        org: OrgId,
        primary: usize,
        duplicate: usize,
    ) -> Result<Vec<String>, Rejected> {
        if primary == duplicate {
            return Err("duplicate_contact_id".into());
        }
        let p = self.live(org, primary)?.clone();
        let o = &self.orgs[&org];
        let snap = o
            .contacts
            .get(duplicate)
            .filter(|d| d.direct_into == Some(primary))
            .and_then(|d| d.snapshot.clone())
            .ok_or_else(|| NOT_FOUND.to_owned())?;
        let mut lost = Vec::new();
        let mut pc = p.clone();
        let mut dc = snap.duplicate.clone();
        dc.identifiers.clear();
        dc.memories.clear();
        if snap.name_taken {
            if pc.name == dc.name {
                pc.name = None;
            } else {
                dc.name = None;
                lost.push("name".to_owned());
            }
        }
        for key in &snap.metadata_taken {
            if pc.metadata.get(key) == dc.metadata.get(key) {
                pc.metadata.remove(key);
            } else {
                dc.metadata.remove(key);
                lost.push(format!("metadata.{key}"));
            }
        }
        // An identifier goes back if the primary still holds that very attachment.
        for (key, number) in snap.duplicate.identifiers.iter().zip(&snap.attached) {
            if pc.identifiers.contains(key) && o.attached.get(key) == Some(number) {
                dc.identifiers.push(key.clone());
            } else {
                lost.push("identifiers".to_owned());
            }
        }
        pc.identifiers.retain(|k| !dc.identifiers.contains(k));
        for part in &snap.memories {
            self.split_memory(&mut pc, &mut dc, part, &mut lost);
        }
        pc.memories.sort_by_key(|m| m.seq);
        dc.memories.sort_by_key(|m| m.seq);
        let o = self.orgs.get_mut(&org).expect("org exists");
        for key in &dc.identifiers {
            o.owners.insert(key.clone(), duplicate);
        }
        // Every id whose chain of direct merges passes through the duplicate leads to
        // it again.
        let mut through = vec![duplicate];
        loop {
            let more: Vec<usize> = o
                .contacts
                .iter()
                .enumerate()
                .filter(|(i, c)| {
                    c.merged_into == Some(primary)
                        && c.direct_into.is_some_and(|t| through.contains(&t))
                        && !through.contains(i)
                })
                .map(|(i, _)| i)
                .collect();
            if more.is_empty() {
                break;
            }
            through.extend(more);
        }
        for i in &through[1..] {
            o.contacts[*i].merged_into = Some(duplicate);
        }
        o.contacts[primary] = pc;
        o.contacts[duplicate] = dc;
        lost.sort();
        Ok(lost)
    }

    /// One of the duplicate's records split off the primary's record of its scope.
    fn split_memory(
        &mut self,
        pc: &mut ModelContact,
        dc: &mut ModelContact,
        part: &ModelMemorySnapshot,
        lost: &mut Vec<String>,
    ) {
        let d = &part.record;
        let before = part.primary_before.as_ref();
        let Some(pos) = pc.memories.iter().position(|m| m.scope == d.scope) else {
            // An earlier unmerge took the primary's record away: this one comes back whole.
            let mut back = d.clone();
            back.revision += 1;
            dc.memories.push(back);
            return;
        };
        let current = pc.memories[pos].clone();
        let mut left = current.clone();
        let mut back = d.clone();
        for (k, v) in &d.facts {
            if before.is_some_and(|b| b.facts.contains_key(k)) {
                continue;
            }
            if left.facts.get(k) == Some(v) {
                left.facts.remove(k);
            } else {
                back.facts.remove(k);
                lost.push(format!("facts.{k}"));
            }
        }
        let own = before.map(|b| b.messages.clone()).unwrap_or_default();
        let window = self.config.memory.window;
        left.messages = rebuilt(
            own,
            &part.trimmed_messages,
            &current.messages,
            &d.messages,
            window,
            |m| m.3,
        );
        let own = before.map(|b| b.history.clone()).unwrap_or_default();
        let bound = self.config.memory.max_history;
        left.history = rebuilt(
            own,
            &part.trimmed_history,
            &current.history,
            &d.history,
            bound,
            |h| *h as i64,
        );
        for item in &d.open_items {
            if let Some(i) = left.open_items.iter().position(|x| x == item) {
                left.open_items.remove(i);
            } else {
                back.open_items.retain(|x| x.0 != item.0);
                lost.push("open_items".to_owned());
            }
        }
        for de in &d.entities {
            let key = format!("entities.{}/{}", de.0, de.1);
            let had = before.and_then(|b| b.entities.iter().find(|e| e.0 == de.0 && e.1 == de.1));
            let now_at = left
                .entities
                .iter()
                .position(|e| e.0 == de.0 && e.1 == de.1);
            match (had, now_at) {
                (None, Some(i)) if left.entities[i] == *de => {
                    left.entities.remove(i);
                }
                (None, _) | (Some(_), None) => {
                    back.entities.retain(|e| !(e.0 == de.0 && e.1 == de.1));
                    lost.push(key);
                }
                (Some(had), Some(i)) => {
                    let b = back
                        .entities
                        .iter_mut()
                        .find(|e| e.0 == de.0 && e.1 == de.1)
                        .expect("the snapshot's own");
                    let l = &mut left.entities[i];
                    for (f, v) in b.3.clone() {
                        if had.3.contains_key(&f) {
                            continue;
                        }
                        if l.3.get(&f) == Some(&v) {
                            l.3.remove(&f);
                        } else {
                            b.3.remove(&f);
                            lost.push(format!("{key}.facts.{f}"));
                        }
                    }
                    if had.2.is_none() && b.2.is_some() {
                        if l.2 == b.2 {
                            l.2 = None;
                        } else {
                            b.2 = None;
                            lost.push(format!("{key}.status"));
                        }
                    }
                }
            }
        }
        let taken = before.is_none_or(|b| b.summary.as_deref().is_none_or(str::is_empty));
        if taken && d.summary.as_deref().is_some_and(|s| !s.is_empty()) {
            if left.summary == d.summary {
                left.summary = before.and_then(|b| b.summary.clone());
            } else {
                back.summary = None;
                lost.push("summary".to_owned());
            }
        }
        let changed = left != current;
        if current.seq == d.seq {
            // It moved whole: it goes back, and what was written to it since stays
            // with the primary as a new record.
            back.revision = current.revision + 1;
            pc.memories.remove(pos);
            if has_content(&left) {
                self.next_seq += 1;
                left.seq = self.next_seq;
                left.revision = 1;
                pc.memories.push(left);
            }
        } else {
            back.revision = d.revision + 1;
            let leftover = before.is_none_or(|b| b.seq != current.seq);
            if leftover && !has_content(&left) {
                pc.memories.remove(pos);
            } else if changed {
                left.revision = current.revision + 1;
                pc.memories[pos] = left;
            }
        }
        dc.memories.push(back);
    }
}

/// Whether a record holds anything an agent would read.
fn has_content(m: &ModelMemory) -> bool {
    !m.facts.is_empty()
        || !m.messages.is_empty()
        || !m.open_items.is_empty()
        || !m.entities.is_empty()
        || m.summary.as_deref().is_some_and(|s| !s.is_empty())
}

/// The primary's list after an unmerge: its own from before the merge that are still
/// there or that the merge's window dropped, then what was added since (neither its own
/// nor the duplicate's), by time, the newest `bound` kept. Counted, so an item both held
/// stays once on each.
fn rebuilt<T: Clone + PartialEq>(
    own: Vec<T>,
    trimmed: &[T],
    current: &[T],
    theirs: &[T],
    bound: usize,
    time: impl Fn(&T) -> i64,
) -> Vec<T> {
    let mut since = current.to_vec();
    let mut dropped = trimmed.to_vec();
    let mut out: Vec<T> = own
        .into_iter()
        .filter(|x| take(&mut since, x) || take(&mut dropped, x))
        .collect();
    for x in theirs {
        take(&mut since, x);
    }
    out.extend(since);
    out.sort_by_key(|x| time(x));
    let excess = out.len().saturating_sub(bound);
    out.drain(..excess);
    out
}

fn take<T: PartialEq>(from: &mut Vec<T>, x: &T) -> bool {
    match from.iter().position(|y| y == x) {
        Some(i) => {
            from.remove(i);
            true
        }
        None => false,
    }
}

/// `items` without one of each of `removed` (counted).
pub(super) fn minus<T: Clone + PartialEq>(items: &[T], removed: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    for x in removed {
        take(&mut out, x);
    }
    out
}
