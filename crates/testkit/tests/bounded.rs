//! The waits of the test kit end, and say what they waited for.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipclane_testkit::{Deadline, Peer, hold, run_peer, say};

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    run_peer(|role, _| match role {
        "silent" => hold(),
        "stuck_past_its_deadline" => {
            let _deadline = Deadline::new(Duration::from_millis(100), "the stuck call");
            std::thread::sleep(Duration::from_secs(30));
            say("never");
        }
        other => panic!("unknown peer role {other}"),
    });
}

#[test]
fn a_peer_that_says_nothing_fails_the_wait_naming_its_role() {
    let mut peer = Peer::spawn("silent", &[]);
    let started = Instant::now();
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        peer.recv_within(Duration::from_millis(200))
    }))
    .expect_err("no message, so the wait fails");
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains("peer silent") && message.contains("sent no message within 200ms"),
        "{message}"
    );
}

#[test]
fn a_call_past_its_deadline_ends_the_process_naming_it() {
    // The peer is this binary run as a test process of its own, as the runner does.
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["peer_entry", "--exact", "--include-ignored", "--nocapture"])
        .env("IPCLANE_PEER_ROLE", "stuck_past_its_deadline")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "ended early");
    assert_eq!(out.status.code(), Some(101), "a failed test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("deadline: the stuck call did not finish within 100ms"),
        "{stderr}"
    );
}
