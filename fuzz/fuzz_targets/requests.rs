//! Request JSON of resolve, update and the memory writes into engine calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    contacts_testkit::fuzz::fuzz_requests(contacts_inmemory::InMemoryStore::new(), data)
});
