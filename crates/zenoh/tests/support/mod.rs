//! What the bridge's tests share: checksummed records, endpoints, local readers.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipclane::{Start, SubscribeOptions, Subscriber};

/// How long a test waits for anything before it fails naming it.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Record `i`: its number, bytes derived from it (16 to 216 in all), and a checksum of
/// everything before.
pub fn record(i: u64) -> Vec<u8> {
    let len = 16 + (i % 201) as usize;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&i.to_le_bytes());
    out.extend((0..len - 16).map(|k| (i as u8).wrapping_mul(31).wrapping_add(k as u8)));
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// FNV-1a of `bytes`.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The number of a record, every byte of it checked.
///
/// # Panics
///
/// On a torn or corrupted record.
pub fn check(bytes: &[u8]) -> u64 {
    assert!(bytes.len() >= 16, "a record of {} bytes", bytes.len());
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let i = u64::from_le_bytes(body[..8].try_into().unwrap());
    assert_eq!(
        u64::from_le_bytes(sum.try_into().unwrap()),
        checksum(body),
        "record {i}: checksum"
    );
    assert_eq!(bytes, record(i), "record {i}: bytes");
    i
}

/// A TCP endpoint on loopback with a port free now.
pub fn loopback_endpoint() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp/{}", socket.local_addr().unwrap())
}

/// A key expression of this test alone.
pub fn key(tag: &str) -> String {
    format!("ipclane/test/{}", ipclane_testkit::unique(tag))
}

/// What a local reader of a bridged feed saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// The record numbers received, in order.
    pub records: Vec<u64>,
    /// The counts of its `Lagged` errors.
    pub lagged: Vec<u64>,
}

/// A thread reading the feed `name` from its oldest record until it has record `last`
/// (checking each), pausing `stall` after its first record; its progress is `received`.
pub struct Reader {
    pub received: Arc<AtomicU64>,
    thread: JoinHandle<Seen>,
}

impl Reader {
    pub fn start(name: &str, last: u64, stall: Duration) -> Self {
        let mut subscriber =
            Subscriber::open_with(name, SubscribeOptions::default().start(Start::Oldest)).unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let progress = Arc::clone(&received);
        let name = name.to_owned();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen::default();
            let deadline = Instant::now() + LIMIT;
            while seen.records.last() != Some(&last) {
                let left = deadline.saturating_duration_since(Instant::now());
                match subscriber.recv_timeout(left) {
                    Ok(bytes) => {
                        let i = std::hint::black_box(check(&bytes));
                        if seen.records.is_empty() {
                            std::thread::sleep(stall);
                        }
                        seen.records.push(i);
                        progress.store(seen.records.len() as u64, Ordering::Release);
                    }
                    Err(ipclane::Error::Lagged { missed }) => seen.lagged.push(missed),
                    Err(e) => panic!("reader of {name}: {e} after {:?}", seen.records.last()),
                }
            }
            seen
        });
        Self { received, thread }
    }

    pub fn finish(self) -> Seen {
        self.thread.join().expect("reader")
    }
}

/// Waits until `cond` holds, failing with `what` after [`LIMIT`].
pub fn wait(what: &str, cond: impl FnMut() -> bool) {
    assert!(
        ipclane_testkit::eventually(LIMIT, cond),
        "waited {LIMIT:?} for {what}"
    );
}

/// Asserts that `records` strictly increase.
pub fn assert_in_order(records: &[u64]) {
    for pair in records.windows(2) {
        assert!(pair[0] < pair[1], "record {} after {}", pair[1], pair[0]);
    }
}

/// A bridge from `key` into the new local feed `there` (of `slots` slots), listening on
/// `endpoint`.
pub fn inbound(there: &str, key: &str, endpoint: &str, slots: usize) -> ipclane_zenoh::Bridge {
    let options = ipclane_zenoh::InOptions::default()
        .publish(ipclane::PublishOptions::default().slots(slots));
    let config = ipclane_zenoh::Config::peer().listen(endpoint).unwrap();
    ipclane_zenoh::Bridge::inbound_with(there, key, &config, options).unwrap()
}

/// A bridge from the local feed `here` to `key`, connecting to `endpoint`, once it sees a
/// subscriber there.
pub fn outbound(here: &str, key: &str, endpoint: &str) -> ipclane_zenoh::Bridge {
    let config = ipclane_zenoh::Config::peer().connect(endpoint).unwrap();
    let bridge = ipclane_zenoh::Bridge::out(here, key, &config).unwrap();
    assert!(
        bridge.wait_matched(LIMIT),
        "the outbound bridge saw no subscriber"
    );
    bridge
}

pub mod process;
