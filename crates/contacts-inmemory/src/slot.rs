//! A contact as the store keeps it: one allocation per contact.

use std::sync::Arc;

use compact_str::CompactString;
use contacts_core::store::{KindCounts, Owner, StoredContact};
use contacts_core::{Contact, Identifier, IdentifierId, IdentifierKind, OrgId, SharedContact};
use thin_vec::ThinVec;

/// A contact with its version and identifiers, in one allocation that the indexes
/// share and that a resolve hit hands out (as a [`SharedContact`]) without copying.
///
/// Laid out for the hit, which reads the org, the version, the counts and the
/// identifier it matched: all of that is inside this allocation when the match is the
/// first identifier, and one more read (a thin pointer to the rest) otherwise. One per
/// contact, so it is kept small: the name and metadata are inline up to 24 bytes, and
/// the struct fits glibc's 192-byte size class (a test below holds it there).
///
/// The field order is fixed (`repr(C)`) so a hit's reads fall on two neighbouring
/// cache lines: the `Arc` counts and the first identifier on one, the version, counts
/// and the contact's id and org (`Contact` is `repr(C)` too) on the next.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Slot {
    /// The oldest identifier.
    first: Option<SlotIdent>,
    pub(crate) version: u64,
    /// Identifiers per kind, saturating (caps are far below `u16::MAX`, so a
    /// saturated count still decides every cap and compatibility check the same way).
    counts: [u16; 3],
    /// The others, oldest first.
    rest: ThinVec<SlotIdent>,
    pub(crate) contact: Contact,
}

/// An identifier inside its contact's slot (the contact id is the slot's).
#[derive(Clone, Debug)]
pub(crate) struct SlotIdent {
    pub(crate) id: IdentifierId,
    pub(crate) value: CompactString,
    pub(crate) kind: IdentifierKind,
    pub(crate) is_primary: bool,
}

impl SlotIdent {
    pub(crate) fn new(i: &Identifier) -> Self {
        SlotIdent {
            id: i.id,
            value: CompactString::from(i.identifier_value.as_str()),
            kind: i.identifier_type,
            is_primary: i.is_primary,
        }
    }
}

impl AsRef<Contact> for Slot {
    fn as_ref(&self) -> &Contact {
        &self.contact
    }
}

impl Slot {
    /// A slot for `contact` at `version` with `identifiers`, oldest first.
    pub(crate) fn new(
        contact: Contact,
        version: u64,
        identifiers: impl IntoIterator<Item = SlotIdent>,
    ) -> Self {
        let mut identifiers = identifiers.into_iter();
        let first = identifiers.next();
        let rest: ThinVec<SlotIdent> = identifiers.collect();
        let mut counts = [0u16; 3];
        for i in first.iter().chain(&rest) {
            let n = &mut counts[i.kind.index()];
            *n = n.saturating_add(1);
        }
        Slot {
            first,
            version,
            counts,
            rest,
            contact,
        }
    }

    /// The identifiers, oldest first.
    pub(crate) fn identifiers(&self) -> impl Iterator<Item = &SlotIdent> {
        self.first.iter().chain(&self.rest)
    }

    /// Whether this contact, of `org`, holds `(kind, value)`. The rest is read only if
    /// the first identifier is not the one (it is another allocation).
    pub(crate) fn holds(&self, org: OrgId, kind: IdentifierKind, value: &str) -> bool {
        let is = |i: &SlotIdent| i.kind == kind && i.value == value;
        self.contact.org_id == org
            && (self.first.as_ref().is_some_and(is) || self.rest.iter().any(is))
    }

    /// What a lookup returns: the slot shared, not copied.
    pub(crate) fn owner(self: &Arc<Self>) -> Owner {
        let [phones, emails, external_ids] = self.counts.map(u32::from);
        Owner {
            contact: SharedContact::from_arc(Arc::clone(self)),
            version: self.version,
            counts: KindCounts::from_counts(phones, emails, external_ids),
        }
    }

    /// The store-level view, for `get` and `list`.
    pub(crate) fn stored(&self) -> StoredContact {
        StoredContact {
            contact: self.contact.clone(),
            identifiers: self
                .identifiers()
                .map(|i| Identifier {
                    id: i.id,
                    contact_id: self.contact.id,
                    identifier_type: i.kind,
                    identifier_value: i.value.to_string(),
                    is_primary: i.is_primary,
                })
                .collect(),
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-contact cost the memory figure in docs/benchmarks.md rests on: with the
    /// `Arc` counts, a slot is at most 184 bytes, glibc's 192-byte chunk.
    #[test]
    fn a_slot_fits_the_192_byte_chunk() {
        assert!(size_of::<Slot>() + 16 <= 184, "{} bytes", size_of::<Slot>());
    }
}
