//! Restarts: the publisher (killed), the outbound bridge, the inbound side. The stream
//! resumes each time, and what was lost on the way is a count.

mod support;

use std::time::Duration;

use ipclane::{PublishOptions, Publisher};
use ipclane_testkit::{Peer, ShmName};
use support::{LIMIT, Reader, key, loopback_endpoint, record, wait};

/// The source feed's slots.
const SLOTS: usize = 1024;

#[test]
fn a_killed_publisher_restarted_resumes_the_stream_and_the_gap_is_a_count() {
    let (here, there) = (ShmName::new("zkill-here"), ShmName::new("zkill-there"));
    let (key, endpoint) = (key("kill"), loopback_endpoint());
    let inbound = support::inbound(&there.0, &key, &endpoint, 1 << 13);
    let reader = Reader::start(&there.0, 3499, Duration::ZERO);

    let mut first = Peer::spawn("publisher", &[&here.0]);
    assert_eq!(first.recv(), "ready");
    let outbound = support::outbound(&here.0, &key, &endpoint);
    first.send("0 500");
    assert_eq!(first.recv(), "published");
    wait("the first run to cross", || inbound.stats().records == 500);
    first.kill();
    wait("the bridge to see the publisher gone", || {
        !outbound.stats().attached
    });

    // The new run publishes three rings' worth at once: the bridge, looking every 50 ms,
    // finds some of it overwritten (or is lapped), and says how much.
    let mut second = Peer::spawn("publisher", &[&here.0]);
    assert_eq!(second.recv(), "ready");
    second.send("500 3000");
    assert_eq!(second.recv(), "published");
    wait("the second run to cross, or be counted", || {
        let (o, s) = (outbound.stats(), inbound.stats());
        o.records + o.missed == 3500 && s.records + s.missed == 3500
    });
    let seen = reader.finish();
    let (out, inn) = (outbound.stats(), inbound.stats());
    assert_eq!(out.sources, 2, "{out:?}");
    assert_eq!(inn.sources, 2, "{inn:?}");
    assert!(out.missed > 0, "the new run fitted its ring: {out:?}");
    assert_eq!(inn.missed, out.missed, "{inn:?} against {out:?}");
    assert_eq!(inn.missed_at_source, out.missed, "{inn:?}");
    assert!(seen.lagged.is_empty(), "{:?}", seen.lagged);
    // The first run whole, then the new run's newest records, in order.
    assert_eq!(seen.records[..500], (0..500).collect::<Vec<_>>());
    support::assert_in_order(&seen.records);
    assert_eq!(seen.records.len() as u64 + inn.missed, 3500);
    assert_eq!(seen.records.last(), Some(&3499));
    drop(second);
}

#[test]
fn a_restarted_outbound_bridge_resumes_and_the_gap_is_a_count() {
    let (here, there) = (ShmName::new("zbr-here"), ShmName::new("zbr-there"));
    let (key, endpoint) = (key("bridge-restart"), loopback_endpoint());
    let inbound = support::inbound(&there.0, &key, &endpoint, 1 << 12);
    let reader = Reader::start(&there.0, 399, Duration::ZERO);
    let mut publisher = Publisher::create(&here.0, PublishOptions::default().slots(SLOTS)).unwrap();
    let publish = |publisher: &mut Publisher, range: std::ops::Range<u64>| {
        for i in range {
            publisher.publish(&record(i)).unwrap();
        }
    };

    let first = support::outbound(&here.0, &key, &endpoint);
    publish(&mut publisher, 0..100);
    wait("the first hundred to cross", || {
        inbound.stats().records == 100
    });
    drop(first);
    wait("the inbound bridge to see it go", || {
        !inbound.stats().matched
    });
    // Published while no bridge runs: lost to the other host, and counted there.
    publish(&mut publisher, 100..350);
    let second = support::outbound(&here.0, &key, &endpoint);
    publish(&mut publisher, 350..400);
    let seen = reader.finish();
    wait("the bridges' counts", || {
        inbound.stats().records == 150 && second.stats().records == 50
    });
    let inn = inbound.stats();
    assert_eq!(
        (inn.records, inn.missed, inn.sources),
        (150, 250, 1),
        "{inn:?}"
    );
    assert_eq!(inn.missed_at_source, 0, "{inn:?}");
    let expected: Vec<u64> = (0..100).chain(350..400).collect();
    assert_eq!(seen.records, expected);
    assert!(seen.lagged.is_empty());
    assert_eq!(second.stats().records, 50);
}

#[test]
fn the_other_side_going_away_and_coming_back_is_reconnected() {
    let (here, there) = (ShmName::new("zre-here"), ShmName::new("zre-there"));
    let (key, endpoint) = (key("reconnect"), loopback_endpoint());
    let first = support::inbound(&there.0, &key, &endpoint, 1 << 12);
    let reader = Reader::start(&there.0, 99, Duration::ZERO);
    let mut publisher = Publisher::create(&here.0, PublishOptions::default().slots(SLOTS)).unwrap();
    let outbound = support::outbound(&here.0, &key, &endpoint);
    for i in 0..100 {
        publisher.publish(&record(i)).unwrap();
    }
    assert_eq!(reader.finish().records, (0..100).collect::<Vec<_>>());

    // The other host goes (its bridge, its session, its listening endpoint) and comes
    // back on the same endpoint: the outbound bridge's session reconnects by itself.
    drop(first);
    wait("the outbound bridge to see no subscriber", || {
        !outbound.stats().matched
    });
    let second = support::inbound(&there.0, &key, &endpoint, 1 << 12);
    let reader = Reader::start(&there.0, 199, Duration::ZERO);
    assert!(outbound.wait_matched(LIMIT), "never reconnected");
    for i in 100..200 {
        publisher.publish(&record(i)).unwrap();
    }
    assert_eq!(reader.finish().records, (100..200).collect::<Vec<_>>());
    assert_eq!(second.stats().missed, 0);
    assert!(outbound.is_running());
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Makes the feed `args[0]`, says `ready`; on each line `FROM COUNT`, publishes
        // records FROM.. (COUNT of them) and says `published`.
        "publisher" => {
            let mut publisher =
                Publisher::create(&args[0], PublishOptions::default().slots(SLOTS)).unwrap();
            ipclane_testkit::say("ready");
            while let Some(line) = ipclane_testkit::listen() {
                let (from, count) = line.split_once(' ').unwrap();
                let (from, count): (u64, u64) = (from.parse().unwrap(), count.parse().unwrap());
                for i in from..from + count {
                    publisher.publish(&record(i)).unwrap();
                }
                ipclane_testkit::say("published");
            }
        }
        other => panic!("no role {other}"),
    });
}
