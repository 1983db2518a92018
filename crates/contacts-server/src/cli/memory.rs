//! `contacts memory ...`: a contact's memory records, through the same endpoints as
//! `/v1/memory/...`.

use std::process::ExitCode;

use axum::http::Method;
use clap::{Args, Subcommand};
use contacts_core::{ContactId, MemoryId};
use serde_json::Value;

use super::contacts::{On, body, text, with_query};
use super::local;
use super::{CliError, parse};

/// A memory scope: exactly one of a persona or an agent number.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Scope {
    /// A persona id.
    #[arg(long)]
    pub persona: Option<String>,
    /// An agent phone number.
    #[arg(long)]
    pub agent_number: Option<String>,
}

/// One memory record and an optional revision check.
#[derive(Debug, Args)]
pub struct Record {
    /// The memory record's id (`memories[].id` in `contacts get`).
    #[arg(value_parser = parse::memory)]
    pub memory_id: MemoryId,
    /// Fail with a conflict unless the record is still at this revision.
    #[arg(long, value_parser = parse::number::<u64>)]
    pub expected_revision: Option<u64>,
    /// The call or SMS conversation the write belongs to (`contacts memory changes`).
    #[command(flatten)]
    pub conversation: Conversation,
}

/// A call or an SMS conversation: at most one of the two.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Conversation {
    /// The call this belongs to.
    #[arg(long)]
    pub call_id: Option<String>,
    /// The SMS conversation this belongs to.
    #[arg(long)]
    pub conversation_id: Option<String>,
}

/// What a switch is for: a persona at a version, or a pathway at a version.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SwitchTarget {
    /// A persona id (with `--version-id`).
    #[arg(long, requires = "version_id")]
    pub persona: Option<String>,
    /// A pathway id (with `--version-number`).
    #[arg(long, requires = "version_number")]
    pub pathway: Option<String>,
}

/// On or off.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Switch {
    /// Memory is written and returned.
    On,
    /// No new memory; what is kept stays.
    Off,
}

/// The memory commands.
#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Show one memory record, as `GET /v1/memory/contact/{id}`.
    Get {
        /// The memory record's id.
        #[arg(value_parser = parse::memory)]
        memory_id: MemoryId,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Get or create the record for a contact and a scope, as `POST /v1/memory/contact`.
    Create {
        /// The contact.
        #[arg(long, value_parser = parse::contact)]
        contact: ContactId,
        /// The scope.
        #[command(flatten)]
        scope: Scope,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// What an agent should know before it speaks, as `GET /v1/memory/context`.
    Context {
        /// The contact.
        #[arg(long, value_parser = parse::contact)]
        contact: ContactId,
        /// The scope.
        #[command(flatten)]
        scope: Scope,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Append one message, as `POST /v1/memory/contact/{id}/messages`.
    Append {
        /// The record.
        #[command(flatten)]
        record: Record,
        /// `user` or `assistant`.
        #[arg(long)]
        role: String,
        /// What was said.
        #[arg(long)]
        content: String,
        /// `call`, `sms`, or another lower-case token.
        #[arg(long)]
        channel: String,
        /// When it was said (RFC 3339; now if absent).
        #[arg(long)]
        timestamp: Option<String>,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Replace the summary, as `PATCH /v1/memory/contact/{id}/summary`.
    Summary {
        /// The record.
        #[command(flatten)]
        record: Record,
        /// The new summary.
        #[arg(long)]
        text: String,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Merge facts in, as `PATCH /v1/memory/contact/{id}/facts`: a JSON object whose
    /// top-level keys overwrite (nothing is removed; a `null` is kept as `null`).
    Facts {
        /// The record.
        #[command(flatten)]
        record: Record,
        /// The facts: `'{"timezone": "Europe/Paris"}'`.
        #[arg(long, value_parser = parse::json_object)]
        facts: Value,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Switch memory on or off for a persona or a pathway, as `POST /v1/memory/enable`:
    /// while a persona is off, resolve returns no memory for it and its memory writes
    /// are refused; what is kept stays.
    Enable {
        /// `on` or `off`.
        #[arg(value_enum)]
        switch: Switch,
        /// The persona or the pathway.
        #[command(flatten)]
        target: SwitchTarget,
        /// The persona's version (a UUID).
        #[arg(long, conflicts_with = "pathway")]
        version_id: Option<String>,
        /// The pathway's version.
        #[arg(long, conflicts_with = "persona", value_parser = parse::number::<u64>)]
        version_number: Option<u64>,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// What a call or SMS conversation changed, as `GET /v1/memory/changes`: the memory
    /// at its first write, the new values of what changed, and its history entries.
    Changes {
        /// The call or the conversation.
        #[command(flatten)]
        conversation: Conversation,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
    /// Delete the record for a contact and a scope, as `POST /v1/memory/reset`.
    Reset {
        /// The contact.
        #[arg(long, value_parser = parse::contact)]
        contact: ContactId,
        /// The scope.
        #[command(flatten)]
        scope: Scope,
        /// The org and the database.
        #[command(flatten)]
        on: On,
    },
}

fn revision(record: &Record) -> Option<Value> {
    record.expected_revision.map(Value::from)
}

pub(super) fn run(command: MemoryCommand) -> Result<ExitCode, CliError> {
    let (on, method, path, body) = match command {
        MemoryCommand::Get { memory_id, on } => (
            on,
            Method::GET,
            format!("/v1/memory/contact/{memory_id}"),
            None,
        ),
        MemoryCommand::Create { contact, scope, on } => {
            let body = scoped(contact, &scope);
            (
                on,
                Method::POST,
                "/v1/memory/contact".to_owned(),
                Some(body),
            )
        }
        MemoryCommand::Context { contact, scope, on } => {
            let path = with_query(
                "/v1/memory/context",
                &[
                    ("contact_id", Some(contact.to_string())),
                    ("persona_id", scope.persona),
                    ("agent_number", scope.agent_number),
                ],
            )?;
            (on, Method::GET, path, None)
        }
        MemoryCommand::Append {
            record,
            role,
            content,
            channel,
            timestamp,
            on,
        } => {
            let message = body([
                ("role", Some(role.into())),
                ("content", Some(content.into())),
                ("channel", Some(channel.into())),
                ("timestamp", text(&timestamp)),
            ]);
            let body = body([
                ("messages", Some(Value::Array(vec![message]))),
                ("expected_revision", revision(&record)),
                ("call_id", text(&record.conversation.call_id)),
                (
                    "conversation_id",
                    text(&record.conversation.conversation_id),
                ),
            ]);
            let path = format!("/v1/memory/contact/{}/messages", record.memory_id);
            (on, Method::POST, path, Some(body))
        }
        MemoryCommand::Summary {
            record,
            text: summary,
            on,
        } => {
            let body = body([
                ("summary", Some(summary.into())),
                ("expected_revision", revision(&record)),
                ("call_id", text(&record.conversation.call_id)),
                (
                    "conversation_id",
                    text(&record.conversation.conversation_id),
                ),
            ]);
            let path = format!("/v1/memory/contact/{}/summary", record.memory_id);
            (on, Method::PATCH, path, Some(body))
        }
        MemoryCommand::Facts { record, facts, on } => {
            let body = body([
                ("facts", Some(facts)),
                ("expected_revision", revision(&record)),
                ("call_id", text(&record.conversation.call_id)),
                (
                    "conversation_id",
                    text(&record.conversation.conversation_id),
                ),
            ]);
            let path = format!("/v1/memory/contact/{}/facts", record.memory_id);
            (on, Method::PATCH, path, Some(body))
        }
        MemoryCommand::Enable {
            switch,
            target,
            version_id,
            version_number,
            on,
        } => {
            let body = body([
                ("persona_id", text(&target.persona)),
                ("version_id", text(&version_id)),
                ("pathway_id", text(&target.pathway)),
                ("version_number", version_number.map(Value::from)),
                ("memory_enabled", Some(matches!(switch, Switch::On).into())),
            ]);
            (on, Method::POST, "/v1/memory/enable".to_owned(), Some(body))
        }
        MemoryCommand::Changes { conversation, on } => {
            let path = with_query(
                "/v1/memory/changes",
                &[
                    ("call_id", conversation.call_id),
                    ("conversation_id", conversation.conversation_id),
                ],
            )?;
            (on, Method::GET, path, None)
        }
        MemoryCommand::Reset { contact, scope, on } => {
            let body = scoped(contact, &scope);
            (on, Method::POST, "/v1/memory/reset".to_owned(), Some(body))
        }
    };
    local::print(&on.local()?.call(method, &path, body.as_ref())?)
}

fn scoped(contact: ContactId, scope: &Scope) -> Value {
    body([
        ("contact_id", Some(contact.to_string().into())),
        ("persona_id", text(&scope.persona)),
        ("agent_number", text(&scope.agent_number)),
    ])
}
