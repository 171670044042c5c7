//! The `ipclane-bridge` command (and `ipclane bridge`): clear errors, exit codes, and a
//! clean stop on SIGTERM.

mod support;

use std::process::{Command, Output};
use std::time::Instant;

use ipclane_testkit::{ShmName, TempDir};
use support::process::{BRIDGE, BridgeProcess};
use support::{key, loopback_endpoint};

/// Runs `ipclane-bridge ARGS` to its end.
fn bridge(args: &[&str]) -> Output {
    Command::new(BRIDGE).args(args).output().unwrap()
}

/// Its standard error, asserting that it failed with exit code `code`.
fn failed(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    stderr
}

#[test]
fn a_key_expression_it_cannot_use_is_named() {
    let topic = ShmName::new("zcli-key");
    let out = bridge(&["--topic", &topic.0, "--zenoh", "quotes/**"]);
    let stderr = failed(&out, 1);
    assert!(
        stderr.contains("invalid key expression \"quotes/**\""),
        "{stderr}"
    );
    assert!(stderr.contains("one key"), "{stderr}");
    let out = bridge(&["--topic", &topic.0, "--zenoh", "a//b", "--direction", "in"]);
    let stderr = failed(&out, 1);
    assert!(
        stderr.contains("invalid key expression \"a//b\""),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_endpoint_fails_after_the_timeout_naming_it() {
    let topic = ShmName::new("zcli-unreachable");
    // A port just free on loopback: nothing answers there.
    let endpoint = loopback_endpoint();
    let started = Instant::now();
    let out = bridge(&[
        "--topic",
        &topic.0,
        "--zenoh",
        &key("unreachable"),
        "--connect",
        &endpoint,
        "--connect-timeout",
        "0.5",
    ]);
    let stderr = failed(&out, 1);
    assert!(
        stderr.contains("could not open a Zenoh session"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("connect to [{endpoint}]")),
        "{stderr}"
    );
    assert!(
        started.elapsed() < support::LIMIT,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_endpoints_flags_and_files_are_named() {
    let topic = ShmName::new("zcli-bad");
    let key = key("bad");
    let base = ["--topic", topic.0.as_str(), "--zenoh", key.as_str()];
    let stderr = failed(
        &bridge(&[&base[..], &["--connect", "tcp/nowhere"]].concat()),
        1,
    );
    assert!(stderr.contains("endpoint \"tcp/nowhere\""), "{stderr}");
    let stderr = failed(
        &bridge(&[&base[..], &["--listen", "udp/0.0.0.0:1"]].concat()),
        1,
    );
    assert!(stderr.contains("transport \"udp\""), "{stderr}");
    let dir = TempDir::new("zcli-config");
    let file = dir.path().join("zenoh.json5");
    std::fs::write(&file, "{ mode: ").unwrap();
    let path = file.to_str().unwrap();
    let stderr = failed(&bridge(&[&base[..], &["--config", path]].concat()), 1);
    assert!(
        stderr.contains(&format!("invalid Zenoh configuration in {path}")),
        "{stderr}"
    );
    let stderr = failed(
        &bridge(&[&base[..], &["--direction", "sideways"]].concat()),
        2,
    );
    assert!(stderr.contains("sideways"), "{stderr}");
    let stderr = failed(&bridge(&["--zenoh", "a/b"]), 2);
    assert!(stderr.contains("--topic"), "{stderr}");
}

#[test]
fn sigterm_stops_it_cleanly_and_it_says_its_counts() {
    let (topic, key, endpoint) = (ShmName::new("zcli-term"), key("term"), loopback_endpoint());
    let mut command = Command::new(BRIDGE);
    command.args(["--topic", &topic.0, "--zenoh", &key, "--direction", "in"]);
    command.args(["--listen", &endpoint, "--stats-every", "0.05"]);
    let mut running = BridgeProcess::spawn(command);
    running.wait_for("bridge in running");
    running.wait_for("Stats {");
    let (status, log) = running.terminate();
    assert!(status.success(), "{status}; log:\n{}", log.join("\n"));
    assert!(
        log.iter()
            .any(|l| l.contains("stopping: Stats { records: 0")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn ipclane_bridge_runs_it() {
    // `ipclane`, built beside it by a workspace build (the README's test command).
    let ipclane = std::path::Path::new(BRIDGE).with_file_name("ipclane");
    if !ipclane.is_file() {
        ipclane_testkit::skip(
            "ipclane_bridge_runs_it",
            "no ipclane binary beside ipclane-bridge (build the workspace)",
        );
        return;
    }
    let out = Command::new(&ipclane)
        .args(["bridge", "--version"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ipclane-bridge "));
    let out = Command::new(&ipclane)
        .args(["bridge", "--topic", "t", "--zenoh", "a/*"])
        .output()
        .unwrap();
    let stderr = failed(&out, 1);
    assert!(
        stderr.contains("ipclane-bridge: invalid key expression \"a/*\""),
        "{stderr}"
    );
}
