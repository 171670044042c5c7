//! The echo examples work together, as the crate README says.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipclane_testkit::{TempDir, eventually};

/// A child process killed (and reaped) when dropped, also when a test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `echo_server` on `sock` and waits until it accepts connections.
fn start_server(server: &Path, sock: &Path) -> Running {
    let running = Running(
        Command::new(server)
            .arg(sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Listening, not merely bound: a connection goes through (the server sees a client
    // that leaves at once).
    assert!(
        eventually(Duration::from_secs(10), || UnixStream::connect(sock)
            .is_ok()),
        "server did not start"
    );
    running
}

/// The example binaries cargo built next to this test binary.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn echo_client_talks_to_echo_server() {
    let _deadline = ipclane_testkit::Deadline::new(
        ipclane_testkit::WAIT_LIMIT,
        "echo_client_talks_to_echo_server: the example processes",
    );
    let (Some(server), Some(client)) = (example("echo_server"), example("echo_client")) else {
        ipclane_testkit::skip(
            "echo_client_talks_to_echo_server",
            "example binaries not built (cargo builds the examples with the test targets)",
        );
        return;
    };
    let dir = TempDir::new("echo");
    let sock = dir.path().join("echo.sock");
    let running = start_server(&server, &sock);
    let clients: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&client)
                .arg(&sock)
                .args(["200", "1000"])
                .output()
                .unwrap()
        })
        .collect();
    drop(running);
    for out in clients {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("200 frames of 1000 bytes"));
    }
}

#[test]
fn bad_arguments_get_the_usage_and_status_2_never_a_panic() {
    let _deadline = ipclane_testkit::Deadline::new(
        ipclane_testkit::WAIT_LIMIT,
        "bad_arguments_get_the_usage_and_status_2_never_a_panic: the example processes",
    );
    let (Some(server), Some(client)) = (example("echo_server"), example("echo_client")) else {
        ipclane_testkit::skip(
            "bad_arguments_get_the_usage_and_status_2_never_a_panic",
            "example binaries not built (cargo builds the examples with the test targets)",
        );
        return;
    };
    let dir = TempDir::new("echo-args");
    // A live server, so that the client would get as far as sending if it took a bad
    // number (18446744073709551615 frames used to panic in `Vec::with_capacity`).
    let live = dir.path().join("echo.sock");
    let running = start_server(&server, &live);
    let sock = live.to_str().unwrap();
    let too_long = format!("/{}", "x".repeat(200));
    let cases: Vec<(&PathBuf, Vec<&str>)> = vec![
        (&client, vec![]),
        (&client, vec![sock, "18446744073709551615"]),
        (&client, vec![sock, "1000001"]),
        (&client, vec![sock, "ten"]),
        (&client, vec![sock, "-1"]),
        (&client, vec![sock, "10", "18446744073709551615"]),
        (&client, vec![sock, "10", "8388609"]),
        (&client, vec![sock, "10", "64", "extra"]),
        (&client, vec![&too_long]),
        (&server, vec![]),
        (&server, vec!["/tmp/ipclane-unused.sock", "extra"]),
        (&server, vec![&too_long]),
    ];
    for (binary, args) in cases {
        let out = Command::new(binary).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{} {args:?}: {stderr}",
            binary.display()
        );
        assert!(stderr.contains("usage:"), "{args:?}: {stderr}");
    }
    let out = Command::new(&client)
        .args([sock, "3", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(running);
    // Good arguments, nothing listening: a runtime error (1), not a usage error.
    let none = dir.path().join("none.sock");
    let out = Command::new(&client)
        .args([none.to_str().unwrap(), "1", "1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
