//! Across a real interface: the two bridges in two network namespaces joined by a veth
//! pair, each an `ipclane-bridge` process (root only; skipped with the reason otherwise).

mod support;

use std::time::Duration;

use ipclane::{PublishOptions, Publisher};
use ipclane_testkit::netns::Namespaces;
use ipclane_testkit::{ShmName, skip};
use support::process::{BRIDGE, BridgeProcess};
use support::{Reader, key, record};

#[test]
fn a_feed_crosses_a_veth_pair_through_two_bridge_processes() {
    const TEST: &str = "a_feed_crosses_a_veth_pair_through_two_bridge_processes";
    const RECORDS: u64 = 5000;
    if !ipclane_testkit::is_root() {
        skip(TEST, "needs root to make network namespaces");
        return;
    }
    let namespaces = match Namespaces::new("zenoh") {
        Ok(n) => n,
        Err(why) => {
            skip(TEST, &format!("cannot make the namespaces here: {why}"));
            return;
        }
    };
    let (here, there) = (ShmName::new("znet-here"), ShmName::new("znet-there"));
    let key = key("netns");
    // The other host listens on its address on the pair, which only its namespace has.
    let endpoint = format!("tcp/{}:7447", namespaces.addr(1));
    let mut command = namespaces.command(1, BRIDGE);
    command.args(["--topic", &there.0, "--zenoh", &key, "--direction", "in"]);
    command.args(["--listen", &endpoint, "--slots", "8192"]);
    let mut inbound = BridgeProcess::spawn(command);
    inbound.wait_for("bridge in running");
    let reader = Reader::start(&there.0, RECORDS - 1, Duration::ZERO);

    let mut publisher = Publisher::create(&here.0, PublishOptions::default().slots(1024)).unwrap();
    let mut command = namespaces.command(0, BRIDGE);
    command.args(["--topic", &here.0, "--zenoh", &key, "--connect", &endpoint]);
    let mut outbound = BridgeProcess::spawn(command);
    outbound.wait_for("a remote subscriber matches the key");
    for i in 0..RECORDS {
        let kept_up = ipclane_testkit::eventually(support::LIMIT, || {
            i - reader.received.load(std::sync::atomic::Ordering::Acquire) < 512
        });
        if !kept_up {
            drop(publisher);
            let (_, out_log) = outbound.terminate();
            let (_, in_log) = inbound.terminate();
            panic!(
                "record {i}: the reader fell behind; outbound's log:\n{}\ninbound's log:\n{}",
                out_log.join("\n"),
                in_log.join("\n")
            );
        }
        publisher.publish(&record(i)).unwrap();
    }
    let seen = reader.finish();
    assert_eq!(seen.records, (0..RECORDS).collect::<Vec<_>>());
    assert!(seen.lagged.is_empty(), "{:?}", seen.lagged);

    let (status, log) = outbound.terminate();
    assert!(
        status.success(),
        "outbound: {status}; its log:\n{}",
        log.join("\n")
    );
    let stopping = log.iter().find(|l| l.contains("stopping:")).unwrap();
    assert!(
        stopping.contains(&format!("records: {RECORDS}, missed: 0")),
        "{stopping}"
    );
    let (status, log) = inbound.terminate();
    assert!(
        status.success(),
        "inbound: {status}; its log:\n{}",
        log.join("\n")
    );
    let stopping = log.iter().find(|l| l.contains("stopping:")).unwrap();
    assert!(
        stopping.contains(&format!("records: {RECORDS}, missed: 0")),
        "{stopping}"
    );
}
