//! A contact shared with the store that holds it.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::Contact;

/// A read-only handle to a contact, cheap to clone; dereferences to [`Contact`].
///
/// A resolve hit hands out the store's own copy rather than a clone of it, so the hot
/// path allocates nothing. The handle may point into a larger record of the store's
/// (the in-memory store keeps a contact, its version and its identifiers in one
/// allocation), which is why it is not simply an `Arc<Contact>`.
///
/// ```
/// use contacts_core::{Contact, ContactId, Metadata, OrgId, SharedContact, Timestamp};
/// use contacts_core::uuid::Uuid;
///
/// let t = Timestamp::from_millis(0);
/// let c = SharedContact::new(Contact {
///     id: ContactId(Uuid::nil()),
///     org_id: OrgId(Uuid::nil()),
///     name: Some("Ana".into()),
///     metadata: Metadata::new(),
///     created_at: t,
///     updated_at: t,
/// });
/// let same = c.clone(); // shares, copies nothing
/// assert_eq!(same.name.as_deref(), Some("Ana"));
/// ```
#[derive(Clone)]
pub struct SharedContact(Arc<dyn AsRef<Contact> + Send + Sync>);

impl SharedContact {
    /// A handle to a contact of its own.
    pub fn new(contact: Contact) -> Self {
        SharedContact(Arc::new(contact))
    }

    /// A handle to the contact inside `record`, sharing it.
    pub fn from_arc<T: AsRef<Contact> + Send + Sync + 'static>(record: Arc<T>) -> Self {
        SharedContact(record)
    }

    /// A copy of the contact, to change.
    pub fn to_contact(&self) -> Contact {
        Contact::clone(self)
    }
}

impl Deref for SharedContact {
    type Target = Contact;

    fn deref(&self) -> &Contact {
        (*self.0).as_ref()
    }
}

impl AsRef<Contact> for Contact {
    fn as_ref(&self) -> &Contact {
        self
    }
}

impl From<Contact> for SharedContact {
    fn from(contact: Contact) -> Self {
        SharedContact::new(contact)
    }
}

impl PartialEq for SharedContact {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl fmt::Debug for SharedContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Contact::fmt(self, f)
    }
}

impl Serialize for SharedContact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Contact::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SharedContact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Contact::deserialize(deserializer).map(SharedContact::new)
    }
}
