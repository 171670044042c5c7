//! The inbound bridge against samples written by hand, as a faulty or hostile remote side
//! could send them: duplicates are dropped, gaps counted, a new run noticed, foreign bytes
//! refused, and nothing (an extreme sequence number included) stops it. Every record that
//! is new arrives in the local feed once, in order, whole.

mod support;

use ipclane_zenoh::zenoh::{self, Wait};
use ipclane_zenoh::{Config, Header, Source};
use support::{Reader, key, loopback_endpoint, record, wait};

#[test]
fn duplicates_gaps_restarts_and_foreign_bytes_are_counted_and_only_new_records_pass() {
    let there = ipclane_testkit::unique("frames-there");
    let key = key("frames");
    let endpoint = loopback_endpoint();
    let inbound = support::inbound(&there, &key, &endpoint, 64);

    let config = Config::peer()
        .connect(&endpoint)
        .unwrap()
        .to_zenoh()
        .unwrap();
    let session = zenoh::open(config).wait().unwrap();
    let publisher = session.declare_publisher(&key).wait().unwrap();
    wait("the inbound bridge's subscriber", || {
        publisher
            .matching_status()
            .wait()
            .is_ok_and(|m| m.matching())
    });

    let (a, b) = (
        Source {
            pid: 1,
            created_ns: 10,
        },
        Source {
            pid: 1,
            created_ns: 20,
        },
    );
    let sent = |source: Source, seq: u64, missed: u64, i: u64| {
        let header = Header {
            source,
            seq,
            missed,
        };
        publisher.put(header.frame(&record(i))).wait().unwrap();
    };
    // The numbers the local feed's records carry (`i`) are the order they must arrive in.
    let reader = Reader::start(&there, 6, std::time::Duration::ZERO);
    sent(a, 0, 3, 0); // first contact: 3 missed by the outbound bridge before it
    sent(a, 1, 0, 1);
    sent(a, 1, 0, 99); // a duplicate
    sent(a, 0, 0, 99); // an older one
    sent(a, 4, 1, 2); // records 2 and 3 never came (1 of them missed at the source)
    publisher
        .put(b"not a bridged record".to_vec())
        .wait()
        .unwrap();
    sent(b, 2, 0, 3); // a restarted publisher: records 0 and 1 of its run missed
    sent(b, u64::MAX, 0, 4); // an extreme sequence number: counted, not a panic
    sent(b, 5, 0, 99); // behind it: a duplicate now
    sent(b, u64::MAX, 0, 99); // the same again: a duplicate too
    let c = Source {
        pid: 2,
        created_ns: 30,
    };
    sent(c, 0, 0, 5);
    sent(c, 1, 0, 6);

    let seen = reader.finish();
    assert_eq!(seen.records, (0..=6).collect::<Vec<_>>());
    assert!(seen.lagged.is_empty(), "{:?}", seen.lagged);
    wait("the counts", || inbound.stats().records == 7);
    let stats = inbound.stats();
    assert_eq!(stats.duplicates, 4, "{stats:?}");
    assert_eq!(stats.rejected, 1, "{stats:?}");
    assert_eq!(stats.sources, 3, "{stats:?}");
    // 3 (first contact) + 2 (gap) + 2 (restart) + u64::MAX - 3 (the jump): the count
    // saturates rather than wrap; run c starts from 0.
    assert_eq!(stats.missed, u64::MAX, "{stats:?}");
    assert_eq!(stats.missed_at_source, 3 + 1, "{stats:?}");
    assert!(inbound.is_running());
    inbound.stop().unwrap();
    session.close().wait().unwrap();
}
