//! Helpers for the concurrency tests every durable backend runs: threads and
//! processes resolving the same new people at the same moment.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use contacts_core::ResolveRequest;

/// Person `person` of the overlap tests: a phone and an email of their own.
pub fn person_request(person: u64) -> ResolveRequest {
    ResolveRequest::new()
        .with_phone(format!("+1415555{person:04}"))
        .with_email(format!("p{person}@example.com"))
}

/// The `ACK ...` lines a child process printed, each split on spaces (the test
/// harness may print its own prefix before the first one).
pub fn acks(stdout: impl Read) -> Vec<Vec<String>> {
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            l.split_once("ACK ")
                .map(|(_, rest)| rest.split(' ').map(String::from).collect())
        })
        .collect()
}

/// What concurrent resolves reported: which contacts each person was given, and how
/// many calls said they created it.
#[derive(Debug, Default)]
pub struct Tally {
    contacts: BTreeMap<String, BTreeSet<String>>,
    created: BTreeMap<String, u32>,
}

impl Tally {
    /// Records one resolve of `person`.
    pub fn record(&mut self, person: impl ToString, contact: impl ToString, created: bool) {
        let person = person.to_string();
        self.contacts
            .entry(person.clone())
            .or_default()
            .insert(contact.to_string());
        *self.created.entry(person).or_default() += u32::from(created);
    }

    /// Records acknowledgements `[person, contact, created]` from [`acks`].
    ///
    /// # Panics
    /// If a line has fewer than three fields.
    pub fn record_acks(&mut self, lines: &[Vec<String>]) {
        for l in lines {
            self.record(&l[0], &l[1], l[2] == "true");
        }
    }

    /// Asserts that `people` people were seen, each with exactly one contact that
    /// exactly one call created.
    ///
    /// # Panics
    /// When any of that is false.
    pub fn assert_each_person_once(&self, people: usize) {
        assert_eq!(self.contacts.len(), people, "people seen");
        for (person, ids) in &self.contacts {
            assert_eq!(ids.len(), 1, "person {person} got {} contacts", ids.len());
        }
        for (person, n) in &self.created {
            assert_eq!(*n, 1, "person {person} was created {n} times");
        }
    }
}
