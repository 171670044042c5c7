//! The `ipclane` command line against real segments: `ls --json` parses and shows a live
//! feed, `inspect` reads its ring and lists its subscriber processes with their lag, and
//! `gc` removes a SIGKILLed publisher's feed (after `--dry-run` only named it). Exit
//! codes: 0 done, 1 failed, 2 bad usage.

use std::process::{Command, Output};
use std::time::Duration;

use ipclane::{Error, PublishOptions, Publisher};
use ipclane_testkit::{Peer, ShmName, SubscriberRecords, WAIT_LIMIT, eventually, hold, say};

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "publisher" => {
            let mut publisher = Publisher::create(
                &args[0],
                PublishOptions::default().slots(64).max_message_len(32),
            )
            .unwrap();
            for i in 0..5u8 {
                publisher.publish(&[i; 8]).unwrap();
            }
            say("published");
            hold();
        }
        "listener" => {
            let listener = ipclane::listen(&args[0]).unwrap();
            say(listener.url());
            hold();
        }
        // Subscribes, says so, and reads the feed to its end.
        "subscriber" => {
            let mut sub = ipclane::Subscriber::open(&args[0]).unwrap();
            say("ready");
            loop {
                match sub.recv() {
                    Ok(_) | Err(Error::Lagged { .. }) => {}
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
            say("done");
        }
        other => panic!("unknown role {other}"),
    });
}

fn ipclane(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipclane"))
        .args(args)
        .output()
        .expect("run ipclane")
}

/// Whether the list `key` of a gc report names `name`.
fn names(report: &serde_json::Value, key: &str, name: &str) -> bool {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key} in {report}"))
        .iter()
        .any(|n| n == name)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = ipclane(args);
    assert!(
        out.status.success(),
        "ipclane {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ipclane {args:?}: not JSON: {e}"))
}

#[test]
fn ls_inspect_and_gc_see_a_feed_live_and_then_dead() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let name = ShmName::new("cli-feed");
    let mut publisher = Peer::spawn("publisher", &[&name.0]);
    assert_eq!(publisher.recv(), "published");

    let listed = json(&["ls", "--json"]);
    let entry = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["name"] == name.0.as_str())
        .unwrap_or_else(|| panic!("{} not listed: {listed}", name.0));
    assert_eq!(entry["kind"], "broadcast");
    assert_eq!(entry["state"], "ready");
    assert_eq!(entry["owner_alive"], true);

    let inspected = json(&["inspect", &name.0, "--json"]);
    assert_eq!(inspected["kind"], "broadcast");
    assert_eq!(inspected["ring"]["structure"], "broadcast");
    assert_eq!(inspected["ring"]["capacity"], 64);
    assert_eq!(inspected["ring"]["published"], 5);
    assert_eq!(inspected["ring"]["writer"], "alive");
    let text = ipclane(&["inspect", &name.0]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("5 published"));

    publisher.kill();
    let path = format!("/dev/shm/ipclane.{}", name.0);
    let dry = json(&["gc", "--dry-run", "--json"]);
    assert!(names(&dry, "removed", &name.0), "{dry}");
    assert!(
        std::path::Path::new(&path).exists(),
        "a dry run removes nothing"
    );
    let done = json(&["gc", "--json"]);
    assert!(names(&done, "removed", &name.0), "{done}");
    assert!(!std::path::Path::new(&path).exists());
}

#[test]
fn failures_and_bad_usage_have_their_exit_codes() {
    let missing = ipclane(&["inspect", "no-such-segment-anywhere"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-segment-anywhere"));
    assert_eq!(ipclane(&[]).status.code(), Some(2));
    assert_eq!(ipclane(&["bogus"]).status.code(), Some(2));
    assert_eq!(ipclane(&["--help"]).status.code(), Some(0));
    for command in ["ls", "inspect", "gc"] {
        let help = ipclane(&[command, "--help"]);
        assert_eq!(help.status.code(), Some(0), "{command} --help");
        assert!(!help.stdout.is_empty());
    }
}

#[test]
fn a_live_publisher_is_never_collected() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let name = ShmName::new("cli-live");
    let publisher = Publisher::create(&name.0, PublishOptions::default()).unwrap();
    let done = json(&["gc", "--json"]);
    assert!(!names(&done, "removed", &name.0));
    assert!(names(&done, "kept", &name.0));
    drop(publisher);
}

#[test]
fn ls_lists_listeners_with_their_url_and_gc_removes_a_killed_ones_record() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let dir = ipclane_testkit::TempDir::new("cli-listener");
    let url = format!("unix://{}", dir.path().join("l.sock").display());
    let mut peer = Peer::spawn("listener", &[&url]);
    assert_eq!(peer.recv(), url);
    let find = |listed: &serde_json::Value| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["url"] == url.as_str())
            .cloned()
    };
    let entry = find(&json(&["ls", "--json"])).unwrap_or_else(|| panic!("{url} not listed"));
    assert_eq!(entry["kind"], "listener");
    assert_eq!(entry["owner_alive"], true);
    let name = entry["name"].as_str().unwrap().to_owned();
    let inspected = json(&["inspect", &name, "--json"]);
    assert_eq!(inspected["listens_on"], url.as_str());
    peer.kill();
    let entry = find(&json(&["ls", "--json"])).expect("a killed listener's record stays");
    assert_eq!(entry["owner_alive"], false);
    let done = json(&["gc", "--json"]);
    assert!(names(&done, "removed", &name), "{done}");
    assert!(find(&json(&["ls", "--json"])).is_none());
}

#[test]
fn inspect_shows_each_subscriber_and_its_lag() {
    let name = ShmName::new("cli-lag");
    let mut publisher = Publisher::create(&name.0, PublishOptions::default().slots(64)).unwrap();
    let mut sub = ipclane::Subscriber::open(&name.0).unwrap();
    for i in 0..10u8 {
        publisher.publish(&[i]).unwrap();
    }
    for _ in 0..4 {
        sub.recv().unwrap();
    }
    let inspected = json(&["inspect", &name.0, "--json"]);
    let subs = inspected["ring"]["subscribers"].as_array().unwrap().clone();
    let me = subs
        .iter()
        .find(|s| s["pid"] == std::process::id())
        .unwrap_or_else(|| panic!("no record of this subscriber: {inspected}"));
    assert_eq!(
        (me["position"].as_u64(), me["lag"].as_u64()),
        (Some(4), Some(6))
    );
    assert_eq!(me["alive"], true);
    drop(sub);
    let inspected = json(&["inspect", &name.0, "--json"]);
    assert!(
        !inspected["ring"]["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["pid"] == std::process::id()),
        "a dropped subscriber's record goes with it: {inspected}"
    );
}

/// The subscriber `pid` in what `inspect --json` says of the feed `name`.
fn inspected_subscriber(name: &str, pid: u32) -> Option<serde_json::Value> {
    let inspected = json(&["inspect", name, "--json"]);
    inspected["ring"]["subscribers"]
        .as_array()
        .unwrap_or_else(|| panic!("no subscribers in {inspected}"))
        .iter()
        .find(|s| s["pid"] == pid)
        .cloned()
}

/// Publishes `n` one-byte messages, paced so that a running subscriber keeps up (not
/// asserted).
fn publish(publisher: &mut Publisher, n: u64) {
    for i in 0..n {
        publisher.publish(&[i as u8]).unwrap();
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Waits until `inspect` shows the subscriber `pid` at `position`, and returns what it
/// shows.
fn inspected_at(name: &str, pid: u32, position: u64) -> serde_json::Value {
    let mut seen = None;
    let there = eventually(WAIT_LIMIT / 2, || {
        seen = inspected_subscriber(name, pid);
        seen.as_ref()
            .is_some_and(|s| s["position"].as_u64() == Some(position))
    });
    assert!(there, "subscriber {pid} never at {position}: {seen:?}");
    seen.unwrap()
}

/// Two subscriber processes of a live feed, one stopped with SIGSTOP: `inspect` lists
/// both with their position and lag, the running one at the head (it waits in a
/// receive), the stopped one lagging and then lapped as the publisher goes on.
#[test]
fn inspect_lists_the_subscriber_processes_of_a_feed_and_marks_the_one_lagging() {
    let name = ShmName::new("cli-stopped");
    let mut publisher = Publisher::create(
        &name.0,
        PublishOptions::default().slots(64).max_message_len(8),
    )
    .unwrap();
    let mut running = Peer::spawn("subscriber", &[&name.0]);
    let mut stopped = Peer::spawn("subscriber", &[&name.0]);
    let _records = SubscriberRecords(vec![running.pid(), stopped.pid()]);
    assert_eq!(running.recv(), "ready");
    assert_eq!(stopped.recv(), "ready");
    publish(&mut publisher, 10);
    for peer in [&running, &stopped] {
        let sub = inspected_at(&name.0, peer.pid(), 10);
        assert_eq!(
            (&sub["lag"], &sub["lagging"], &sub["lapped"], &sub["alive"]),
            (&0.into(), &false.into(), &false.into(), &true.into()),
            "up to date: {sub}"
        );
    }

    stopped.stop();
    // 40 behind, of 64 slots: lagging.
    publish(&mut publisher, 40);
    inspected_at(&name.0, running.pid(), 50);
    let sub = inspected_subscriber(&name.0, stopped.pid()).unwrap();
    assert_eq!(
        (
            &sub["position"],
            &sub["lag"],
            &sub["lagging"],
            &sub["lapped"]
        ),
        (&10.into(), &40.into(), &true.into(), &false.into()),
        "stopped: {sub}"
    );
    let text = String::from_utf8(ipclane(&["inspect", &name.0]).stdout).unwrap();
    for line in [
        format!("subscriber {}: at 50, 0 behind, alive", running.pid()),
        format!(
            "subscriber {}: at 10, 40 behind (lagging), alive",
            stopped.pid()
        ),
    ] {
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }
    // 70 behind: lapped.
    publish(&mut publisher, 30);
    inspected_at(&name.0, running.pid(), 80);
    let text = String::from_utf8(ipclane(&["inspect", &name.0]).stdout).unwrap();
    for line in [
        format!("subscriber {}: at 80, 0 behind, alive", running.pid()),
        format!(
            "subscriber {}: at 10, 70 behind (lapped), alive",
            stopped.pid()
        ),
    ] {
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }

    stopped.resume();
    drop(publisher);
    for mut peer in [running, stopped] {
        assert_eq!(peer.recv(), "done");
        assert!(peer.finish().success());
    }
}
