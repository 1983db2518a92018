//! `contacts-testkit`: what every contacts backend must pass.
//!
//! - [`conformance`]: one `pub fn` per scenario of SPEC.md sections 2, 3, 5 and 7, and
//!   [`conformance_tests!`] to expand them into one named `#[test]` each;
//! - [`model`]: a reference model of the semantics over `BTreeMap`s, plain enough to be
//!   obviously correct;
//! - [`machine`]: a `proptest-state-machine` test driving random operation sequences
//!   against a store and the model in lockstep;
//! - [`differential`]: the same operation sequence on two stores, identical JSON at
//!   every step.
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

pub mod conformance;
pub mod differential;
pub mod machine;
pub mod model;

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
            json_shapes_match_the_seeds,
            identifier_has_one_owner,
            store_version_preconditions,
            concurrent_resolves_create_each_person_once,
            dyn_store_round_trip,
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
