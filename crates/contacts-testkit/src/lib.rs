//! `contacts-testkit`: what every contacts backend must pass.
//!
//! - [`conformance`]: one `pub fn` per scenario of docs/semantics.md and of the `Store` contract, and
//!   [`conformance_tests!`] to expand them into one named `#[test]` each;
//! - [`model`]: a reference model of the semantics over `BTreeMap`s, plain enough to be
//!   obviously correct;
//! - [`machine`]: a `proptest-state-machine` test driving random operation sequences
//!   against a store and the model in lockstep;
//! - [`differential`]: the same operation sequence on two stores, identical JSON at
//!   every step;
//! - [`fuzz`]: the bodies of the fuzz targets in `fuzz/`, replayed by ordinary tests.
//!
//! A backend's `tests/conformance.rs` is little more than:
//!
//! ```
//! use contacts_testkit::conformance_tests;
//! # mod wrapper {
//! # use contacts_testkit::conformance_tests;
//! conformance_tests!(contacts_inmemory::InMemoryStore::new());
//! # }
//! ```
//!
//! Not a stable API: scenarios are added and tightened as the engine grows.

pub mod concurrent;
pub mod conformance;
pub mod differential;
pub mod fuzz;
pub mod machine;
pub mod model;
pub mod read_paths;

/// Expands into one `#[test]` per conformance scenario, each calling the scenario
/// with a fresh store built by `$make` (an expression evaluated once per test).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            resolve_creates_contact,
            resolve_repeat_is_idempotent,
            resolve_attaches_and_fills_name,
            resolve_never_overwrites_name,
            resolve_metadata_fills_missing_keys,
            resolve_attaches_external_id,
            resolve_incompatible_external_id_creates_contact,
            resolve_external_id_outranks_phone,
            resolve_email_outranks_phone,
            resolve_precedence_is_configurable,
            resolve_respects_caps,
            resolve_first_identifier_of_kind_is_primary,
            resolve_blank_values_are_absent,
            resolve_junk_values_are_ignored,
            resolve_junk_list_is_configurable,
            resolve_without_identifiers_is_invalid,
            resolve_updated_at_changes_only_on_change,
            resolve_updated_at_advances_with_a_frozen_clock,
            normalises_phone_forms,
            national_phone_without_region_is_invalid,
            national_phone_with_default_region,
            strict_phone_validation,
            normalises_email_case,
            external_id_is_case_sensitive,
            invalid_input_names_the_field,
            awkward_values_round_trip,
            org_isolation,
            find_matches_without_writing,
            get_returns_relations_in_order,
            list_order,
            list_total_and_pages,
            list_defaults_and_clamping,
            list_offset_past_end,
            list_rejects_bad_limit_and_offset,
            list_cursor_walk,
            list_cursor_survives_writes,
            list_cursor_walk_under_concurrent_writes,
            list_total_follows_writes,
            list_rejects_bad_cursor,
            export_walks_every_contact_once,
            resolve_many_matches_single_resolves,
            resolve_many_bounds_and_errors,
            resolve_many_commits_as_few_as_it_can,
            resolve_many_concurrent_batches_create_each_person_once,
            json_shapes_match_the_seeds,
            identifier_has_one_owner,
            store_version_preconditions,
            lookup_reports_versions_and_counts,
            removal_reads_only_versions,
            lookups_without_io_agree_with_lookups,
            held_memory_write_commits_once,
            memory_writes_hold_after_lost_races,
            concurrent_resolves_create_each_person_once,
            dyn_store_round_trip,
            resolve_with_persona_creates_memory,
            resolve_scope_rules,
            memory_create_is_get_or_create,
            memory_org_isolation,
            memory_scopes_are_isolated,
            memory_context_creates_nothing,
            memory_messages_slide,
            memory_message_validation,
            memory_summary_replaced,
            memory_facts_merge,
            memory_entities_upsert_and_remove,
            memory_entity_and_item_bounds,
            memory_open_items,
            memory_history_is_bounded,
            memory_reset,
            memory_revision_prevents_lost_updates,
            memory_concurrent_writes,
            memory_record_size_and_count_are_bounded,
            memory_embedded_json_shape,
            memory_switch_round_trip,
            memory_switch_precondition,
            memory_switch_serialises_with_writes,
            memory_enable_validation,
            disabled_persona_gets_no_memory,
            seed_list_example_is_reproduced,
            update_replaces_name,
            update_metadata_is_a_merge_patch,
            update_adds_identifiers,
            update_replaces_external_id,
            update_conflicts_with_another_owner,
            merge_moves_identifiers_and_deletes_duplicate,
            merge_refusals,
            merge_moves_and_combines_memories,
            redirects_follow_merges,
            unmerge_restores_the_duplicate,
            unmerge_follows_chains,
            unmerge_two_merges_into_one_scope,
            history_records_every_change,
            history_is_bounded_and_erased,
            history_can_be_turned_off,
            events_record_every_change,
            events_are_bounded,
            concurrent_writers_feed_a_restarting_reader,
            memory_changes_follow_a_call,
            memory_changes_are_bounded_and_erased,
            delete_frees_identifiers,
            detach_frees_and_promotes_the_oldest,
            lifecycle_writes_are_atomic,
        );
    };
    (@each $make:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                $crate::conformance::$scenario($make);
            }
        )*
    };
}

use contacts_core::store::{CommitError, WriteBatch};
use contacts_core::{OrgId, Store};

/// Expands, inside an `impl Store for Wrapper`, into the fourteen read methods, each
/// forwarding to the wrapper's field `$field`; the wrapper writes `commit` itself.
/// One definition for every test wrapper, so none can forget a method.
#[macro_export]
macro_rules! forward_store_reads {
    ($field:tt) => {
        fn lookup(
            &self,
            org: $crate::__core::OrgId,
            keys: &[$crate::__core::store::IdentifierKey<'_>],
        ) -> $crate::__core::Result<$crate::__core::store::Owners> {
            self.$field.lookup(org, keys)
        }
        fn lookup_without_io(
            &self,
            org: $crate::__core::OrgId,
            keys: &[$crate::__core::store::IdentifierKey<'_>],
        ) -> Option<$crate::__core::store::Owners> {
            self.$field.lookup_without_io(org, keys)
        }
        fn get(
            &self,
            org: $crate::__core::OrgId,
            id: $crate::__core::ContactId,
        ) -> $crate::__core::Result<Option<$crate::__core::store::ContactRecord>> {
            self.$field.get(org, id)
        }
        fn memory(
            &self,
            org: $crate::__core::OrgId,
            contact: $crate::__core::ContactId,
            scope: &$crate::__core::MemoryScope,
        ) -> $crate::__core::Result<Option<std::sync::Arc<$crate::__core::MemoryRecord>>> {
            self.$field.memory(org, contact, scope)
        }
        fn memory_by_id(
            &self,
            org: $crate::__core::OrgId,
            id: $crate::__core::MemoryId,
        ) -> $crate::__core::Result<Option<std::sync::Arc<$crate::__core::MemoryRecord>>> {
            self.$field.memory_by_id(org, id)
        }
        fn list(
            &self,
            org: $crate::__core::OrgId,
            start: $crate::__core::store::PageStart,
            limit: u64,
        ) -> $crate::__core::Result<$crate::__core::store::ListPage> {
            self.$field.list(org, start, limit)
        }
        fn contact_version(
            &self,
            org: $crate::__core::OrgId,
            id: $crate::__core::ContactId,
        ) -> $crate::__core::Result<Option<u64>> {
            self.$field.contact_version(org, id)
        }
        fn memory_revision(
            &self,
            org: $crate::__core::OrgId,
            contact: $crate::__core::ContactId,
            scope: &$crate::__core::MemoryScope,
        ) -> $crate::__core::Result<Option<($crate::__core::MemoryId, u64)>> {
            self.$field.memory_revision(org, contact, scope)
        }
        fn memory_switch(
            &self,
            org: $crate::__core::OrgId,
            kind: $crate::__core::SwitchKind,
            target_id: &str,
        ) -> $crate::__core::Result<Option<$crate::__core::MemorySwitch>> {
            self.$field.memory_switch(org, kind, target_id)
        }
        fn redirect(
            &self,
            org: $crate::__core::OrgId,
            id: $crate::__core::ContactId,
        ) -> $crate::__core::Result<Option<$crate::__core::ContactId>> {
            self.$field.redirect(org, id)
        }
        fn merge_snapshot(
            &self,
            org: $crate::__core::OrgId,
            duplicate: $crate::__core::ContactId,
        ) -> $crate::__core::Result<Option<$crate::__core::MergeSnapshot>> {
            self.$field.merge_snapshot(org, duplicate)
        }
        fn events(
            &self,
            org: $crate::__core::OrgId,
            after: u64,
            limit: u64,
        ) -> $crate::__core::Result<$crate::__core::EventLog> {
            self.$field.events(org, after, limit)
        }
        fn conversation(
            &self,
            org: $crate::__core::OrgId,
            key: &$crate::__core::ConversationKey,
        ) -> $crate::__core::Result<Option<$crate::__core::ConversationLog>> {
            self.$field.conversation(org, key)
        }
        fn history(
            &self,
            org: $crate::__core::OrgId,
            contact: $crate::__core::ContactId,
            after: u64,
            limit: u64,
        ) -> $crate::__core::Result<Vec<$crate::__core::ContactHistoryEntry>> {
            self.$field.history(org, contact, after, limit)
        }
    };
}

#[doc(hidden)]
pub use contacts_core as __core;

/// A store that checks every batch it is given against the rule that keeps versions
/// out of the backends ([`WriteBatch::validate`]) before passing it on, and panics on
/// a bad one. The state-machine test runs every store through it, so random operation
/// sequences prove the engine builds only valid batches (the engine also checks in
/// debug builds).
#[derive(Debug)]
pub struct Validating<S>(pub S);

#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for Validating<S> {
    forward_store_reads!(0);
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
        if let Err(problem) = batch.validate() {
            panic!("the engine built an invalid batch: {problem}\n{batch:#?}");
        }
        self.0.commit(org, batch)
    }
    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: contacts_core::MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> Result<(), CommitError> {
        self.0.commit_holding_memory(org, id, &mut || {
            let batch = decide();
            if let Some(Err(problem)) = batch.as_ref().map(WriteBatch::validate) {
                panic!("the engine built an invalid batch: {problem}\n{batch:#?}");
            }
            batch
        })
    }
}

/// A store that keeps something alive as long as it lives: a temporary directory
/// holding its database file, or a test schema to drop afterwards. Forwards every
/// [`Store`] method to `store`.
#[derive(Debug)]
pub struct Guarded<S, G> {
    /// The store.
    pub store: S,
    /// What must outlive it.
    pub guard: G,
}

#[deny(clippy::missing_trait_methods)]
impl<S: Store, G: std::fmt::Debug + Send + Sync + 'static> Store for Guarded<S, G> {
    forward_store_reads!(store);
    fn commit(&self, org: OrgId, batch: &WriteBatch) -> Result<(), CommitError> {
        self.store.commit(org, batch)
    }
    fn commit_holding_memory(
        &self,
        org: OrgId,
        id: contacts_core::MemoryId,
        decide: &mut dyn FnMut() -> Option<WriteBatch>,
    ) -> Result<(), CommitError> {
        self.store.commit_holding_memory(org, id, decide)
    }
}
