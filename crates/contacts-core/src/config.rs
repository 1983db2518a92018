//! Engine configuration, and the injectable clock and id generator.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::memory::MemoryLimits;
use crate::types::{IdentifierKind, Timestamp};

/// How the engine resolves, normalises and bounds its input.
///
/// `Config::default()` is the behaviour docs/semantics.md describes. Build a variant
/// with the `with_*` methods (or set the public fields of a default);
/// [`Engine::with_config`](crate::Engine::with_config) validates it.
///
/// ```
/// use contacts_core::{Config, Engine, IdentifierKind, OrgId, PhoneEquivalences, ResolveRequest};
/// use contacts_inmemory::InMemoryStore;
///
/// let config = Config::default()
///     .with_default_region("GB")
///     .with_strict_phone_validation(true)
///     .with_cap(IdentifierKind::Email, 2)
///     .with_junk_values(["null", "tbd"])
///     .with_phone_equivalences(PhoneEquivalences::none())
///     .with_message_window(50);
/// config.validate()?;
/// let engine = Engine::with_config(InMemoryStore::new(), config)?;
/// let org = OrgId(contacts_core::uuid::Uuid::now_v7());
/// let out = engine.resolve(org, &ResolveRequest::new().with_phone("07911 123456"))?;
/// assert_eq!(out.attached[0].identifier_value, "+447911123456");
/// // Strict mode refuses a number in an unassigned range.
/// assert!(engine.resolve(org, &ResolveRequest::new().with_phone("07700 900123")).is_err());
/// # Ok::<(), contacts_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Kinds from highest to lowest precedence; must name each kind exactly once.
    /// Default `external_id > email > phone_number`.
    pub precedence: [IdentifierKind; 3],
    /// Most identifiers of each kind one contact may hold, indexed by
    /// [`IdentifierKind::index`]. Default: phone 5, email 5, external id 1.
    pub caps: [u32; 3],
    /// ISO 3166 region (`"US"`, `"GB"`) used to read phone numbers written without a
    /// country code. `None` (the default) rejects such numbers.
    pub default_region: Option<String>,
    /// Also require the phone library's validity check (rejects numbers in unassigned
    /// ranges). Off by default.
    pub strict_phone_validation: bool,
    /// Values that count as absent and are reported back as ignored, compared
    /// case-insensitively after trimming.
    pub junk_values: Vec<String>,
    /// Also treat any value made only of `0` and `-` as junk (default on).
    pub junk_zeros_and_dashes: bool,
    /// Placeholder numbers that voice and SMS platforms send for withheld or unknown
    /// callers, in E.164 (docs/semantics.md 2.1, "Junk"). They are ignored like junk,
    /// with or without their `+`, so anonymous callers never share one contact. The
    /// default holds Twilio's (`+266696687` ANONYMOUS, `+7378742833` and `+17378742833`
    /// RESTRICTED, `+2562533` BLOCKED, `+8656696` UNKNOWN, `+86282452253`
    /// UNAVAILABLE, spelled on a keypad).
    pub junk_phone_numbers: Vec<String>,
    /// Forms of one number that networks deliver differently and that fold into one key
    /// (docs/semantics.md 2.1, "Equivalent forms"). All on by default.
    pub phone_equivalences: crate::normalize::PhoneEquivalences,
    /// Accept email addresses that are not globally deliverable: a domain without a dot
    /// (`user@localhost`) or on a special-use name (`.local`, `.test`, `.invalid`, ...).
    /// Off by default.
    pub email_local_domains: bool,
    /// Longest accepted `name`, in characters. Default 256.
    pub max_name_chars: usize,
    /// Largest accepted `metadata`, serialised, in bytes. Default 64 KiB.
    pub max_metadata_bytes: usize,
    /// Deepest accepted `metadata` nesting (the top-level object is depth 1). Default 16.
    pub max_metadata_depth: usize,
    /// Most requests one [`Engine::resolve_many`](crate::Engine::resolve_many) call
    /// takes. Default 1,000.
    pub max_batch_requests: usize,
    /// Bounds on memory records.
    pub memory: MemoryLimits,
    /// History entries kept per contact, the oldest dropped first (docs/semantics.md
    /// 4, "History"); 0 keeps none. Default 100.
    pub history_per_contact: usize,
    /// Events kept in each org's change feed, the oldest dropped first
    /// (docs/semantics.md 4, "Change feed"); 0 turns the feed off. Default 100,000.
    pub events_per_org: u64,
    /// Events older than this are dropped from the feed too; `None` keeps them until
    /// the count bound drops them. Default 30 days.
    pub events_max_age: Option<std::time::Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            precedence: IdentifierKind::ALL,
            caps: [5, 5, 1],
            default_region: None,
            strict_phone_validation: false,
            junk_values: [
                "null",
                "undefined",
                "none",
                "nil",
                "n/a",
                "unknown",
                "anonymous",
                "restricted",
                "unavailable",
                "private",
                "blocked",
                "withheld",
                "-1",
                "-2",
                "-3",
            ]
            .map(String::from)
            .to_vec(),
            junk_zeros_and_dashes: true,
            junk_phone_numbers: [
                "+266696687",
                "+1266696687",
                "+7378742833",
                "+17378742833",
                "+2562533",
                "+8656696",
                "+86282452253",
            ]
            .map(String::from)
            .to_vec(),
            phone_equivalences: crate::normalize::PhoneEquivalences::default(),
            email_local_domains: false,
            max_name_chars: 256,
            max_metadata_bytes: 64 * 1024,
            max_metadata_depth: 16,
            max_batch_requests: 1_000,
            memory: MemoryLimits::default(),
            history_per_contact: 100,
            events_per_org: 100_000,
            events_max_age: Some(std::time::Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

impl Config {
    /// Sets the precedence order, highest first.
    #[must_use]
    pub fn with_precedence(mut self, order: [IdentifierKind; 3]) -> Self {
        self.precedence = order;
        self
    }

    /// Sets the message window (messages kept per memory record).
    #[must_use]
    pub fn with_message_window(mut self, window: usize) -> Self {
        self.memory.window = window;
        self
    }

    /// Sets the cap for one kind.
    #[must_use]
    pub fn with_cap(mut self, kind: IdentifierKind, cap: u32) -> Self {
        self.caps[kind.index()] = cap;
        self
    }

    /// Sets the default phone region (ISO 3166 alpha-2, e.g. `"US"`).
    #[must_use]
    pub fn with_default_region(mut self, region: impl Into<String>) -> Self {
        self.default_region = Some(region.into());
        self
    }

    /// Turns the phone library's validity check on or off.
    #[must_use]
    pub fn with_strict_phone_validation(mut self, strict: bool) -> Self {
        self.strict_phone_validation = strict;
        self
    }

    /// Replaces the junk list.
    #[must_use]
    pub fn with_junk_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.junk_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the placeholder numbers ignored as withheld callers (E.164).
    #[must_use]
    pub fn with_junk_phone_numbers<I, S>(mut self, numbers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.junk_phone_numbers = numbers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets which equivalent phone forms fold into one key.
    #[must_use]
    pub fn with_phone_equivalences(
        mut self,
        equivalences: crate::normalize::PhoneEquivalences,
    ) -> Self {
        self.phone_equivalences = equivalences;
        self
    }

    /// Accepts (or not) email addresses on dotless and special-use domains.
    #[must_use]
    pub fn with_email_local_domains(mut self, allow: bool) -> Self {
        self.email_local_domains = allow;
        self
    }

    /// Sets how many history entries each contact keeps (0: none).
    #[must_use]
    pub fn with_history_per_contact(mut self, entries: usize) -> Self {
        self.history_per_contact = entries;
        self
    }

    /// Sets the change feed's retention: the newest `events` of each org (0: no feed),
    /// and those younger than `max_age` (`None`: any age).
    ///
    /// ```
    /// use std::time::Duration;
    /// use contacts_core::Config;
    ///
    /// let config = Config::default().with_events(10_000, Some(Duration::from_secs(86_400)));
    /// assert_eq!(config.events_per_org, 10_000);
    /// ```
    #[must_use]
    pub fn with_events(mut self, events: u64, max_age: Option<std::time::Duration>) -> Self {
        self.events_per_org = events;
        self.events_max_age = max_age;
        self
    }

    /// The cap for `kind`.
    pub fn cap(&self, kind: IdentifierKind) -> u32 {
        self.caps[kind.index()]
    }

    /// Position of `kind` in the precedence order (0 is highest).
    pub fn rank(&self, kind: IdentifierKind) -> usize {
        // `validate` guarantees every kind appears once, so the search always succeeds;
        // the fallback only keeps this total for an unvalidated config.
        self.precedence
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(self.precedence.len())
    }

    /// Checks the configuration is coherent.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the setting (`config.precedence`,
    /// `config.caps`, `config.default_region`, ...) when it is not.
    pub fn validate(&self) -> Result<()> {
        for kind in IdentifierKind::ALL {
            if self.precedence.iter().filter(|k| **k == kind).count() != 1 {
                return Err(Error::invalid(
                    "config.precedence",
                    "must name phone_number, email and external_id exactly once each",
                ));
            }
            if self.cap(kind) == 0 {
                return Err(Error::invalid(
                    "config.caps",
                    format!("the cap for {kind} must be at least 1"),
                ));
            }
        }
        if let Some(region) = &self.default_region {
            crate::normalize::parse_region(region)?;
        }
        let m = &self.memory;
        if self.max_name_chars == 0
            || self.max_metadata_bytes == 0
            || self.max_metadata_depth == 0
            || self.max_batch_requests == 0
            || m.window == 0
            || m.max_message_bytes == 0
            || m.max_summary_bytes == 0
            || m.max_fact_keys == 0
            || m.max_facts_bytes == 0
            || m.max_facts_depth == 0
            || m.max_entities == 0
            || m.max_open_items == 0
            || m.max_history == 0
            || m.max_record_bytes == 0
            || m.max_memories_per_contact == 0
        {
            return Err(Error::invalid(
                "config.limits",
                "size limits must be positive",
            ));
        }
        if self.events_max_age.is_some_and(|age| age.as_millis() == 0) {
            return Err(Error::invalid(
                "config.events_max_age",
                "must be at least one millisecond (None keeps events of any age)",
            ));
        }
        Ok(())
    }
}

/// The source of `created_at` / `updated_at`.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// A shared clock is a clock: keep an `Arc` to a [`ManualClock`] to move it while an
/// engine uses it.
impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// The id source for new contacts and identifiers.
pub trait IdGenerator: Send + Sync + fmt::Debug + 'static {
    /// A fresh, never-repeated id.
    fn next_id(&self) -> Uuid;
}

/// The wall clock (UTC), truncated to milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(chrono::Utc::now().timestamp_millis())
    }
}

/// UUIDv7 ids: time-ordered, so ids sort in creation order within a millisecond too
/// (the `uuid` crate keeps a monotonic counter per process).
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn next_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// A deterministic clock for tests: starts at a given instant and advances by a fixed
/// step on every reading (0 freezes it).
#[derive(Debug)]
pub struct ManualClock {
    next: AtomicI64,
    step_ms: i64,
}

impl ManualClock {
    /// A clock whose first reading is `start`, advancing `step_ms` per reading.
    pub fn new(start: Timestamp, step_ms: i64) -> Self {
        ManualClock {
            next: AtomicI64::new(start.as_millis()),
            step_ms,
        }
    }

    /// Moves the clock to `t` (the next reading returns `t`).
    pub fn set(&self, t: Timestamp) {
        self.next.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.next.fetch_add(self.step_ms, Ordering::SeqCst))
    }
}

/// Deterministic, increasing UUIDv7 ids for tests and the differential test between
/// backends: the n-th id carries `n` in its timestamp and counter bits.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl SequentialIds {
    /// A generator starting at 1.
    pub fn new() -> Self {
        Self::starting_at(1)
    }

    /// A generator starting at `n`: two generators started far apart never meet, so
    /// two engines can share one store deterministically.
    pub fn starting_at(n: u64) -> Self {
        SequentialIds {
            next: AtomicU64::new(n),
        }
    }
}

impl IdGenerator for SequentialIds {
    fn next_id(&self) -> Uuid {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let mut counter = [0u8; 10];
        counter[2..].copy_from_slice(&n.to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(n, &counter).into_uuid()
    }
}
