//! The engine's error categories (docs/semantics.md 8).

use std::borrow::Cow;

use crate::ids::ContactId;

/// The public API's documented error sentences (docs/semantics.md 8). An [`Error::InvalidInput`] whose reason is one of them (or
/// starts with one, as the no-identifier error does when it adds which values were
/// ignored) is shown as it is; every other reason is a fragment shown after its field.
pub(crate) const DOCUMENTED: [&str; 5] = [
    NO_IDENTIFIER,
    NO_SCOPE,
    MERGE_WITH_ITSELF,
    MEMORY_ENABLED_REQUIRED,
    ONE_SWITCH_TARGET,
];

/// `BAD_REQUEST` when no identifier survives normalisation.
pub(crate) const NO_IDENTIFIER: &str =
    "At least one identifier (phone_number, email, or external_id) is required";
/// `BAD_REQUEST` when a memory operation has no scope.
pub(crate) const NO_SCOPE: &str = "persona_id or agent_number is required";
/// `BAD_REQUEST` when a contact is merged with itself.
pub(crate) const MERGE_WITH_ITSELF: &str = "Cannot merge a contact with itself";

/// `INVALID_REQUEST` when `POST /v1/memory/enable` has no `memory_enabled` flag.
pub(crate) const MEMORY_ENABLED_REQUIRED: &str = "memory_enabled (boolean) is required.";
/// `INVALID_REQUEST` when `POST /v1/memory/enable` names neither or both targets.
pub(crate) const ONE_SWITCH_TARGET: &str = "Exactly one of pathway_id or persona_id is required.";

/// What `NotFound` names for `GET /v1/memory/changes`, whose message is documented.
pub(crate) const CONVERSATION: &str = "Call or conversation";
/// `NOT_FOUND` for a call or conversation with no recorded memory changes.
const NO_CONVERSATION_DATA: &str = "Call or conversation not found, or no memory data available";

fn not_found_text(entity: &str, merged_into: Option<ContactId>) -> String {
    match merged_into {
        _ if entity == CONVERSATION => NO_CONVERSATION_DATA.to_owned(),
        Some(c) => format!("{entity} not found: it was merged into {c}"),
        None => format!("{entity} not found"),
    }
}

/// Boxed source error carried by [`Error::Storage`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the engine or a store returns, as categories a caller can branch on.
///
/// The set is `#[non_exhaustive]`: match the categories you act on and keep a
/// wildcard arm. Each category keeps what caused it: [`Error::InvalidInput`] names the
/// offending field, [`Error::Storage`] carries the backend's own error as its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was rejected before anything was written.
    ///
    /// `field` is the request field at fault (for example `phone_number`, `limit`,
    /// `metadata`); `reason` says what is wrong with it in words a caller can show.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field at fault, as named in the JSON API.
        field: Cow<'static, str>,
        /// What is wrong with it.
        reason: Cow<'static, str>,
    },

    /// The object does not exist in this org (or exists only in another org, which
    /// is indistinguishable on purpose).
    #[error("{}", not_found_text(entity, *merged_into))]
    NotFound {
        /// What was looked for, capitalised as in the API's messages (`Contact`).
        entity: &'static str,
        /// For a contact id that a merge took away: the contact it was merged into,
        /// which lives on with its identifiers (docs/semantics.md 4, "Merge
        /// redirects"). `None` for an id that never was or was deleted.
        merged_into: Option<ContactId>,
    },

    /// The request conflicts with the stored state: an identifier owned by another
    /// contact, a cap that would break, or a write that lost a race (a version
    /// precondition failed). Nothing was written.
    #[error("conflict: {reason}")]
    Conflict {
        /// What conflicted.
        reason: Cow<'static, str>,
    },

    /// The storage backend failed. Nothing the engine reported as written is lost,
    /// and a failed write wrote nothing.
    #[error("storage error in {backend}")]
    Storage {
        /// Which backend failed (`sqlite`, `inmemory`, ...).
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// An [`Error::NotFound`] for `entity`, with no redirect.
    pub fn not_found(entity: &'static str) -> Self {
        Error::NotFound {
            entity,
            merged_into: None,
        }
    }

    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(
        field: impl Into<Cow<'static, str>>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Conflict`] with `reason`.
    pub fn conflict(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Conflict {
            reason: reason.into(),
        }
    }

    /// An [`Error::Storage`] from `backend` wrapping `source`.
    pub fn storage(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            backend,
            source: source.into(),
        }
    }

    /// What a person reads: for [`Error::InvalidInput`], `field: reason`, except
    /// the public API's own documented sentences, which are complete as they
    /// are and name their fields themselves; for the other categories, their display.
    pub fn message(&self) -> String {
        match self {
            Error::InvalidInput { field, reason } => {
                if DOCUMENTED.iter().any(|d| reason.starts_with(d)) {
                    reason.to_string()
                } else {
                    format!("{field}: {reason}")
                }
            }
            Error::NotFound { .. } => self.to_string(),
            Error::Conflict { reason } => reason.to_string(),
            Error::Storage { .. } => "Internal error".to_owned(),
        }
    }

    /// The stable upper-case code this error has in the JSON API's envelope
    /// (`BAD_REQUEST`, `NOT_FOUND`, `CONFLICT`, `INTERNAL_ERROR`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "BAD_REQUEST",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::Conflict { .. } => "CONFLICT",
            Error::Storage { .. } => "INTERNAL_ERROR",
        }
    }
}
