//! The contact commands: each builds the request the HTTP API takes, sends it through
//! the server's handlers (`local.rs`) and prints the answer.

use std::process::ExitCode;

use axum::http::Method;
use clap::Args;
use contacts_core::{ContactId, IdentifierId, OrgId};
use serde_json::{Map, Value};

use super::local::{self, Local};
use super::storage::StorageArgs;
use super::{CliError, parse};
use crate::settings::EngineArgs;

/// The org a command acts for, and where its data lives.
#[derive(Debug, Args)]
pub struct On {
    /// The org (a UUID; `contacts keys list` shows each key's org).
    #[arg(long, value_parser = parse::org)]
    pub org: OrgId,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Where the data lives.
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl On {
    pub(super) fn local(&self) -> Result<Local, CliError> {
        Local::open(&self.engine, &self.storage, self.org)
    }
}

/// A JSON object of the fields that were given.
pub(super) fn body<const N: usize>(fields: [(&str, Option<Value>); N]) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

pub(super) fn text(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

/// `path?query` with the given parameters (those present), URL-encoded.
pub(super) fn with_query(
    path: &str,
    params: &[(&str, Option<String>)],
) -> Result<String, CliError> {
    let present: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    if present.is_empty() {
        return Ok(path.to_owned());
    }
    Ok(format!("{path}?{}", serde_urlencoded::to_string(present)?))
}

/// `contacts resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// A phone number, in any common form (`+1 (415) 555-0192`).
    #[arg(long)]
    pub phone: Option<String>,
    /// An email.
    #[arg(long)]
    pub email: Option<String>,
    /// An external id (your own id for the person).
    #[arg(long)]
    pub external_id: Option<String>,
    /// A name (set only if the contact has none).
    #[arg(long)]
    pub name: Option<String>,
    /// Metadata, a JSON object (keys added only where absent).
    #[arg(long, value_parser = parse::json_object)]
    pub metadata: Option<Value>,
    /// Memory scope: a persona id.
    #[arg(long)]
    pub persona: Option<String>,
    /// Memory scope: an agent phone number.
    #[arg(long)]
    pub agent_number: Option<String>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn resolve(a: ResolveArgs) -> Result<ExitCode, CliError> {
    let body = body([
        ("phone_number", text(&a.phone)),
        ("email", text(&a.email)),
        ("external_id", text(&a.external_id)),
        ("name", text(&a.name)),
        ("metadata", a.metadata.clone()),
        ("persona_id", text(&a.persona)),
        ("agent_number", text(&a.agent_number)),
    ]);
    let answer =
        a.on.local()?
            .call(Method::POST, "/v1/contacts/resolve", Some(&body))?;
    local::print(&answer)
}

/// `contacts find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// A phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// An email.
    #[arg(long)]
    pub email: Option<String>,
    /// An external id.
    #[arg(long)]
    pub external_id: Option<String>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn find(a: FindArgs) -> Result<ExitCode, CliError> {
    let body = body([
        ("phone_number", text(&a.phone)),
        ("email", text(&a.email)),
        ("external_id", text(&a.external_id)),
    ]);
    let answer =
        a.on.local()?
            .call(Method::POST, "/v1/contacts/find", Some(&body))?;
    let code = local::print(&answer)?;
    // The API answers no match with `data: null` (the seed's contract); for a command
    // that is a failure a script must be able to tell from a match.
    let matched = serde_json::from_slice::<Value>(&answer.body).is_ok_and(|v| !v["data"].is_null());
    Ok(if matched { code } else { ExitCode::FAILURE })
}

/// `contacts get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The contact's id.
    #[arg(value_parser = parse::contact)]
    pub contact_id: ContactId,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn get(a: GetArgs) -> Result<ExitCode, CliError> {
    let path = format!("/v1/contacts/{}", a.contact_id);
    local::print(&a.on.local()?.call(Method::GET, &path, None)?)
}

/// `contacts history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The contact's id (a deleted or merged-away contact's history is kept).
    #[arg(value_parser = parse::contact)]
    pub contact_id: ContactId,
    /// Entries after this version (an earlier page's `next_after`).
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub after: Option<i64>,
    /// Page size (default 50, at most 200).
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub limit: Option<i64>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn history(a: HistoryArgs) -> Result<ExitCode, CliError> {
    let path = with_query(
        &format!("/v1/contacts/{}/history", a.contact_id),
        &[
            ("after", a.after.map(|n| n.to_string())),
            ("limit", a.limit.map(|n| n.to_string())),
        ],
    )?;
    local::print(&a.on.local()?.call(Method::GET, &path, None)?)
}

/// `contacts events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Events after this sequence number (an earlier page's `next_after`; default 0).
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub after: Option<i64>,
    /// Page size (default 100, at most 1,000).
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub limit: Option<i64>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn events(a: EventsArgs) -> Result<ExitCode, CliError> {
    let path = with_query(
        "/v1/events",
        &[
            ("after", a.after.map(|n| n.to_string())),
            ("limit", a.limit.map(|n| n.to_string())),
        ],
    )?;
    local::print(&a.on.local()?.call(Method::GET, &path, None)?)
}

/// `contacts list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Page size (default 50, at most 200).
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub limit: Option<i64>,
    /// Contacts to skip.
    #[arg(long, allow_negative_numbers = true, value_parser = parse::number::<i64>)]
    pub offset: Option<i64>,
    /// Start after this cursor (an earlier page's `pagination.next_cursor`) instead of
    /// at an offset.
    #[arg(long, conflicts_with = "offset")]
    pub after: Option<String>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn list(a: ListArgs) -> Result<ExitCode, CliError> {
    let local = a.on.local()?;
    let path = with_query(
        "/v1/contacts",
        &[
            ("limit", a.limit.map(|n| n.to_string())),
            ("offset", a.offset.map(|n| n.to_string())),
            ("after", a.after.clone()),
        ],
    )?;
    local::print(&local.call(Method::GET, &path, None)?)
}

/// `contacts update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The contact's id.
    #[arg(value_parser = parse::contact)]
    pub contact_id: ContactId,
    /// A new name.
    #[arg(long)]
    pub name: Option<String>,
    /// A JSON Merge Patch for the metadata (`null` deletes a key):
    /// `'{"plan": "pro", "old": null}'`.
    #[arg(long, value_parser = parse::json_object)]
    pub metadata: Option<Value>,
    /// An email to add.
    #[arg(long)]
    pub email: Option<String>,
    /// A phone number to add.
    #[arg(long)]
    pub phone: Option<String>,
    /// The external id (replaces the contact's).
    #[arg(long)]
    pub external_id: Option<String>,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn update(a: UpdateArgs) -> Result<ExitCode, CliError> {
    let body = body([
        ("name", text(&a.name)),
        ("metadata", a.metadata.clone()),
        ("email", text(&a.email)),
        ("phone_number", text(&a.phone)),
        ("external_id", text(&a.external_id)),
    ]);
    let path = format!("/v1/contacts/{}", a.contact_id);
    local::print(&a.on.local()?.call(Method::PATCH, &path, Some(&body))?)
}

/// `contacts merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The contact that stays.
    #[arg(long, value_parser = parse::contact)]
    pub primary: ContactId,
    /// The contact merged into it (deleted afterwards).
    #[arg(long, value_parser = parse::contact)]
    pub duplicate: ContactId,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn merge(a: MergeArgs) -> Result<ExitCode, CliError> {
    let body = body([
        ("primary_contact_id", Some(a.primary.to_string().into())),
        ("duplicate_contact_id", Some(a.duplicate.to_string().into())),
    ]);
    local::print(
        &a.on
            .local()?
            .call(Method::POST, "/v1/contacts/merge", Some(&body))?,
    )
}

/// `contacts unmerge`.
#[derive(Debug, Args)]
pub struct UnmergeArgs {
    /// The contact the duplicate was merged into.
    #[arg(long, value_parser = parse::contact)]
    pub primary: ContactId,
    /// The contact merged into it, restored under this id.
    #[arg(long, value_parser = parse::contact)]
    pub duplicate: ContactId,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn unmerge(a: UnmergeArgs) -> Result<ExitCode, CliError> {
    let body = body([("duplicate_contact_id", Some(a.duplicate.to_string().into()))]);
    let path = format!("/v1/contacts/{}/unmerge", a.primary);
    local::print(&a.on.local()?.call(Method::POST, &path, Some(&body))?)
}

/// `contacts delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The contact's id.
    #[arg(value_parser = parse::contact)]
    pub contact_id: ContactId,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn delete(a: DeleteArgs) -> Result<ExitCode, CliError> {
    let path = format!("/v1/contacts/{}", a.contact_id);
    local::print(&a.on.local()?.call(Method::DELETE, &path, None)?)
}

/// `contacts detach`.
#[derive(Debug, Args)]
pub struct DetachArgs {
    /// The contact's id.
    #[arg(value_parser = parse::contact)]
    pub contact_id: ContactId,
    /// The identifier's id (`identifiers[].id` in `contacts get`).
    #[arg(value_parser = parse::identifier)]
    pub identifier_id: IdentifierId,
    /// The org and the database.
    #[command(flatten)]
    pub on: On,
}

pub(super) fn detach(a: DetachArgs) -> Result<ExitCode, CliError> {
    let path = format!(
        "/v1/contacts/{}/identifiers/{}",
        a.contact_id, a.identifier_id
    );
    local::print(&a.on.local()?.call(Method::DELETE, &path, None)?)
}
