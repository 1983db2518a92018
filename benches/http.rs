//! The HTTP edge against its floor, in one run: the `contacts` server's router on a
//! SQLite file (with its read cache, and without) and a minimal axum server answering
//! the same resolve JSON from a `HashMap`, each loaded by the same small closed-loop
//! load generator (below: keep-alive HTTP/1.1 connections on threads, one request in
//! flight per connection).
//!
//! `CONTACTS_BENCH_SIZE=100000 cargo bench -p contacts-benches --bench http` reproduces
//! docs/benchmarks.md ("HTTP edge"); `CONTACTS_BENCH_HTTP_SECS` (default 10, per
//! server, split over `CONTACTS_BENCH_HTTP_ROUNDS` interleaved rounds, default 5) and
//! `CONTACTS_BENCH_HTTP_CONNECTIONS` (default 8) set the load. Two more servers
//! separate the edge's cost from the router's, and the routers are then timed alone,
//! in-process. Under `cargo test
//! --benches` each server gets a fraction of a second: nothing is timed in CI. The load
//! generator shares the machine's cores with the server, as wrk would.

// The figures are the program's output.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use contacts_benches::{Walk, load, org, phone, size};
use contacts_core::{Engine, Store};
use contacts_server::{AppState, Keyring, MemoryKeys, api, keys};
use contacts_sqlite::{Options, SqliteStore};
use serde_json::{Value, json};

const KEY: &str = "bench-key";

/// Phones of the people the load walks through: enough that the SQLite read cache's
/// default size (10,000) holds them, as it would a busy line's regular callers.
const SAMPLE: usize = 4096;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive connection's request and response, by hand: the generator must cost
/// the same for every server and stay out of the way.
struct Client {
    reader: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            reader: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        }
    }

    /// Posts a resolve of `phone`; returns the status and the body.
    fn resolve(&mut self, phone: &str) -> (u16, &[u8]) {
        let body = format!(r#"{{"phone_number":"{phone}"}}"#);
        let request = format!(
            "POST /v1/contacts/resolve HTTP/1.1\r\nhost: bench\r\nauthorization: {KEY}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send");
        self.line.clear();
        self.reader.read_line(&mut self.line).expect("status line");
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let mut length = 0usize;
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).expect("header");
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("content-length");
            }
        }
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body).expect("body");
        (status, &self.body)
    }
}

/// What closed-loop clients saw: every request's latency, and the time they ran.
#[derive(Default)]
struct Load {
    latencies: Vec<Duration>,
    seconds: f64,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn at(&mut self, q: f64) -> Duration {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        assert!(n > 0, "no request finished");
        self.latencies[((n as f64 * q) as usize).min(n - 1)]
    }
}

/// `connections` closed-loop clients against `addr` for `secs`, added to `into`.
fn run_load(
    into: &mut Load,
    addr: SocketAddr,
    phones: &Arc<Vec<String>>,
    connections: usize,
    secs: f64,
) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let phones = Arc::clone(phones);
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut latencies = Vec::new();
                let mut i = c * 997;
                while Instant::now() < deadline {
                    i = (i + 1) % phones.len();
                    let t = Instant::now();
                    let (status, _) = client.resolve(&phones[i]);
                    latencies.push(t.elapsed());
                    assert_eq!(status, 200, "a hit");
                }
                latencies
            })
        })
        .collect();
    for w in workers {
        into.latencies.extend(w.join().expect("load thread"));
    }
    into.seconds += start.elapsed().as_secs_f64();
}

/// Serves `app` on a loopback port of `runtime`.
fn serve(runtime: &tokio::runtime::Runtime, app: axum::Router) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    runtime.spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The `contacts` server's own edge (`contacts_server::edge`: header timer, connection
/// limit, graceful shutdown), as `contacts serve` runs it.
fn serve_edge(runtime: &tokio::runtime::Runtime, app: axum::Router) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let limits = contacts_server::edge::Limits::default();
    let gauge = prometheus_client::metrics::gauge::Gauge::default();
    runtime.spawn(async move {
        contacts_server::edge::serve(listener, app, limits, gauge, std::future::pending()).await
    });
    addr
}

/// The `contacts` router over a SQLite store on `path`, with the bench key for the org.
fn contacts_app(path: &std::path::Path, options: Options) -> axum::Router {
    let store: Box<dyn Store> = Box::new(SqliteStore::open_with(path, options).expect("open"));
    let env = keys::parse_env_keys(&format!("{KEY}={}", org())).expect("key");
    let keyring = Keyring::new(Box::new(MemoryKeys::new()), env);
    let state = AppState::new(
        Arc::new(Engine::new(store)),
        Arc::new(keyring),
        api::DEFAULT_BODY_LIMIT,
    );
    api::router(state)
}

/// The floor: authorization by comparison, the body parsed as JSON, the answer looked
/// up and serialised in the same envelope.
fn floor_app(answers: HashMap<String, Value>) -> axum::Router {
    let answers = Arc::new(answers);
    axum::Router::new().route(
        "/v1/contacts/resolve",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let answers = Arc::clone(&answers);
            async move {
                if headers.get("authorization").map(|v| v.as_bytes()) != Some(KEY.as_bytes()) {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                let phone = body.get("phone_number").and_then(Value::as_str);
                match phone.and_then(|p| answers.get(p)) {
                    Some(data) => Ok(Json(json!({ "data": data, "errors": null }))),
                    None => Err(StatusCode::NOT_FOUND),
                }
            }
        }),
    )
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let secs = if bench {
        env_or("CONTACTS_BENCH_HTTP_SECS", 10.0)
    } else {
        0.2
    };
    let connections = env_or("CONTACTS_BENCH_HTTP_CONNECTIONS", 8usize);
    let n = size();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    load(&SqliteStore::open(&path).expect("open"), n);
    let walk = Walk::new(n, 7);
    let phones: Arc<Vec<String>> =
        Arc::new((0..SAMPLE).map(|_| phone(walk.next_index())).collect());

    // The server's defaults: as many async workers as cores.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cached = serve_edge(&runtime, contacts_app(&path, Options::default()));
    let uncached = serve_edge(
        &runtime,
        contacts_app(&path, Options::default().with_cache_entries(0)),
    );

    // The floor answers exactly what the server answered for each phone.
    let mut client = Client::connect(cached);
    let answers: HashMap<String, Value> = phones
        .iter()
        .map(|p| {
            let (status, body) = client.resolve(p);
            assert_eq!(status, 200, "the loaded person {p} resolves");
            let mut v: Value = serde_json::from_slice(body).expect("JSON");
            (p.clone(), v["data"].take())
        })
        .collect();
    drop(client);
    // Two more, to tell the edge's cost from the router's: the floor behind the
    // `contacts` edge, and the `contacts` router behind plain `axum::serve`.
    let floor_edge = serve_edge(&runtime, floor_app(answers.clone()));
    let plain = serve(&runtime, contacts_app(&path, Options::default()));
    let floor = serve(&runtime, floor_app(answers.clone()));

    // Interleaved rounds: this VM's speed drifts by a quarter over tens of seconds, and
    // a ratio from two runs far apart measures the drift as much as the servers.
    let rounds = if bench {
        env_or("CONTACTS_BENCH_HTTP_ROUNDS", 5usize).max(1)
    } else {
        1
    };
    println!(
        "http: {n} contacts, {connections} connections, {secs} s each in {rounds} interleaved \
         rounds, SQLite resolve hits"
    );
    let servers = [
        ("floor (axum + HashMap)", floor),
        ("contacts, read cache on (default)", cached),
        ("contacts, read cache off", uncached),
        ("floor behind the contacts edge", floor_edge),
        ("contacts router, cache on, axum::serve", plain),
    ];
    // Every server warm first (its cache filled, the key verified), untimed.
    for (_, addr) in &servers {
        let mut client = Client::connect(*addr);
        for p in phones.iter() {
            assert_eq!(client.resolve(p).0, 200, "warm-up");
        }
    }
    let mut loads: Vec<Load> = servers.iter().map(|_| Load::default()).collect();
    for round in 0..rounds {
        // A different server first in each round, so no position's drift lands on
        // one server.
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            run_load(
                &mut loads[i],
                servers[i].1,
                &phones,
                connections,
                secs / rounds as f64,
            );
        }
    }
    let floor_rate = loads[0].per_second();
    for ((name, _), load) in servers.iter().zip(&mut loads) {
        println!(
            "http: {name:40} {:>9.0} req/s  {:.2}x  p50 {:>7.1} µs  p99 {:>7.1} µs",
            load.per_second(),
            load.per_second() / floor_rate,
            load.at(0.50).as_secs_f64() * 1e6,
            load.at(0.99).as_secs_f64() * 1e6,
        );
    }

    // The routers alone, without sockets: one request at a time through `oneshot` on
    // one thread, so the figure is each router's own CPU per request.
    let calls = if bench { 200_000 } else { 1_000 };
    let floor_cost = router_cost(&runtime, floor_app(answers), &phones, calls);
    let contacts_cost = router_cost(
        &runtime,
        contacts_app(&path, Options::default()),
        &phones,
        calls,
    );
    for (name, cost) in [
        ("router alone: floor", floor_cost),
        ("router alone: contacts, read cache on", contacts_cost),
    ] {
        println!(
            "http: {name:40} {:>7.2} µs a request  {:.2}x",
            cost.as_secs_f64() * 1e6,
            cost.as_secs_f64() / floor_cost.as_secs_f64()
        );
    }
}

/// The mean time `app` takes to answer one resolve hit, called in-process.
fn router_cost(
    runtime: &tokio::runtime::Runtime,
    app: axum::Router,
    phones: &[String],
    calls: usize,
) -> Duration {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    // Requests are built before the clock starts, so only the router is timed.
    let request = |i: usize| {
        let body = format!(r#"{{"phone_number":"{}"}}"#, phones[i % phones.len()]);
        axum::http::Request::post("/v1/contacts/resolve")
            .header("authorization", KEY)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .expect("request")
    };
    let call = |request: axum::http::Request<axum::body::Body>| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.expect("body");
        }
    };
    runtime.block_on(async {
        // Warm: the read cache fills, the key is verified.
        for i in 0..phones.len() {
            call(request(i)).await;
        }
        let requests: Vec<_> = (0..calls).map(request).collect();
        let start = Instant::now();
        for r in requests {
            call(r).await;
        }
        start.elapsed() / u32::try_from(calls).expect("calls fit u32")
    })
}
