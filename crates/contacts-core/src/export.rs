//! Export: every contact of an org, walked by cursor a page at a time, so memory stays
//! flat however large the org (docs/semantics.md 5, "Export").

use std::vec::IntoIter;

use crate::engine::Engine;
use crate::error::Result;
use crate::ids::OrgId;
use crate::request::ContactWithRelations;
use crate::store::{ContactRecord, PageStart, Store};

/// Contacts read per page: the list's own maximum.
const PAGE: u64 = 200;

/// The contacts of one org in list order, each with its identifiers and memories as
/// the list shows them; see [`Engine::export`].
///
/// Each page is one snapshot and the walk goes by cursor, so a contact that exists
/// for the whole walk comes out exactly once, whatever is created or deleted
/// meanwhile. After an error the iterator ends.
#[derive(Debug)]
pub struct Export<'e, S> {
    engine: &'e Engine<S>,
    org: OrgId,
    next: Option<PageStart>,
    page: IntoIter<ContactRecord>,
}

impl<S: Store> Iterator for Export<'_, S> {
    type Item = Result<ContactWithRelations>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.page.next() {
                return Some(Ok(self.engine.with_relations(&record)));
            }
            let start = self.next.take()?;
            match self.engine.page(self.org, start, PAGE) {
                Err(e) => return Some(Err(e)),
                Ok((page, next)) => {
                    self.next = next.map(PageStart::After);
                    self.page = page.contacts.into_iter();
                }
            }
        }
    }
}

impl<S: Store> Engine<S> {
    /// Every contact of `org`, in list order, with identifiers and memories, read a
    /// page at a time by cursor: constant memory for any org.
    ///
    /// ```
    /// # use contacts_core::*;
    /// # use contacts_inmemory::InMemoryStore;
    /// # let engine = Engine::new(InMemoryStore::new());
    /// # let org = OrgId(uuid::Uuid::now_v7());
    /// for i in 0..450 {
    ///     engine.resolve(org, &ResolveRequest::new().with_external_id(format!("crm-{i}")))?;
    /// }
    /// let all: Vec<ContactWithRelations> = engine.export(org).collect::<Result<_>>()?;
    /// assert_eq!(all.len(), 450);
    /// assert_eq!(all[449].identifiers[0].identifier_value, "crm-449");
    /// # Ok::<(), contacts_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Each item is [`Error::Storage`](crate::Error::Storage) when the store fails;
    /// the iterator ends after it.
    pub fn export(&self, org: OrgId) -> Export<'_, S> {
        Export {
            engine: self,
            org,
            next: Some(PageStart::Offset(0)),
            page: Vec::new().into_iter(),
        }
    }
}
