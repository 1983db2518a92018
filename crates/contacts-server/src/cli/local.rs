//! A command runs as one request through the server's own router, in process, acting
//! for the command's org: the CLI then prints exactly the JSON the server would send
//! (the same fields in the same order, the same errors), and no handler is written
//! twice.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, header};
use contacts_core::{Engine, OrgId};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::CliError;
use super::storage::StorageArgs;
use crate::api::{self, AppState, DEFAULT_BODY_LIMIT};
use crate::keys::Keyring;
use crate::settings::EngineArgs;

/// The API for one org over the command's database.
pub(super) struct Local {
    router: axum::Router,
    /// Set when the org has neither contacts nor a key (and `--create` was not given):
    /// every request then answers 404 with this message, writing nothing.
    unknown_org: Option<String>,
    // Dropped last: the router's engine may still close connections on its threads.
    runtime: tokio::runtime::Runtime,
}

/// What one request answered.
pub(super) struct Answer {
    /// The HTTP status the server would have sent.
    pub(super) status: u16,
    /// The body, byte for byte.
    pub(super) body: Vec<u8>,
}

impl Local {
    /// Checks the settings, then opens the database (which must exist unless
    /// `--create` is given).
    ///
    /// # Errors
    /// A settings error, or the database's.
    pub(super) fn open(
        engine: &EngineArgs,
        storage: &StorageArgs,
        org: OrgId,
    ) -> Result<Local, CliError> {
        let config = engine.config()?;
        let opened = storage.open()?;
        let unknown_org = opened.unknown_org(org, storage.create)?;
        let engine = Arc::new(Engine::with_config(opened.store, config)?);
        let keys = Arc::new(Keyring::new(opened.keys, Vec::new()));
        let state = AppState::new(engine, keys, DEFAULT_BODY_LIMIT);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Local {
            router: api::local_router(state, org),
            unknown_org,
            runtime,
        })
    }

    /// Sends one request: `path` with its query string, and a JSON body if any.
    ///
    /// # Errors
    /// Only if the request cannot be built or its body read; every API error is an
    /// [`Answer`].
    pub(super) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CliError> {
        if let Some(message) = &self.unknown_org {
            return Ok(Answer {
                status: 404,
                body: crate::error::ApiError::not_found(message.clone()).envelope_bytes(),
            });
        }
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v)?)
            }
            None => Body::empty(),
        };
        let request = request.body(body)?;
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router.oneshot(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes().to_vec();
            Ok(Answer { status, body })
        })
    }
}

/// Prints `answer`'s body as indented JSON, its keys in the server's order; exit
/// status 0 for a success, 1 for an error envelope.
///
/// # Errors
/// When standard output cannot be written.
pub(super) fn print(answer: &Answer) -> Result<ExitCode, CliError> {
    print_json_bytes(&answer.body)?;
    Ok(if (200..300).contains(&answer.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes JSON bytes indented, without reordering anything (a `Value` would sort
/// the keys).
pub(super) fn print_json_bytes(bytes: &[u8]) -> Result<(), CliError> {
    // Indented in memory first (the body is there already): a failed write then
    // surfaces as the `io::Error` it is, so a closed pipe can be told apart.
    let mut pretty = Vec::with_capacity(bytes.len() * 2);
    let mut from = serde_json::Deserializer::from_slice(bytes);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::pretty(&mut pretty))?;
    pretty.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&pretty)?;
    out.flush()?;
    Ok(())
}
