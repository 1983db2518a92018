//! Timestamps: UTC, millisecond precision, written as the public API writes them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with millisecond precision, written `2025-07-22T10:30:00.000Z`.
///
/// Stored as milliseconds since the Unix epoch, so it is `Copy`, totally ordered and
/// compares exactly across backends.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 timestamp (any offset), truncating to milliseconds.
    ///
    /// # Errors
    /// Returns a description of the problem when `s` is not RFC 3339.
    pub fn parse(s: &str) -> Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|e| {
                format!("expected an RFC 3339 timestamp such as 2025-07-23T09:10:00.000Z ({e})")
            })
    }
}

/// chrono's form of the wire format, for years outside 0 to 9999.
const WIRE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        match chrono::DateTime::from_timestamp_millis(self.0) {
            // Every response writes two or more of these: written digit by digit, not
            // through chrono's format parser (about 2 % of a served resolve hit).
            Some(t) if (0..=9999).contains(&t.year()) => {
                let mut out = *b"0000-00-00T00:00:00.000Z";
                let mut put = |at: usize, width: usize, mut n: u32| {
                    for i in (at..at + width).rev() {
                        out[i] = b'0' + (n % 10) as u8;
                        n /= 10;
                    }
                };
                put(0, 4, t.year().unsigned_abs());
                put(5, 2, t.month());
                put(8, 2, t.day());
                put(11, 2, t.hour());
                put(14, 2, t.minute());
                put(17, 2, t.second());
                put(20, 3, t.timestamp_subsec_millis());
                // Only ASCII digits and separators were written.
                f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
            }
            Some(t) => write!(f, "{}", t.format(WIRE_FORMAT)),
            // Out of chrono's range (about ±262,000 years): never produced by a clock,
            // but Display must not panic.
            None => write!(f, "@{}ms", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit form is exactly chrono's, over the whole fast range and
    /// around its edges.
    #[test]
    fn display_matches_chronos_format() {
        let chrono = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format(WIRE_FORMAT)
                .to_string()
        };
        let first = Timestamp::parse("0000-01-01T00:00:00.000Z")
            .unwrap()
            .as_millis();
        let last = Timestamp::parse("9999-12-31T23:59:59.999Z")
            .unwrap()
            .as_millis();
        let mut samples = vec![0, 1, -1, 999, 1_000, first, last, first - 1, last + 1];
        // A spread over the range, with odd steps so every field varies.
        let step = (last - first) / 20_011;
        samples.extend((0..20_011).map(|i| first + i * step + i * 7_919));
        for ms in samples {
            assert_eq!(Timestamp::from_millis(ms).to_string(), chrono(ms), "{ms}");
        }
        assert_eq!(
            Timestamp::from_millis(1_753_180_200_000).to_string(),
            "2025-07-22T10:30:00.000Z"
        );
    }
}
