//! The `contacts` binary: see `contacts --help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use contacts_server::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr (stdout carries the commands' output); `CONTACTS_LOG` or
    // `RUST_LOG` choose the level. A server logs each request (`info`); a one-shot
    // command only what went wrong, and reports its own failure itself (so not the
    // connection pool's retries too).
    let (default, json) = match &cli.command {
        cli::Command::Serve(args) => ("info", args.log_format == cli::LogFormat::Json),
        _ => ("warn,r2d2=off", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONTACTS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let filter = contacts_server::logging::without_personal_data(filter);
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let Some(code) = cli::failure_status(e.as_ref()) else {
                return ExitCode::SUCCESS; // standard output was closed: nothing to say
            };
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("error: {message}");
            code
        }
    }
}
