//! Where merged-away contact ids lead (the Store contract, rules 12 and 14): one step
//! to the contact that lives on, with the reverse index that lets a merge repoint a
//! chain and a delete remove what led to the deleted contact without a scan, and for
//! each id the contact it was merged into directly and the merge's snapshot, which an
//! unmerge needs.

use std::sync::Arc;

use contacts_core::{ContactId, MergeSnapshot, OrgId};
use hashbrown::HashMap;

#[derive(Debug)]
struct Redirect {
    /// The live end of the chain.
    to: ContactId,
    /// The contact it was merged into directly.
    merged_into: ContactId,
    /// `None` once a memory reset on the contact it leads to erased it.
    snapshot: Option<Arc<MergeSnapshot>>,
}

#[derive(Debug, Default)]
pub(crate) struct Redirects {
    /// Merged-away id to where it leads.
    to: HashMap<(OrgId, ContactId), Redirect>,
    /// A contact to the ids that lead to it.
    from: HashMap<(OrgId, ContactId), Vec<ContactId>>,
}

impl Redirects {
    pub(crate) fn get(&self, org: OrgId, id: ContactId) -> Option<ContactId> {
        self.to.get(&(org, id)).map(|r| r.to)
    }

    pub(crate) fn snapshot(&self, org: OrgId, id: ContactId) -> Option<Arc<MergeSnapshot>> {
        self.to.get(&(org, id)).and_then(|r| r.snapshot.clone())
    }

    /// Whether `id` was merged into `primary` directly.
    pub(crate) fn merged_into(&self, org: OrgId, id: ContactId, primary: ContactId) -> bool {
        self.to
            .get(&(org, id))
            .is_some_and(|r| r.merged_into == primary)
    }

    /// `from → to`, and every id that led to `from` now leads to `to`.
    pub(crate) fn add(
        &mut self,
        org: OrgId,
        from: ContactId,
        to: ContactId,
        snapshot: Arc<MergeSnapshot>,
    ) {
        let mut moved = self.from.remove(&(org, from)).unwrap_or_default();
        for id in &moved {
            if let Some(r) = self.to.get_mut(&(org, *id)) {
                r.to = to;
            }
        }
        moved.push(from);
        self.to.insert(
            (org, from),
            Redirect {
                to,
                merged_into: to,
                snapshot: Some(snapshot),
            },
        );
        self.from.entry((org, to)).or_default().extend(moved);
    }

    /// Undoes `add(org, id, primary, _)`: `id` leads nowhere, and every id whose chain
    /// of direct merges passes through it leads to it again.
    pub(crate) fn restore(&mut self, org: OrgId, id: ContactId, primary: ContactId) {
        self.to.remove(&(org, id));
        let Some(led) = self.from.get_mut(&(org, primary)) else {
            return;
        };
        led.retain(|x| *x != id);
        // The ids whose direct target is `id`, or one of those, transitively.
        let mut through = vec![id];
        let mut back = Vec::new();
        loop {
            let before = back.len();
            for x in led.iter() {
                let direct = self.to.get(&(org, *x)).map(|r| r.merged_into);
                if direct.is_some_and(|d| through.contains(&d)) && !back.contains(x) {
                    back.push(*x);
                    through.push(*x);
                }
            }
            if back.len() == before {
                break;
            }
        }
        led.retain(|x| !back.contains(x));
        for x in &back {
            if let Some(r) = self.to.get_mut(&(org, *x)) {
                r.to = id;
            }
        }
        if !back.is_empty() {
            self.from.entry((org, id)).or_default().extend(back);
        }
    }

    /// Erases the snapshots of the ids that lead to `contact` (a memory reset on it).
    pub(crate) fn forget_snapshots(&mut self, org: OrgId, contact: ContactId) {
        for id in self
            .from
            .get(&(org, contact))
            .map_or(&[][..], Vec::as_slice)
        {
            if let Some(r) = self.to.get_mut(&(org, *id)) {
                r.snapshot = None;
            }
        }
    }

    /// The ids that lead to `contact`.
    pub(crate) fn leading_to(&self, org: OrgId, contact: ContactId) -> &[ContactId] {
        self.from.get(&(org, contact)).map_or(&[], Vec::as_slice)
    }

    /// Forgets every id that led to `contact`, which was deleted, with its snapshot.
    pub(crate) fn remove_to(&mut self, org: OrgId, contact: ContactId) {
        for id in self.from.remove(&(org, contact)).unwrap_or_default() {
            self.to.remove(&(org, id));
        }
    }
}
