//! What the logs may say. No personal data (phone numbers, emails, names, message
//! content) is logged at any level: the server's own events carry ids, routes,
//! statuses and error categories only, and the dependencies that log values are held
//! at `info` whatever the filter asks: `tokio-postgres` (every statement's parameters,
//! at debug) and the phone library (the number it parses, at trace). `tests/logs.rs`
//! runs the API at `trace` and searches the log.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

/// Targets whose debug and trace events include request values.
const VALUE_LOGGERS: [&str; 3] = ["tokio_postgres", "postgres", "rlibphonenumber"];

/// `filter` with every value-logging target capped at `info`.
pub fn without_personal_data(mut filter: EnvFilter) -> EnvFilter {
    for target in VALUE_LOGGERS {
        if let Ok(directive) = format!("{target}=info").parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Which requests the access log (one line per request, at `info`) records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLog {
    /// Every request (thinned by `--access-log-sample`).
    All,
    /// Only answers with a 4xx or 5xx status.
    Errors,
    /// None.
    Off,
}

/// The access log's policy: which requests, and one in how many successes.
#[derive(Debug)]
pub struct AccessPolicy {
    mode: AccessLog,
    sample: u64,
    seen: std::sync::atomic::AtomicU64,
}

impl AccessPolicy {
    /// Logs what `mode` says; of the successful requests, one in `sample` (errors are
    /// always logged unless the mode is `Off`).
    pub fn new(mode: AccessLog, sample: u64) -> Self {
        AccessPolicy {
            mode,
            sample: sample.max(1),
            seen: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether the answer with `status` gets a line.
    pub fn logs(&self, status: u16) -> bool {
        let failed = status >= 400;
        match self.mode {
            AccessLog::Off => false,
            AccessLog::Errors => failed,
            AccessLog::All if failed || self.sample == 1 => true,
            AccessLog::All => {
                let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                n.is_multiple_of(self.sample)
            }
        }
    }
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy::new(AccessLog::All, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_can_be_turned_down_or_sampled() {
        let all = AccessPolicy::default();
        assert!(all.logs(200) && all.logs(500));
        let errors = AccessPolicy::new(AccessLog::Errors, 1);
        assert!(!errors.logs(200) && errors.logs(404));
        assert!(!AccessPolicy::new(AccessLog::Off, 1).logs(500));
        let sampled = AccessPolicy::new(AccessLog::All, 10);
        let logged = (0..100).filter(|_| sampled.logs(200)).count();
        assert_eq!(logged, 10);
        assert!(sampled.logs(503), "errors are never sampled away");
    }
}
