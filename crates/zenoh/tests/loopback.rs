//! Two Zenoh peers on loopback, no router, explicit endpoints: a local feed bridged out,
//! bridged in on the "other host", read there by local subscribers.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ipclane::{PublishOptions, Publisher};
use ipclane_testkit::ShmName;
use ipclane_zenoh::Bridge;
use support::{LIMIT, Reader, assert_in_order, key, loopback_endpoint, record, wait};

/// A feed here, bridged out to `key`, and bridged into `there` by a peer listening on
/// loopback: `(publisher, outbound, inbound)`.
fn bridged(
    here: &str,
    there: &str,
    key: &str,
    slots: usize,
    there_slots: usize,
) -> (Publisher, Bridge, Bridge) {
    let endpoint = loopback_endpoint();
    let inbound = support::inbound(there, key, &endpoint, there_slots);
    let publisher = Publisher::create(here, PublishOptions::default().slots(slots)).unwrap();
    let outbound = support::outbound(here, key, &endpoint);
    assert!(
        inbound.wait_matched(LIMIT),
        "the inbound bridge saw no outbound one"
    );
    (publisher, outbound, inbound)
}

#[test]
fn every_record_arrives_once_in_order_and_whole_and_a_lapped_reader_is_told() {
    const RECORDS: u64 = 20_000;
    let (here, there) = (ShmName::new("zloop-here"), ShmName::new("zloop-there"));
    let (mut publisher, outbound, inbound) = bridged(&here.0, &there.0, &key("loop"), 1024, 256);
    let readers = [
        Reader::start(&there.0, RECORDS - 1, Duration::ZERO),
        Reader::start(&there.0, RECORDS - 1, Duration::ZERO),
    ];
    // Stalls after its first record while the rest flow past its ring of 256.
    let stalled = Reader::start(&there.0, RECORDS - 1, Duration::from_millis(500));
    for i in 0..RECORDS {
        // Paced by the slowest reader that keeps up: nothing may be lapped but the
        // stalled one.
        wait("the readers to keep up", || {
            readers
                .iter()
                .all(|r| i - r.received.load(Ordering::Acquire) < 128)
                && i - outbound.stats().records < 512
        });
        publisher.publish(&record(i)).unwrap();
    }
    for reader in readers {
        let seen = reader.finish();
        assert!(seen.lagged.is_empty(), "lagged: {:?}", seen.lagged);
        assert_eq!(seen.records, (0..RECORDS).collect::<Vec<_>>());
    }
    let seen = stalled.finish();
    let missed: u64 = seen.lagged.iter().sum();
    assert!(missed > 0, "the stalled reader was not told it was lapped");
    assert_in_order(&seen.records);
    assert_eq!(
        seen.records.len() as u64 + missed,
        RECORDS,
        "received + missed"
    );
    // A bridge counts a record once it has passed it on: the reader may be first.
    wait("the bridges' counts", || {
        outbound.stats().records == RECORDS && inbound.stats().records == RECORDS
    });
    let (out, inn) = (outbound.stats(), inbound.stats());
    assert_eq!(
        (out.records, out.missed, out.sources),
        (RECORDS, 0, 1),
        "{out:?}"
    );
    assert_eq!(
        (inn.records, inn.missed, inn.duplicates, inn.rejected),
        (RECORDS, 0, 0, 0),
        "{inn:?}"
    );
}

#[test]
fn a_lapped_outbound_bridge_says_how_many_it_missed_and_the_count_crosses() {
    // All at once into a ring of 8, faster than any network takes them: the bridge
    // is lapped (each record costs it a Zenoh publication; the publisher, a copy).
    const RECORDS: u64 = 20_000;
    let (here, there) = (ShmName::new("zlap-here"), ShmName::new("zlap-there"));
    let (mut publisher, outbound, inbound) = bridged(&here.0, &there.0, &key("lap"), 8, 1 << 15);
    // The newest record is always in the ring, so the last one crosses.
    let reader = Reader::start(&there.0, RECORDS - 1, Duration::ZERO);
    for i in 0..RECORDS {
        publisher.publish(&record(i)).unwrap();
    }
    let crossed = ipclane_testkit::eventually(LIMIT, || {
        let (o, s) = (outbound.stats(), inbound.stats());
        o.records + o.missed == RECORDS && s.records + s.missed == RECORDS
    });
    assert!(
        crossed,
        "not all crossed: {:?} then {:?}",
        outbound.stats(),
        inbound.stats()
    );
    let seen = reader.finish();
    let (out, inn) = (outbound.stats(), inbound.stats());
    assert!(out.missed > 0, "never lapped: {out:?}");
    assert_eq!(out.records + out.missed, RECORDS, "{out:?}");
    // What the outbound bridge missed is what the inbound one counts, all of it said by
    // the outbound one, and nothing else was lost.
    assert_eq!(inn.missed, out.missed, "{inn:?} against {out:?}");
    assert_eq!(inn.missed_at_source, out.missed, "{inn:?}");
    assert_eq!(inn.records, out.records, "{inn:?}");
    assert!(seen.lagged.is_empty(), "{:?}", seen.lagged);
    assert_in_order(&seen.records);
    assert_eq!(seen.records.len() as u64, inn.records);
}

#[test]
fn a_feed_made_after_the_bridge_started_is_forwarded_from_its_first_record() {
    let (here, there) = (ShmName::new("zlate-here"), ShmName::new("zlate-there"));
    let (key, endpoint) = (key("late"), loopback_endpoint());
    let inbound = support::inbound(&there.0, &key, &endpoint, 1024);
    // No feed yet: the bridge waits for one, looking every 50 ms.
    let outbound = support::outbound(&here.0, &key, &endpoint);
    let reader = Reader::start(&there.0, 99, Duration::ZERO);
    let mut publisher = Publisher::create(&here.0, PublishOptions::default().slots(1024)).unwrap();
    // All of it at once, long before the bridge looks again.
    for i in 0..100 {
        publisher.publish(&record(i)).unwrap();
    }
    let seen = reader.finish();
    assert_eq!(seen.records, (0..100).collect::<Vec<_>>());
    wait("the bridges' counts", || {
        outbound.stats().records == 100 && inbound.stats().records == 100
    });
    assert_eq!((outbound.stats().missed, inbound.stats().missed), (0, 0));
}
