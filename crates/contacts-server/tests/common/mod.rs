//! The real `contacts` binary, as the end-to-end tests drive it: a command, or a
//! server on a free loopback port with a real HTTP client.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary, with none of the environment variables that choose a database or keys.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contacts"));
    cmd.env("CONTACTS_LOG", "warn")
        .env_remove("CONTACTS_DB")
        .env_remove("CONTACTS_POSTGRES_URL")
        .env_remove("CONTACTS_POSTGRES_SCHEMA")
        .env_remove("CONTACTS_API_KEYS");
    cmd
}

/// A running `contacts serve`, killed on drop if a test fails half-way.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// What `serve` printed before `listening on`.
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(db: &Path, env_keys: Option<&str>) -> Server {
        let db = db.to_str().unwrap();
        Server::start_with(&["--db", db], env_keys)
    }

    pub fn start_with(storage: &[&str], env_keys: Option<&str>) -> Server {
        let mut cmd = bin();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(storage)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(k) = env_keys {
            cmd.env("CONTACTS_API_KEYS", k);
        }
        let mut child = cmd.spawn().expect("the contacts binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("serve printed its address before exiting")
                .unwrap();
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_owned();
            }
            banner.push(line);
        };
        Server {
            child,
            base,
            banner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status (graceful shutdown must finish promptly).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.sigterm();
        self.wait()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap()
}

pub fn send(req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

/// The test PostgreSQL server's URL, or `None` after saying, past the test harness's
/// capture, that `test` did not run (a skip nobody sees is a silent pass).
pub fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("CONTACTS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: CONTACTS_TEST_POSTGRES_URL is not set"
        );
    }
    url
}
