//! The conformance suite on PostgreSQL: every scenario in a fresh schema.

#[macro_use]
mod common;

contacts_testkit::conformance_tests!(pg_or_skip!());
