//! hyper's own answers to requests it cannot parse, in the error envelope.
//!
//! A request line or header block that is not valid HTTP/1.x, a URI over 65,534 bytes, or
//! headers over hyper's limits never reach a handler: hyper answers 400, 414 or 431
//! itself, with an empty body, and closes the connection. Clients of this API read
//! every error from the envelope, so the socket is wrapped and that one answer is
//! rewritten on its way out. hyper writes it as a head of its own
//! (`HTTP/1.1 <status>`, then `connection: close` and `content-length: 0` first,
//! then `date`), when no other response is being written; a handler's response never
//! looks like that, because every one of ours has a body. Anything else passes through
//! untouched, so at worst a client gets hyper's bare answer, never a broken one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ApiError;

/// The header hyper gives its automatic answers, right after the status line.
const AUTOMATIC: &[u8] = b"\r\nconnection: close\r\ncontent-length: 0\r\n";

/// hyper's default limits (hyper 1.x, `proto/h1`), which the server does not change.
const MAX_URI_BYTES: usize = 65_534;
const MAX_HEADERS: usize = 100;
const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;

/// The envelope for hyper's automatic answer with `status`, if it makes one.
fn error_for(status: &[u8]) -> Option<ApiError> {
    Some(match status {
        b"400" => ApiError::bad_request(
            "The request is not valid HTTP/1.1: its request line or a header could not be \
             parsed",
        ),
        b"414" => ApiError::uri_too_long(MAX_URI_BYTES),
        b"431" => ApiError::headers_too_large(MAX_HEADERS, MAX_HEAD_BYTES),
        _ => return None,
    })
}

/// If `buf` is exactly one of hyper's automatic answers, the same answer with the
/// envelope as its body.
fn enveloped(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let error = error_for(status)?;
    let line_end = find(buf, b"\r\n")?;
    let (status_line, rest) = buf.split_at(line_end);
    let rest = rest.strip_prefix(AUTOMATIC)?;
    // The remaining headers (hyper's `date`) and the blank line end the buffer.
    let end = find(rest, b"\r\n\r\n")? + 4;
    if end != rest.len() {
        return None;
    }
    let body = error.envelope_bytes();
    let mut out = Vec::with_capacity(buf.len() + body.len() + 64);
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\nconnection: close\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(rest);
    out.extend_from_slice(&body);
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A connection whose writes of hyper's automatic answers are enveloped.
#[derive(Debug)]
pub(crate) struct Enveloped<S> {
    inner: S,
    /// The rewritten answer, and how much of it has gone out.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> Enveloped<S> {
    pub(crate) fn new(inner: S) -> Self {
        Enveloped {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> Enveloped<S> {
    /// Writes out what is left of a rewritten answer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written if it is an automatic answer: its rewrite goes out in
    /// its place, now or at the next flush.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let rewritten = enveloped(buf)?;
        self.pending = rewritten;
        self.sent = 0;
        match self.poll_drain(cx) {
            Poll::Ready(Err(e)) => Some(Err(e)),
            Poll::Ready(Ok(())) | Poll::Pending => Some(Ok(buf.len())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Enveloped<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Enveloped<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if let Some(written) = this.poll_rewrite(cx, buf) {
            return Poll::Ready(written);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let mut full = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (full.next(), full.next())
            && let Some(written) = this.poll_rewrite(cx, only)
        {
            return Poll::Ready(written);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Thu, 03 Dec 2026 11:19:38 GMT\r\n\r\n";

    fn automatic(status: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n{DATE}")
            .into_bytes()
    }

    /// Each automatic answer comes out with the same status, hyper's date, and the
    /// envelope as a body whose length the head states.
    #[test]
    fn automatic_answers_get_the_envelope() {
        for (status, code) in [
            ("400 Bad Request", "BAD_REQUEST"),
            ("414 URI Too Long", "URI_TOO_LONG"),
            (
                "431 Request Header Fields Too Large",
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
            ),
        ] {
            let out = String::from_utf8(enveloped(&automatic(status)).unwrap()).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(
                head.contains("\r\ncontent-type: application/json\r\n"),
                "{head}"
            );
            assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
            assert!(head.ends_with(DATE.trim_end()), "{head}");
            assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["data"], serde_json::Value::Null);
            assert_eq!(v["errors"][0]["error"], code, "{body}");
        }
    }

    /// Responses of our own, other statuses, and a head with anything after it pass
    /// through as they are.
    #[test]
    fn other_writes_pass_through() {
        let mut with_body = automatic("400 Bad Request");
        with_body.extend_from_slice(b"x");
        for buf in [
            automatic("500 Internal Server Error"),
            automatic("404 Not Found"),
            with_body,
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                .to_vec(),
            b"{\"data\":null}".to_vec(),
            Vec::new(),
        ] {
            assert_eq!(enveloped(&buf), None, "{}", String::from_utf8_lossy(&buf));
        }
    }
}
