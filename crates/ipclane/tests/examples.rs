//! The shipped examples run end to end on small workloads (every message they receive is
//! checked by the examples themselves), and exit with a failure, not a panic, when told
//! nonsense.

use std::path::PathBuf;
use std::process::{Command, Output};

use ipclane_testkit::{TempDir, bounded, skip};

/// The example binary cargo built next to this test binary.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn run(test: &str, name: &str, args: &[&str]) -> Option<Output> {
    let Some(exe) = example(name) else {
        skip(
            test,
            "example not built (cargo builds the examples with the test targets)",
        );
        return None;
    };
    Some(bounded(test, || {
        Command::new(exe).args(args).output().expect("run example")
    }))
}

fn succeeded(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn echo_round_trips_over_unix_and_shm() {
    let dir = TempDir::new("example-echo");
    for scheme in ["unix", "shm"] {
        let url = format!("{scheme}://{}", dir.path().join("echo.sock").display());
        let Some(out) = run(
            "echo_round_trips_over_unix_and_shm",
            "echo",
            &[&url, "500", "100"],
        ) else {
            return;
        };
        let stdout = succeeded(&out, &url);
        assert!(stdout.contains("500 round trips of 100 B: p50"), "{stdout}");
        assert!(
            !dir.path().join("echo.sock").exists(),
            "the socket file is removed"
        );
    }
}

/// Runs the market-data example with `blocking` and `awaiting` subscribers on 4,000
/// quotes: each accounts for every quote (received plus missed), and says how it waited.
fn market_data(test: &str, blocking: usize, awaiting: usize) {
    let (blocking_arg, awaiting_arg) = (blocking.to_string(), awaiting.to_string());
    let args = [
        "--subscribers",
        &blocking_arg,
        "--async-subscribers",
        &awaiting_arg,
        "--rate",
        "20000",
        "--seconds",
        "0.2",
    ];
    let Some(out) = run(test, "market_data", &args) else {
        return;
    };
    let stdout = succeeded(&out, "market_data");
    let count = blocking + awaiting;
    assert!(
        stdout.contains(&format!("published 4000 quotes to {count} subscribers")),
        "{stdout}"
    );
    let reports: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("subscriber "))
        .collect();
    assert_eq!(reports.len(), count, "{stdout}");
    for report in &reports {
        // Each accounts for every quote: received plus missed.
        let received: u64 = report.split(' ').nth(2).unwrap().parse().unwrap();
        let missed: u64 = report.rsplit(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(received + missed, 4000, "{report}");
    }
    let tokio = reports.iter().filter(|r| r.contains("(tokio)")).count();
    assert_eq!(tokio, awaiting, "{stdout}");
}

#[test]
fn market_data_fans_quotes_out_to_subscriber_processes() {
    market_data("market_data_fans_quotes_out_to_subscriber_processes", 2, 0);
}

/// The same with async subscribers beside the blocking ones (the example built with the
/// `tokio` feature, as this test is).
#[cfg(feature = "tokio")]
#[test]
fn market_data_fans_quotes_out_to_async_subscribers_too() {
    market_data("market_data_fans_quotes_out_to_async_subscribers_too", 1, 2);
}

#[test]
fn local_proxy_forwards_requests_to_each_backend() {
    for backend in ["unix", "shm", "tcp"] {
        let Some(out) = run(
            "local_proxy_forwards_requests_to_each_backend",
            "local_proxy",
            &[
                "--backend",
                backend,
                "--clients",
                "2",
                "--requests",
                "200",
                "--size",
                "64",
            ],
        ) else {
            return;
        };
        let stdout = succeeded(&out, backend);
        assert!(
            stdout.contains(&format!("proxy -{backend}-> backend")),
            "{stdout}"
        );
    }
}

#[test]
fn nonsense_arguments_fail_without_a_panic() {
    for (name, args) in [
        ("echo", &["nonsense"][..]),
        ("market_data", &["--rate", "fast"]),
        ("local_proxy", &["--backend", "carrier-pigeon"]),
    ] {
        let Some(out) = run("nonsense_arguments_fail_without_a_panic", name, args) else {
            return;
        };
        assert!(!out.status.success(), "{name} {args:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name} {args:?}"
        );
    }
}

/// A client that is not one (garbage instead of the shared-memory handshake) costs the
/// echo server nothing but that client: it logs why it dropped it and serves the next.
#[test]
fn the_echo_server_outlives_a_client_that_is_not_one() {
    let test = "the_echo_server_outlives_a_client_that_is_not_one";
    let Some(exe) = example("echo") else {
        skip(
            test,
            "example not built (cargo builds the examples with the test targets)",
        );
        return;
    };
    let dir = TempDir::new("example-echo-garbage");
    let path = dir.path().join("echo.sock");
    let url = format!("shm://{}", path.display());
    let mut server = Command::new(&exe)
        .args(["server", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the echo server");
    let mut banner = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut banner,
    )
    .unwrap();
    assert!(banner.starts_with("echo server on"), "{banner}");
    let mut garbage = std::os::unix::net::UnixStream::connect(&path).unwrap();
    std::io::Write::write_all(&mut garbage, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let out = bounded(test, || {
        Command::new(&exe)
            .args(["client", &url, "100", "64"])
            .output()
            .expect("run the echo client")
    });
    server.kill().unwrap();
    let log = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&log.stderr);
    succeeded(
        &out,
        &format!("the client after the garbage (server: {stderr})"),
    );
    assert!(
        stderr.contains("a client was dropped") && stderr.contains("not an ipclane handshake"),
        "{stderr}"
    );
}
