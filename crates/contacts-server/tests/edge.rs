//! The connection edge of the real binary on loopback (crates/contacts-server/src/
//! edge.rs): idle and half-sent connections are closed on time and do not slow anyone
//! else, a stalled upload is a 408, connections past the limit are a 503, and SIGTERM
//! with a stalled client still exits by the deadline, one org's flood leaves
//! another org's p99 within a stated bound, and requests hyper cannot parse are
//! answered in the envelope. Every test is bounded in connections and
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

/// Sends `request` on a fresh connection and reads the answer to its end.
fn raw(server: &Server, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr(server)).unwrap();
    // The server may answer and close before it has read everything sent.
    let _ = s.write_all(request);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// The status and the envelope's error code of a raw answer, checking that its
/// body is exactly the declared length of JSON.
fn status_and_code(answer: &str) -> (u16, String) {
    let (head, body) = answer.split_once("\r\n\r\n").expect(answer);
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{answer}"
    );
    let v: serde_json::Value = serde_json::from_str(body).expect(answer);
    assert_eq!(v["data"], serde_json::Value::Null, "{answer}");
    let status = head[9..12].parse().unwrap();
    (status, v["errors"][0]["error"].as_str().unwrap().to_owned())
}

/// Issue 18: requests hyper rejects before any handler runs (not HTTP/1.1, a URI
/// over its limit, too many or too large headers) are answered in the error
/// envelope, as every other error; the limits the messages state are hyper's (a
/// request just inside each is served; hyper checks the head's size between reads,
/// so that limit is approximate and the test keeps clear of it); a good request before a bad one on the same
/// connection keeps its own answer.
#[test]
fn unparsable_requests_are_answered_in_the_envelope() {
    let server = start(&[]);
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "BAD_REQUEST"),
        (get("/healthz", "Bad Header\r\n"), 400, "BAD_REQUEST"),
        (
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            get(&format!("/healthz?{}", "a".repeat(65_534)), ""),
            414,
            "URI_TOO_LONG",
        ),
        (
            get(
                "/healthz",
                &(0..100).map(|i| format!("h{i}: v\r\n")).collect::<String>(),
            ),
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
        ),
        (
            // Far past the limit: hyper checks the size only between reads, and one
            // read of a head already in the socket can take in more than the limit.
            get("/healthz", &format!("x: {}\r\n", "a".repeat(2_000_000))),
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
        ),
    ];
    for (request, status, code) in cases {
        let answer = raw(&server, &request);
        assert_eq!(
            status_and_code(&answer),
            (status, code.to_owned()),
            "{}",
            &answer[..answer.len().min(300)]
        );
    }
    // Just inside each limit: served. Each asks the server to close after its
    // answer, so the read ends; with the host header that makes the hundredth.
    let close = "connection: close\r\n";
    let inside = [
        get(&format!("/healthz?{}", "a".repeat(65_525)), close),
        get(
            "/healthz",
            &(0..98)
                .map(|i| format!("h{i}: v\r\n"))
                .chain([close.to_owned()])
                .collect::<String>(),
        ),
        get(
            "/healthz",
            &format!("x: {}\r\n{close}", "a".repeat(400_000)),
        ),
    ];
    for request in inside {
        let answer = raw(&server, &request);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{}",
            &answer[..answer.len().min(300)]
        );
    }
    let mut pipelined = get("/healthz", "");
    pipelined.extend_from_slice(b"GARBAGE\r\n\r\n");
    let answer = raw(&server, &pipelined);
    let (first, second) = answer.split_at(answer.find("HTTP/1.1 400").expect(&answer));
    assert!(
        first.starts_with("HTTP/1.1 200") && first.contains("\"ok\""),
        "{answer}"
    );
    assert_eq!(status_and_code(second), (400, "BAD_REQUEST".to_owned()));
    resolve(&server);
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
