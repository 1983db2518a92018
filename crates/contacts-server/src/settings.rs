//! Engine settings for every command: a TOML file (`--config PATH` or
//! `CONTACTS_CONFIG`), then environment variables, then flags, over the engine's
//! defaults (docs/semantics.md 2 and 6). `contacts.example.toml` at the repository's
//! root lists every setting with its default.
//!
//! Everything is checked when a command starts, before it opens a database or
//! listens: an unknown setting, a value of the wrong type, an unknown region or an
//! incoherent combination stops it with an error naming the setting.

use std::path::{Path, PathBuf};

use clap::Args;
use contacts_core::{Config, IdentifierKind, Normalizer, PhoneEquivalences};
use serde::Deserialize;

/// The settings flags every engine-using command takes. Flags win over environment
/// variables, which win over the file.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// A TOML settings file (see contacts.example.toml).
    #[arg(long = "config", env = "CONTACTS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// ISO 3166 region for phone numbers written without a country code (`US`, `GB`).
    #[arg(long, env = "CONTACTS_DEFAULT_REGION", value_name = "REGION")]
    pub default_region: Option<String>,
    /// Accept only numbers libphonenumber calls valid (not merely possible).
    #[arg(long, env = "CONTACTS_STRICT_PHONES", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true")]
    pub strict_phones: Option<bool>,
    /// Another value to ignore as junk (repeat, or comma-separate in the variable).
    #[arg(
        long = "junk-value",
        env = "CONTACTS_JUNK_VALUES",
        value_name = "VALUE",
        value_delimiter = ','
    )]
    pub junk_values: Vec<String>,
    /// Identifiers one contact may hold of a kind: `phone_number=5` (repeatable).
    #[arg(
        long = "cap",
        env = "CONTACTS_CAPS",
        value_name = "KIND=N",
        value_delimiter = ','
    )]
    pub caps: Vec<String>,
    /// Kinds from highest to lowest precedence: `external_id,email,phone_number`.
    #[arg(long, env = "CONTACTS_PRECEDENCE", value_name = "KINDS")]
    pub precedence: Option<String>,
    /// Messages kept per memory record.
    #[arg(long, env = "CONTACTS_MESSAGE_WINDOW", value_name = "N",
          value_parser = crate::cli::parse_number::<usize>)]
    pub message_window: Option<usize>,
}

/// A settings problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("setting {setting}: {reason}")]
pub struct SettingsError {
    /// The setting, as the file or the flag names it (`phone.default_region`,
    /// `--cap`).
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

fn error(setting: impl Into<String>, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        setting: setting.into(),
        reason: reason.into(),
    }
}

/// The settings file. Every section and key is optional; unknown ones are errors, so
/// a misspelled setting never silently keeps its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    /// `[phone]`.
    #[serde(default)]
    pub phone: PhoneSection,
    /// `[identifiers]`.
    #[serde(default)]
    pub identifiers: IdentifierSection,
    /// `[email]`.
    #[serde(default)]
    pub email: EmailSection,
    /// `[contact]`.
    #[serde(default)]
    pub contact: ContactSection,
    /// `[memory]`.
    #[serde(default)]
    pub memory: MemorySection,
    /// `[events]`.
    #[serde(default)]
    pub events: EventsSection,
}

/// `[events]`: the change feed's retention (docs/semantics.md 4, "Change feed").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSection {
    /// Events kept per org; 0 turns the feed off.
    pub per_org: Option<u64>,
    /// Events older than this many seconds are dropped; 0 keeps any age.
    pub max_age_seconds: Option<u64>,
}

/// `[phone]`: reading phone numbers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneSection {
    /// Region for national numbers.
    pub default_region: Option<String>,
    /// Only valid numbers.
    pub strict: Option<bool>,
    /// Replaces the placeholder numbers ignored as withheld callers.
    pub junk_numbers: Option<Vec<String>>,
    /// Adds to them.
    #[serde(default)]
    pub extra_junk_numbers: Vec<String>,
    /// `[phone.equivalences]`.
    #[serde(default)]
    pub equivalences: EquivalenceSection,
}

/// `[phone.equivalences]`: which equivalent forms fold into one key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquivalenceSection {
    /// `+52 1 ...` is `+52 ...`.
    pub mexico_mobile_1: Option<bool>,
    /// `+54 9 ...` is `+54 ...`.
    pub argentina_mobile_9: Option<bool>,
    /// Brazil's ninth digit.
    pub brazil_ninth_digit: Option<bool>,
    /// Benin's `01`.
    pub benin_01: Option<bool>,
}

/// `[identifiers]`: precedence, caps and junk.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierSection {
    /// Kinds, highest precedence first.
    pub precedence: Option<Vec<String>>,
    /// Per-kind caps.
    #[serde(default)]
    pub caps: CapSection,
    /// Replaces the junk list.
    pub junk_values: Option<Vec<String>>,
    /// Adds to it.
    #[serde(default)]
    pub extra_junk_values: Vec<String>,
    /// Values made only of `0` and `-` are junk.
    pub junk_zeros_and_dashes: Option<bool>,
}

/// `[identifiers.caps]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSection {
    /// Phones per contact.
    pub phone_number: Option<u32>,
    /// Emails per contact.
    pub email: Option<u32>,
    /// External ids per contact.
    pub external_id: Option<u32>,
}

/// `[email]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// Accept dotless and special-use domains.
    pub local_domains: Option<bool>,
}

/// `[contact]`: bounds on names and metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSection {
    /// Longest name, in characters.
    pub max_name_chars: Option<usize>,
    /// Largest metadata, serialised bytes.
    pub max_metadata_bytes: Option<usize>,
    /// Deepest metadata nesting.
    pub max_metadata_depth: Option<usize>,
}

/// `[memory]`: bounds on memory records.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    /// Messages kept.
    pub message_window: Option<usize>,
    /// Largest message, bytes.
    pub max_message_bytes: Option<usize>,
    /// Largest summary, bytes.
    pub max_summary_bytes: Option<usize>,
    /// Most fact keys.
    pub max_fact_keys: Option<usize>,
    /// Largest facts, serialised bytes.
    pub max_facts_bytes: Option<usize>,
    /// Deepest nesting inside facts.
    pub max_facts_depth: Option<usize>,
    /// Most entities.
    pub max_entities: Option<usize>,
    /// Most open items.
    pub max_open_items: Option<usize>,
    /// History entries kept.
    pub max_history: Option<usize>,
    /// Largest record, bytes.
    pub max_record_bytes: Option<usize>,
    /// Most records per contact.
    pub max_memories_per_contact: Option<usize>,
    /// Calls and conversations whose memory changes each record keeps (0: none).
    pub max_conversations: Option<usize>,
}

impl SettingsFile {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the file, or the key and line at fault.
    pub fn read(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| error("--config", format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| SettingsError {
            reason: format!("{} (in {})", e.reason, path.display()),
            ..e
        })
    }

    /// Parses settings from TOML text.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the key at fault and its line.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        toml::from_str(text).map_err(|e| {
            // Quote the line at fault: the parser's type errors do not name the key.
            let at = e
                .span()
                .map(|s| {
                    let start = s.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let content = text.lines().nth(line - 1).unwrap_or("").trim();
                    format!(" at line {line} (`{content}`)")
                })
                .unwrap_or_default();
            error("--config", format!("{}{at}", e.message().trim_end()))
        })
    }

    fn apply(self, c: &mut Config) -> Result<(), SettingsError> {
        let p = self.phone;
        if p.default_region.is_some() {
            c.default_region = p.default_region;
        }
        set(&mut c.strict_phone_validation, p.strict);
        if let Some(numbers) = p.junk_numbers {
            c.junk_phone_numbers = numbers;
        }
        c.junk_phone_numbers.extend(p.extra_junk_numbers);
        let e = p.equivalences;
        let mut eq = PhoneEquivalences::default();
        set(&mut eq.mexico_mobile_1, e.mexico_mobile_1);
        set(&mut eq.argentina_mobile_9, e.argentina_mobile_9);
        set(&mut eq.brazil_ninth_digit, e.brazil_ninth_digit);
        set(&mut eq.benin_01, e.benin_01);
        c.phone_equivalences = eq;

        let i = self.identifiers;
        if let Some(order) = i.precedence {
            c.precedence = precedence(&order, "identifiers.precedence")?;
        }
        for (kind, cap) in [
            (IdentifierKind::PhoneNumber, i.caps.phone_number),
            (IdentifierKind::Email, i.caps.email),
            (IdentifierKind::ExternalId, i.caps.external_id),
        ] {
            if let Some(cap) = cap {
                c.caps[kind.index()] = cap;
            }
        }
        if let Some(values) = i.junk_values {
            c.junk_values = values;
        }
        c.junk_values.extend(i.extra_junk_values);
        set(&mut c.junk_zeros_and_dashes, i.junk_zeros_and_dashes);
        set(&mut c.email_local_domains, self.email.local_domains);

        let k = self.contact;
        set(&mut c.max_name_chars, k.max_name_chars);
        set(&mut c.max_metadata_bytes, k.max_metadata_bytes);
        set(&mut c.max_metadata_depth, k.max_metadata_depth);

        let m = self.memory;
        let l = &mut c.memory;
        set(&mut l.window, m.message_window);
        set(&mut l.max_message_bytes, m.max_message_bytes);
        set(&mut l.max_summary_bytes, m.max_summary_bytes);
        set(&mut l.max_fact_keys, m.max_fact_keys);
        set(&mut l.max_facts_bytes, m.max_facts_bytes);
        set(&mut l.max_facts_depth, m.max_facts_depth);
        set(&mut l.max_entities, m.max_entities);
        set(&mut l.max_open_items, m.max_open_items);
        set(&mut l.max_history, m.max_history);
        set(&mut l.max_record_bytes, m.max_record_bytes);
        set(&mut l.max_memories_per_contact, m.max_memories_per_contact);
        set(&mut l.max_conversations, m.max_conversations);

        set(&mut c.events_per_org, self.events.per_org);
        if let Some(secs) = self.events.max_age_seconds {
            c.events_max_age = (secs > 0).then(|| std::time::Duration::from_secs(secs));
        }
        Ok(())
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn kind(name: &str, setting: &str) -> Result<IdentifierKind, SettingsError> {
    IdentifierKind::from_name(name.trim()).ok_or_else(|| {
        error(
            setting,
            format!("{name:?} is not a kind (phone_number, email or external_id)"),
        )
    })
}

fn precedence<S: AsRef<str>>(
    names: &[S],
    setting: &str,
) -> Result<[IdentifierKind; 3], SettingsError> {
    let kinds = names
        .iter()
        .map(|n| kind(n.as_ref(), setting))
        .collect::<Result<Vec<_>, _>>()?;
    <[IdentifierKind; 3]>::try_from(kinds).map_err(|_| {
        error(
            setting,
            "must name phone_number, email and external_id once each, highest first \
             (e.g. external_id,email,phone_number)",
        )
    })
}

impl EngineArgs {
    /// The engine configuration: defaults, then the file, then the environment and
    /// flags; checked completely (the phone library included), so a command stops
    /// before doing anything with a bad setting.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the setting.
    pub fn config(&self) -> Result<Config, SettingsError> {
        let mut c = Config::default();
        if let Some(path) = &self.config {
            SettingsFile::read(path)?.apply(&mut c)?;
        }
        if let Some(region) = &self.default_region {
            c.default_region = Some(region.clone());
        }
        set(&mut c.strict_phone_validation, self.strict_phones);
        c.junk_values.extend(
            self.junk_values
                .iter()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        );
        for cap in &self.caps {
            let (name, n) = cap
                .split_once('=')
                .ok_or_else(|| error("--cap", format!("{cap:?} is not KIND=N (e.g. email=3)")))?;
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| error("--cap", format!("{n:?} is not a whole number")))?;
            c.caps[kind(name, "--cap")?.index()] = n;
        }
        if let Some(order) = &self.precedence {
            let names: Vec<&str> = order.split(',').collect();
            c.precedence = precedence(&names, "--precedence")?;
        }
        if self.message_window == Some(0) {
            return Err(error("--message-window", "must be at least 1 (e.g. 20)"));
        }
        set(&mut c.memory.window, self.message_window);
        c.validate().map_err(core_error)?;
        Normalizer::new(&c).map_err(core_error)?;
        Ok(c)
    }
}

/// The core's configuration errors name `config.<setting>`; say it as the file does.
fn core_error(e: contacts_core::Error) -> SettingsError {
    match e {
        contacts_core::Error::InvalidInput { field, reason } => SettingsError {
            setting: field.trim_start_matches("config.").to_owned(),
            reason: reason.into_owned(),
        },
        other => error("config", other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> EngineArgs {
        EngineArgs::default()
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../../../contacts.example.toml");
        let mut c = Config::default();
        SettingsFile::parse(text).unwrap().apply(&mut c).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn events_retention_from_the_file() {
        let mut c = Config::default();
        SettingsFile::parse("[events]\nper_org = 10\nmax_age_seconds = 0\n")
            .unwrap()
            .apply(&mut c)
            .unwrap();
        assert_eq!((c.events_per_org, c.events_max_age), (10, None));
        let mut c = Config::default();
        SettingsFile::parse("[events]\nmax_age_seconds = 60\n")
            .unwrap()
            .apply(&mut c)
            .unwrap();
        assert_eq!(c.events_max_age, Some(std::time::Duration::from_secs(60)));
        assert!(SettingsFile::parse("[events]\nper_orgs = 1\n").is_err());
    }

    #[test]
    fn file_then_environment_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.toml");
        std::fs::write(
            &path,
            "[phone]\ndefault_region = \"GB\"\nstrict = true\n\
             [identifiers]\nextra_junk_values = [\"tbd\"]\n[identifiers.caps]\nemail = 2\n\
             [memory]\nmessage_window = 5\n",
        )
        .unwrap();
        let from_file = EngineArgs {
            config: Some(path.clone()),
            ..args()
        }
        .config()
        .unwrap();
        assert_eq!(from_file.default_region.as_deref(), Some("GB"));
        assert!(from_file.strict_phone_validation);
        assert!(from_file.junk_values.iter().any(|v| v == "tbd"));
        assert!(from_file.junk_values.iter().any(|v| v == "null"));
        assert_eq!(from_file.cap(IdentifierKind::Email), 2);
        assert_eq!(from_file.memory.window, 5);

        let flags = EngineArgs {
            config: Some(path),
            default_region: Some("US".into()),
            strict_phones: Some(false),
            caps: vec!["email=4".into(), "phone_number=1".into()],
            precedence: Some("email,external_id,phone_number".into()),
            message_window: Some(7),
            junk_values: vec!["nobody".into()],
        }
        .config()
        .unwrap();
        assert_eq!(flags.default_region.as_deref(), Some("US"));
        assert!(!flags.strict_phone_validation);
        assert_eq!(flags.cap(IdentifierKind::Email), 4);
        assert_eq!(flags.cap(IdentifierKind::PhoneNumber), 1);
        assert_eq!(flags.precedence[0], IdentifierKind::Email);
        assert_eq!(flags.memory.window, 7);
        assert!(flags.junk_values.iter().any(|v| v == "nobody"));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let unknown = SettingsFile::parse("[phone]\ndefault_regoin = \"US\"\n").unwrap_err();
        assert!(unknown.reason.contains("default_regoin"), "{unknown}");
        assert!(unknown.reason.contains("line 2"), "{unknown}");
        let wrong_type = SettingsFile::parse("[identifiers.caps]\nemail = \"five\"\n").unwrap_err();
        assert!(
            wrong_type.reason.contains("`email = \"five\"`"),
            "{wrong_type}"
        );
        for (a, setting) in [
            (
                EngineArgs {
                    default_region: Some("XX".into()),
                    ..args()
                },
                "default_region",
            ),
            (
                EngineArgs {
                    caps: vec!["email".into()],
                    ..args()
                },
                "--cap",
            ),
            (
                EngineArgs {
                    caps: vec!["fax=2".into()],
                    ..args()
                },
                "--cap",
            ),
            (
                EngineArgs {
                    caps: vec!["email=0".into()],
                    ..args()
                },
                "caps",
            ),
            (
                EngineArgs {
                    precedence: Some("email,phone_number".into()),
                    ..args()
                },
                "--precedence",
            ),
            (
                EngineArgs {
                    message_window: Some(0),
                    ..args()
                },
                "--message-window",
            ),
            (
                EngineArgs {
                    config: Some("/nonexistent.toml".into()),
                    ..args()
                },
                "--config",
            ),
        ] {
            let e = a.config().unwrap_err();
            assert_eq!(e.setting, setting, "{e}");
        }
    }
}
