//! `contacts-core`: the semantics of the contact-resolution engine, with no I/O.
//!
//! Apps for voice and SMS agents, CRMs and support desks ask the engine "who is this?"
//! by phone number, email or their own external id, and get back one stable contact,
//! created on first sight. [`Engine`] holds the rules (normalisation, precedence, the
//! compatibility rule, caps, fill-never-overwrite, pagination); a [`Store`] only stores
//! and retrieves. Backends: `contacts-inmemory`, `contacts-sqlite` and `contacts-postgres`.
//!
//! ```
//! use contacts_core::{Engine, FindRequest, ListRequest, OrgId, ResolveRequest};
//! use contacts_inmemory::InMemoryStore;
//!
//! let engine = Engine::new(InMemoryStore::new());
//! let org = OrgId(uuid::Uuid::now_v7());
//!
//! // First sight of a caller: a new contact.
//! let call = engine.resolve(org, &ResolveRequest::new().with_phone("+1 (415) 555-0192"))?;
//! assert!(call.created);
//!
//! // An SMS from the same number with an email: the same contact, email attached.
//! let sms = engine.resolve(
//!     org,
//!     &ResolveRequest::new()
//!         .with_phone("+14155550192")
//!         .with_email("Sarah@Example.com ")
//!         .with_name("Sarah"),
//! )?;
//! assert_eq!((sms.contact.id, sms.created), (call.contact.id, false));
//!
//! let found = engine.find(org, &FindRequest::new().with_email("sarah@example.com"))?;
//! assert_eq!(found.map(|c| c.contact.name), Some(Some("Sarah".into())));
//!
//! let page = engine.list(org, ListRequest::default())?;
//! println!("{}", serde_json::to_string_pretty(&page).unwrap());
//! # Ok::<(), contacts_core::Error>(())
//! ```

mod batch_resolve;
mod config;
mod conversation;
mod cursor;
mod engine;
mod error;
mod events;
mod export;
mod history;
mod ids;
mod lifecycle;
mod memory;
mod memory_changes;
mod memory_ops;
mod memory_switch;
mod metadata;
mod normalize;
#[cfg(feature = "openapi")]
mod openapi;
mod request;
mod retry;
mod shared;
pub mod store;
pub mod strict_json;
mod stripes;
mod time;
mod types;
mod unmerge;
mod validate;

/// Re-exported: a contact's name is one (inline up to 24 bytes).
pub use compact_str::CompactString;
pub use config::{Clock, Config, IdGenerator, ManualClock, SequentialIds, SystemClock, UuidV7};
pub use conversation::{
    ConversationKey, ConversationKind, ConversationLog, MemoryChanges, MemoryState, WriteOptions,
};
pub use engine::Engine;
pub use error::{BoxError, Error, Result};
pub use events::{Event, EventKind, EventLog, EventPage};
pub use export::Export;
pub use history::{Change, ContactHistoryEntry, HistoryKind, HistoryPage};
pub use memory::{
    EmbeddedMemory, Entity, EntityRef, EntityUpsert, HistoryEntry, MemoryContext, MemoryId,
    MemoryLimits, MemoryRecord, MemoryScope, Message, NewMessage, NewOpenItem, OpenItem,
    OpenItemId, Role,
};
pub use memory_switch::{MemoryEnableRequest, MemorySwitch, SwitchKind};
#[doc(hidden)]
pub use normalize::testing as normalize_testing;
pub use normalize::{IgnoreReason, Normalized, Normalizer, PhoneEquivalences};
pub use request::{
    ConflictReason, ContactPage, ContactWithRelations, FindRequest, IdentifierConflict,
    IdentifierRef, IgnoredValue, ListRequest, MemoryOutcome, Pagination, ResolveOutcome,
    ResolveRequest, ScopeRequest, UpdateRequest,
};
pub use shared::SharedContact;
pub use store::Store;
pub use types::{
    Contact, ContactId, Identifier, IdentifierId, IdentifierKind, JsonObject, Metadata, OrgId,
    Timestamp,
};
pub use unmerge::{MemorySnapshot, MergeSnapshot, NotRestored, Unmerged};

/// Re-exported so callers can build metadata without depending on `serde_json`.
pub use serde_json;
/// Re-exported so callers can build ids without depending on `uuid` themselves.
pub use uuid;

/// The README's examples run as doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
