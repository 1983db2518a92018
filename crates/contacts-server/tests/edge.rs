//! The connection edge of the real binary on loopback (crates/contacts-server/src/
//! edge.rs): idle and half-sent connections are closed on time and do not slow anyone
//! else, a stalled upload is a 408, connections past the limit are a 503, and SIGTERM
//! with a stalled client still exits by the deadline. Every test is bounded in
//! connections and time.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, client};
use serde_json::json;

const ORG: &str = "11111111-2222-3333-4444-555555555555";
const KEY: &str = "edge-test-key";

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["--memory"];
    args.extend_from_slice(extra);
    Server::start_with(&args, Some(&format!("{KEY}={ORG}")))
}

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// A normal request, timed.
fn resolve(server: &Server) -> Duration {
    let started = Instant::now();
    let resp = client()
        .post(server.url("/v1/contacts/resolve"))
        .header("authorization", KEY)
        .json(&json!({"phone_number": "+14155550100"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    started.elapsed()
}

/// Whether the server closed `s` within `within` (a read sees the end, or an error).
fn closed(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a response to a half request: keep reading to the end
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_are_closed_and_slow_no_one() {
    let server = start(&["--header-timeout", "2"]);
    let at = addr(&server);
    let before = resolve(&server);
    let mut idle: Vec<TcpStream> = (0..250).map(|_| TcpStream::connect(&at).unwrap()).collect();
    let mut half: Vec<TcpStream> = (0..250)
        .map(|_| {
            let mut s = TcpStream::connect(&at).unwrap();
            s.write_all(b"GET /v1/contacts HTTP/1.1\r\nHost: x\r\nauthor")
                .unwrap();
            s
        })
        .collect();
    // 500 stalled sockets later, a normal request still answers at once.
    let during = resolve(&server);
    assert!(
        during < Duration::from_millis(500),
        "a request among 500 stalled connections took {during:?} (before: {before:?})"
    );
    // After the header timeout every one of them is closed by the server.
    std::thread::sleep(Duration::from_millis(2_500));
    for s in idle.iter_mut().chain(half.iter_mut()) {
        assert!(
            closed(s, Duration::from_secs(2)),
            "a stalled connection stayed open"
        );
    }
    // A kept-alive connection that goes quiet is closed too.
    let mut kept = TcpStream::connect(&at).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 512];
    let n = kept.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed(&mut kept, Duration::from_secs(4)),
        "an idle keep-alive stayed open"
    );
    assert!(server.terminate().success());
}

#[test]
fn a_stalled_upload_is_answered_408() {
    let server = start(&["--body-timeout", "1"]);
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    s.write_all(
        format!(
            "POST /v1/contacts/resolve HTTP/1.1\r\nHost: x\r\nauthorization: {KEY}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"phone"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"REQUEST_TIMEOUT\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.terminate().success());
}

#[test]
fn connections_past_the_limit_are_answered_503() {
    let server = start(&["--max-connections", "4"]);
    let at = addr(&server);
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&at).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(&at).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut response = Vec::new();
    let _ = extra.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("retry-after: 1") && text.contains("SERVICE_UNAVAILABLE"),
        "{text}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    resolve(&server);
    assert!(server.terminate().success());
}

#[test]
fn sigterm_with_a_stalled_client_exits_by_the_deadline() {
    let mut server = start(&["--shutdown-deadline", "2", "--body-timeout", "60"]);
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    s.write_all(
        format!(
            "POST /v1/contacts/resolve HTTP/1.1\r\nHost: x\r\nauthorization: {KEY}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.sigterm();
    let status = server.wait();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    assert!(
        took >= Duration::from_millis(1_500),
        "it waited for the stalled client: {took:?}"
    );
    assert!(status.success());
}
