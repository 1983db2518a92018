//! Helpers for the concurrency tests every durable backend runs: threads and
//! processes resolving the same new people at the same moment, and a held memory
//! write meeting another process's.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use std::sync::mpsc;
use std::time::Duration;

use contacts_core::store::{CommitError, WriteBatch, WriteOp};
use contacts_core::{Engine, OrgId, ResolveRequest, Store};

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

/// Store contract 17: while `first` holds a memory record, `other` (a second store on
/// the same database, standing for another process) commits a write of the same
/// record; that commit must wait for the held one and then find the revision moved,
/// so the held writer cannot lose the race. Without the hold, the other write lands
/// while the held one is deciding, and the held one fails.
///
/// # Panics
/// When the property does not hold.
pub fn a_held_memory_write_keeps_others_off<S: Store, T: Store>(first: S, other: &T) {
    let org = OrgId(uuid::Uuid::from_u128(
        0x1111_2222_3333_4444_5555_6666_7777_8888,
    ));
    let engine = Engine::new(first);
    let m = engine
        .resolve(
            org,
            &ResolveRequest::new()
                .with_external_id("held")
                .with_persona("p"),
        )
        .unwrap()
        .memory
        .expect("the persona's record")
        .id;
    let write = |summary: &str| {
        let mut record = (*engine.store().memory_by_id(org, m).unwrap().unwrap()).clone();
        let expected_revision = record.revision;
        record.summary = Some(summary.into());
        record.revision += 1;
        WriteBatch::new(vec![WriteOp::UpdateMemory {
            record,
            expected_revision,
            entities: contacts_core::store::EntityWrites::Only(Vec::new()),
        }])
    };
    let competing = write("other process");
    let (finished_tx, finished) = mpsc::channel();
    let held = std::thread::scope(|s| {
        engine.store().commit_holding_memory(org, m, &mut || {
            let batch = write("held");
            let (started_tx, started) = mpsc::channel();
            let (competing, finished_tx) = (&competing, finished_tx.clone());
            s.spawn(move || {
                started_tx.send(()).unwrap();
                finished_tx.send(other.commit(org, competing)).unwrap();
            });
            started.recv().unwrap();
            // Long enough for the competing commit to land, were it not held off.
            let early = finished.recv_timeout(Duration::from_millis(500));
            assert!(
                early.is_err(),
                "the other store committed during the hold: {early:?}"
            );
            Some(batch)
        })
    });
    held.unwrap();
    let other = finished.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        matches!(other, Err(CommitError::Precondition(_))),
        "the other store's write must find the revision moved: {other:?}"
    );
    let record = engine.store().memory_by_id(org, m).unwrap().unwrap();
    assert_eq!(record.summary.as_deref(), Some("held"));
}
