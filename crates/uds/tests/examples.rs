//! The echo examples work together, as the crate README says.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipclane_testkit::{TempDir, eventually};

/// The example binaries cargo built next to this test binary.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn echo_client_talks_to_echo_server() {
    let (Some(server), Some(client)) = (example("echo_server"), example("echo_client")) else {
        eprintln!(
            "skipped echo_client_talks_to_echo_server: example binaries not built (run through cargo test)"
        );
        return;
    };
    let dir = TempDir::new("echo");
    let sock = dir.path().join("echo.sock");
    let mut server = Command::new(server)
        .arg(&sock)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || sock.exists()),
        "server did not start"
    );
    let clients: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&client)
                .arg(&sock)
                .args(["200", "1000"])
                .output()
                .unwrap()
        })
        .collect();
    server.kill().unwrap();
    server.wait().unwrap();
    for out in clients {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("200 frames of 1000 bytes"));
    }
}
