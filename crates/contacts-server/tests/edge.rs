//! The connection edge of the real binary on loopback (crates/contacts-server/src/
//! edge.rs): idle and half-sent connections are closed on time and do not slow anyone
//! else, a stalled upload is a 408, connections past the limit are a 503, and SIGTERM
//! with a stalled client still exits by the deadline, and one org's flood leaves
//! another org's p99 within a stated bound. Every test is bounded in connections and
//! time.

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

/// The 99th percentile of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Issue 18's flood: one org's flood does not raise another org's p99 above
/// `FLOODED_P99`. Org A exports all its 2,000 contacts from sixteen clients for three
/// seconds against a share of two requests in flight (the rest are shed with 503 at
/// once), while org B resolves a number it already has every 10 ms, on a SQLite file.
/// Measured here: org B's p99 6 to 9 ms quiet and 9 to 12 ms during the flood (34 ms
/// with no share at all, so this flood checks the bound, not the share: that is
/// `one_orgs_flood_leaves_the_others_their_share` in tests/api.rs).
#[test]
fn one_orgs_flood_leaves_another_orgs_p99_bounded() {
    /// The bound on org B's p99 during the flood: a debug build on two cores, with the
    /// test's own clients competing for them (the finding it answers was a 6.6 s
    /// median).
    const FLOODED_P99: Duration = Duration::from_millis(100);
    const OTHER_ORG: &str = "99999999-8888-7777-6666-555555555555";
    const OTHER_KEY: &str = "edge-other-key";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("contacts.db");
    let keys = format!("{KEY}={ORG},{OTHER_KEY}={OTHER_ORG}");
    let server = Server::start_with(
        &[
            "--db",
            db.to_str().unwrap(),
            "--max-in-flight-per-org",
            "2",
            "--access-log",
            "off",
        ],
        Some(&keys),
    );
    for chunk in 0..2 {
        let requests: Vec<_> = (0..1000)
            .map(|i| json!({"external_id": format!("crm-{chunk}-{i}")}))
            .collect();
        let resp = client()
            .post(server.url("/v1/contacts/resolve/batch"))
            .header("authorization", KEY)
            .json(&json!({ "requests": requests }))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // One client, made before any timing: a new one costs a thread and a connection.
    let prober = client();
    let probe = || {
        let started = Instant::now();
        let resp = prober
            .post(server.url("/v1/contacts/resolve"))
            .header("authorization", OTHER_KEY)
            .json(&json!({"phone_number": "+14155550100"}))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200, "the other org is always served");
        started.elapsed()
    };
    let probes = |until: Instant| {
        let mut samples = Vec::new();
        while Instant::now() < until {
            samples.push(probe());
            std::thread::sleep(Duration::from_millis(10));
        }
        samples
    };
    probe();
    let mut quiet = probes(Instant::now() + Duration::from_secs(1));

    let until = Instant::now() + Duration::from_secs(3);
    let page = server.url("/v1/contacts/export");
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let page = page.clone();
            std::thread::spawn(move || {
                let client = client();
                let (mut served, mut shed) = (0u32, 0u32);
                while Instant::now() < until {
                    let resp = client
                        .get(&page)
                        .header("authorization", KEY)
                        .send()
                        .unwrap();
                    match resp.status().as_u16() {
                        200 => {
                            assert_eq!(resp.text().unwrap().lines().count(), 2000);
                            served += 1;
                        }
                        // A real flood would not wait, but these clients share the
                        // server's two cores: a moment keeps them from measuring
                        // themselves.
                        503 => {
                            shed += 1;
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        other => panic!("the flood got {other}"),
                    }
                }
                (served, shed)
            })
        })
        .collect();
    let mut flooded = probes(until);
    let (served, shed) = flood
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    let (quiet, flooded) = (p99(&mut quiet), p99(&mut flooded));
    eprintln!(
        "org B p99: {quiet:?} quiet, {flooded:?} during the flood; org A served {served}, shed {shed}"
    );
    assert!(served > 0 && shed > 0, "the flood ran past its share");
    assert!(
        flooded < FLOODED_P99,
        "org B's p99 during the flood: {flooded:?} (quiet: {quiet:?})"
    );
    assert!(server.terminate().success());
}
