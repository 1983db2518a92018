//! Where merged-away contact ids lead (the Store contract, rule 12): one step to the
//! contact that lives on, with the reverse index that lets a merge repoint a chain and
//! a delete remove what led to the deleted contact without a scan.

use contacts_core::{ContactId, OrgId};
use hashbrown::HashMap;

#[derive(Debug, Default)]
pub(crate) struct Redirects {
    /// Merged-away id to the contact it leads to.
    to: HashMap<(OrgId, ContactId), ContactId>,
    /// A contact to the ids that lead to it.
    from: HashMap<(OrgId, ContactId), Vec<ContactId>>,
}

impl Redirects {
    pub(crate) fn get(&self, org: OrgId, id: ContactId) -> Option<ContactId> {
        self.to.get(&(org, id)).copied()
    }

    /// `from → to`, and every id that led to `from` now leads to `to`.
    pub(crate) fn add(&mut self, org: OrgId, from: ContactId, to: ContactId) {
        let mut moved = self.from.remove(&(org, from)).unwrap_or_default();
        for id in &moved {
            self.to.insert((org, *id), to);
        }
        moved.push(from);
        self.to.insert((org, from), to);
        self.from.entry((org, to)).or_default().extend(moved);
    }

    /// The ids that lead to `contact`.
    pub(crate) fn leading_to(&self, org: OrgId, contact: ContactId) -> &[ContactId] {
        self.from.get(&(org, contact)).map_or(&[], Vec::as_slice)
    }

    /// Forgets every id that led to `contact`, which was deleted.
    pub(crate) fn remove_to(&mut self, org: OrgId, contact: ContactId) {
        for id in self.from.remove(&(org, contact)).unwrap_or_default() {
            self.to.remove(&(org, id));
        }
    }
}
