//! Phone normalisation: fast path against the library.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| contacts_testkit::fuzz::fuzz_phone(data));
