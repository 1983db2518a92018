//! The change feed (the Store contract, rule 15): each org's events in a queue, with
//! the org's newest sequence number beside it. Written only under the writer mutex,
//! after the state the events describe is published, so numbers go in in commit order
//! and a reader never finds an event ahead of its change.

use std::collections::VecDeque;

use contacts_core::{Event, EventLog, OrgId, Timestamp};
use hashbrown::HashMap;

/// One org's feed.
#[derive(Debug, Default)]
struct Log {
    /// The newest sequence number (0 before the first event).
    head: u64,
    /// The events kept, by sequence number: one run ending at `head`.
    events: VecDeque<Event>,
}

/// Every org's feed.
#[derive(Debug, Default)]
pub(crate) struct Feeds(HashMap<OrgId, Log>);

/// What a batch appends: its events and its retention bounds.
#[derive(Debug)]
pub(crate) struct Append {
    pub(crate) events: Vec<Event>,
    pub(crate) keep: u64,
    pub(crate) expire_before: Option<Timestamp>,
}

impl Feeds {
    /// The org's head and up to `limit` events after `after`.
    pub(crate) fn read(&self, org: OrgId, after: u64, limit: u64) -> EventLog {
        let Some(log) = self.0.get(&org) else {
            return EventLog::default();
        };
        // The kept events are consecutive, so the first one after `after` is found by
        // subtraction.
        let skip = log
            .events
            .front()
            .map_or(0, |e| after.saturating_add(1).saturating_sub(e.sequence));
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        EventLog {
            events: log
                .events
                .iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .take(take)
                .cloned()
                .collect(),
            head: log.head,
        }
    }

    /// Numbers and stores the batch's events, then drops what retention drops: the
    /// oldest beyond `keep`, and the oldest run stamped before `expire_before` among
    /// twice as many as were appended (and a few more), as the SQL backends do.
    pub(crate) fn append(&mut self, org: OrgId, append: Append) {
        let log = self.0.entry(org).or_default();
        let appended = append.events.len();
        for e in append.events {
            log.head += 1;
            log.events.push_back(Event {
                sequence: log.head,
                ..e
            });
        }
        let keep = usize::try_from(append.keep).unwrap_or(usize::MAX);
        let excess = log.events.len().saturating_sub(keep);
        log.events.drain(..excess.min(2 * appended + 8));
        if let Some(before) = append.expire_before {
            let expired = log
                .events
                .iter()
                .take(2 * appended + 8)
                .rposition(|e| e.timestamp < before);
            if let Some(last) = expired {
                log.events.drain(..=last);
            }
        }
    }
}
