//! Publish/subscribe between processes: subscribers that join early, late, or fall a
//! whole ring behind; a subscriber stopped (SIGSTOP) until lapped, going on at the oldest
//! or the newest message with exact counts of what it missed, and seen lagging by the
//! publisher; one stopped beside a publisher that does not slow down, and one stopped at
//! random moments mid-read; 16 subscriber processes each getting every message of a paced
//! feed; a publisher killed under its subscribers; and `gc` removing what a dead publisher
//! left.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ipclane::{
    Error, PublishOptions, Publisher, Start, SubscribeOptions, Subscriber, SubscriberInfo,
};
use ipclane_testkit::{
    Peer, ShmName, SubscriberRecords, WAIT_LIMIT, bounded, eventually, hold, listen, say,
};

/// Message `seq`: its sequence number, then a tail derived from it.
fn message(seq: u64) -> Vec<u8> {
    let mut msg = seq.to_le_bytes().to_vec();
    msg.extend((0..(seq % 48)).map(|k| (seq as u8).wrapping_add(k as u8)));
    msg
}

/// Checks a received message whole and returns its sequence number.
fn check(msg: &Bytes) -> u64 {
    let seq = u64::from_le_bytes(msg[..8].try_into().expect("a sequence number"));
    assert_eq!(&msg[..], &message(seq)[..], "message {seq} arrived changed");
    seq
}

/// Reads the feed to its end; returns (first sequence number, messages, missed).
fn read_to_end(sub: &mut Subscriber) -> (Option<u64>, u64, u64) {
    let (mut first, mut got, mut missed, mut last) = (None, 0u64, 0u64, None::<u64>);
    loop {
        match sub.recv() {
            Ok(msg) => {
                let seq = check(&msg);
                if let Some(last) = last {
                    assert!(seq > last, "{seq} after {last}: reordered or duplicated");
                }
                first.get_or_insert(seq);
                last = Some(seq);
                got += 1;
            }
            Err(Error::Lagged { missed: m }) => missed += m,
            Err(Error::Disconnected { .. }) => return (first, got, missed),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Subscribes, says where it starts, waits for "go", then reads to the end.
        "subscriber" => {
            let mut sub = Subscriber::open(&args[0]).unwrap();
            say(format!("ready {}", sub.position()));
            assert_eq!(listen().as_deref(), Some("go"));
            let (first, got, missed) = read_to_end(&mut sub);
            say(format!("{} {got} {missed}", first.map_or(-1, |f| f as i64)));
        }
        // Subscribes going on at `args[1]` (oldest, newest) after a lap (polling without
        // sleeping if `args[2]` is `busy`), says where it starts, and reads to the end,
        // checking that each message is the one its count of received and missed
        // messages says; after its first lap it says what it was told it missed and the
        // message it went on with, at the end its totals.
        "lagger" => {
            let after_lap = match args[1].as_str() {
                "oldest" => Start::Oldest,
                "newest" => Start::Newest,
                other => panic!("no resume mode {other}"),
            };
            let options = SubscribeOptions::default().after_lap(after_lap);
            let mut sub = Subscriber::open_with(&args[0], options).unwrap();
            if args.get(2).is_some_and(|a| a == "busy") {
                sub.set_wait_strategy(ipclane::queue::WaitStrategy::busy_poll());
            }
            say(format!("ready {}", sub.position()));
            let (mut expected, mut got, mut missed) = (sub.position(), 0u64, 0u64);
            let mut first_lap = None;
            loop {
                match sub.recv() {
                    Ok(msg) => {
                        assert_eq!(check(&msg), expected, "after {got} got, {missed} missed");
                        if let Some(lap) = first_lap.take() {
                            say(format!("lapped {lap} {expected}"));
                        }
                        expected += 1;
                        got += 1;
                    }
                    Err(Error::Lagged { missed: m }) => {
                        assert!(m > 0, "a lap that missed nothing");
                        if missed == 0 {
                            first_lap = Some(m);
                        }
                        expected += m;
                        missed += m;
                    }
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
            say(format!("{got} {missed}"));
        }
        // Subscribes, says where it starts, reads to the end with the default blocking
        // recv, and says how many messages it got, their checksum and how many it missed.
        "counter" => {
            let mut sub = Subscriber::open(&args[0]).unwrap();
            say(format!("ready {}", sub.position()));
            let (mut expected, mut sum, mut missed) = (sub.position(), Checksum::new(), 0u64);
            loop {
                match sub.recv() {
                    Ok(msg) => {
                        assert_eq!(check(&msg), expected, "out of order");
                        sum.add(&msg);
                        expected += 1;
                    }
                    Err(Error::Lagged { missed: m }) => {
                        expected += m;
                        missed += m;
                    }
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
            say(format!("{} {} {missed}", expected - missed, sum.0));
        }
        "publisher" => {
            let mut publisher = Publisher::create(&args[0], PublishOptions::default()).unwrap();
            for seq in 0..10 {
                publisher.publish(&message(seq)).unwrap();
            }
            say("published");
            hold();
        }
        other => panic!("unknown role {other}"),
    });
}

/// The parts of a subscriber's last report.
fn report(peer: &mut Peer) -> (i64, u64, u64) {
    let line = peer.recv();
    let mut parts = line.split(' ').map(|p| p.parse::<i64>().unwrap());
    let mut next = || parts.next().expect("three numbers");
    (next(), next() as u64, next() as u64)
}

#[test]
fn three_subscriber_processes_one_late_one_lapped() {
    const SLOTS: usize = 1024;
    const FIRST: u64 = 500;
    const TOTAL: u64 = 3000;
    let name = ShmName::new("feed");
    bounded("pub/sub", || {
        let options = PublishOptions::default().slots(SLOTS).max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut early = Peer::spawn("subscriber", &[&name.0]);
        let mut lapped = Peer::spawn("subscriber", &[&name.0]);
        assert_eq!(early.recv(), "ready 0");
        assert_eq!(lapped.recv(), "ready 0");
        early.send("go");
        let mut publish = |range: std::ops::Range<u64>| {
            for seq in range {
                publisher.publish(&message(seq)).unwrap();
                if seq % 64 == 0 {
                    // Paced, so that the early subscriber keeps up (it is not asserted:
                    // the publisher never waits, and a loaded machine may lap anyone).
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        };
        publish(0..FIRST);
        let mut late = Peer::spawn("subscriber", &[&name.0]);
        let start: u64 = late.recv().strip_prefix("ready ").unwrap().parse().unwrap();
        assert_eq!(
            start, FIRST,
            "a late subscriber starts at the newest message"
        );
        late.send("go");
        publish(FIRST..TOTAL);
        drop(publisher); // ends the feed
        lapped.send("go");

        let (first, got, missed) = report(&mut early);
        assert_eq!(
            (first, got + missed),
            (0, TOTAL),
            "early: {got} received, {missed} missed"
        );
        let (first, got, missed) = report(&mut late);
        assert_eq!(
            first,
            FIRST as i64 + missed as i64,
            "late: its first message"
        );
        assert_eq!(
            got + missed,
            TOTAL - FIRST,
            "late: {got} received, {missed} missed"
        );
        let (first, got, missed) = report(&mut lapped);
        assert_eq!(
            missed,
            TOTAL - (SLOTS as u64 - 1),
            "lapped: told how many it missed"
        );
        assert_eq!(
            (first as u64, got),
            (missed, SLOTS as u64 - 1),
            "lapped: resynced at the oldest"
        );
        for peer in [early, late, lapped] {
            assert!(peer.finish().success());
        }
    });
}

#[test]
fn a_killed_publisher_is_disconnected_and_its_feed_is_collected() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let name = ShmName::new("killed");
    let path = format!("/dev/shm/ipclane.{}", name.0);
    bounded("killed publisher", || {
        let mut publisher = Peer::spawn("publisher", &[&name.0]);
        assert_eq!(publisher.recv(), "published");
        let mut sub = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
        for seq in 0..10 {
            assert_eq!(check(&sub.recv().unwrap()), seq);
        }
        let mut polling = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
        publisher.kill();
        assert!(matches!(sub.recv(), Err(Error::Disconnected { .. })));
        // A subscriber that never waits sees it too, after what was published.
        let mut read = 0;
        loop {
            match polling.try_recv() {
                Ok(Some(msg)) => {
                    assert_eq!(check(&msg), read);
                    read += 1;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(Error::Disconnected { .. }) => break,
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        assert_eq!(read, 10);
        drop(polling);
        drop(sub);
        assert!(
            std::path::Path::new(&path).exists(),
            "a killed publisher leaves its feed"
        );
        let report = ipclane::segment::gc().unwrap();
        assert!(report.removed.contains(&name.0), "gc: {report:?}");
        assert!(!std::path::Path::new(&path).exists());
    });
}

#[test]
fn receiving_without_waiting_without_allocating_and_only_the_latest() {
    let name = ShmName::new("calls");
    let mut publisher = Publisher::create(
        &name.0,
        PublishOptions::default().slots(8).max_message_len(16),
    )
    .unwrap();
    assert_eq!(publisher.max_message_len(), 16);
    let mut sub = Subscriber::open(&name.0).unwrap();
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(sub.latest().unwrap(), None);
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(10)),
        Err(Error::Timeout { .. })
    ));
    assert!(matches!(
        publisher.publish(&[0; 17]),
        Err(Error::MessageTooLarge { len: 17, max: 16 })
    ));
    for seq in 0..3u8 {
        publisher.publish(&[seq; 4]).unwrap();
    }
    let mut buf = [0u8; 16];
    let len = sub.recv_into(&mut buf).unwrap();
    assert_eq!(&buf[..len], &[0; 4]);
    assert_eq!(sub.try_recv().unwrap().as_deref(), Some(&[1u8; 4][..]));
    assert_eq!(sub.latest().unwrap().as_deref(), Some(&[2u8; 4][..]));
    assert_eq!(
        sub.try_recv().unwrap(),
        None,
        "latest moved past what it skipped"
    );
    assert_eq!(publisher.published(), 3);
    let mut from_oldest = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
    assert_eq!(from_oldest.recv().unwrap(), &[0u8; 4][..]);
    assert!(matches!(
        Subscriber::open("no-such-feed-here"),
        Err(Error::Segment(_))
    ));
}

/// FNV-1a over every byte of a stream of messages, in order.
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, msg: &[u8]) {
        for &b in msg {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The record of the subscriber process `pid`, as `publisher` sees it.
fn info(publisher: &Publisher, pid: u32) -> Option<SubscriberInfo> {
    publisher
        .subscribers()
        .unwrap()
        .into_iter()
        .find(|s| s.pid == pid)
}

/// Waits until the subscriber process `pid` has received everything published (it then
/// waits in a receive), and returns its record.
fn caught_up(publisher: &Publisher, pid: u32) -> SubscriberInfo {
    let mut seen = None;
    let done = eventually(WAIT_LIMIT / 2, || {
        seen = info(publisher, pid);
        seen.as_ref()
            .is_some_and(|s| s.position == publisher.published())
    });
    assert!(
        done,
        "subscriber {pid} never caught up with {}: {seen:?}",
        publisher.published()
    );
    seen.unwrap()
}

/// Publishes the messages `range`, paced so that a running subscriber keeps up (not
/// asserted: the publisher never waits, and a loaded machine may lap anyone).
fn publish_paced(publisher: &mut Publisher, range: std::ops::Range<u64>) {
    for seq in range {
        publisher.publish(&message(seq)).unwrap();
        if seq % 8 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// One subscriber process stopped with SIGSTOP while the publisher laps it, one running:
/// the publisher sees the stopped one's lag grow to lapped while the running one is at
/// the head; continued, the stopped one is told exactly how many messages it missed and
/// goes on with the oldest message still there, or the newest; both account for every
/// message published, and neither returns an overwritten one (each checks every message
/// against its sequence number).
fn a_stopped_subscriber_is_seen_lagging_then_told_what_it_missed(after_lap: &str) {
    const SLOTS: u64 = 64;
    const BEFORE: u64 = 10;
    const LAGGING: u64 = 50;
    const LAPPED: u64 = 250;
    const AFTER: u64 = 100;
    let name = ShmName::new("stopped");
    bounded("a stopped subscriber", || {
        let options = PublishOptions::default()
            .slots(SLOTS as usize)
            .max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut records = SubscriberRecords::default();
        let mut stopped = Peer::spawn("lagger", &[&name.0, after_lap]);
        let mut running = Peer::spawn("lagger", &[&name.0, "oldest"]);
        records.0.extend([stopped.pid(), running.pid()]);
        assert_eq!(stopped.recv(), "ready 0");
        assert_eq!(running.recv(), "ready 0");

        publish_paced(&mut publisher, 0..BEFORE);
        // Up to date, each waits in a receive: at the head, no lag.
        for peer in [&stopped, &running] {
            let sub = caught_up(&publisher, peer.pid());
            assert_eq!(
                (sub.lag, sub.lagging, sub.lapped, sub.alive),
                (0, false, false, true),
                "{sub:?}"
            );
        }

        stopped.stop();
        publish_paced(&mut publisher, BEFORE..LAGGING);
        let sub = caught_up(&publisher, running.pid());
        assert_eq!((sub.lag, sub.lagging), (0, false), "running: {sub:?}");
        let sub = info(&publisher, stopped.pid()).unwrap();
        assert_eq!(
            (sub.position, sub.lag, sub.lagging, sub.lapped, sub.alive),
            (BEFORE, LAGGING - BEFORE, true, false, true),
            "stopped, half a ring behind: {sub:?}"
        );

        publish_paced(&mut publisher, LAGGING..LAPPED);
        let sub = caught_up(&publisher, running.pid());
        assert_eq!((sub.lag, sub.lapped), (0, false), "running: {sub:?}");
        let sub = info(&publisher, stopped.pid()).unwrap();
        assert_eq!(
            (sub.position, sub.lag, sub.lagging, sub.lapped),
            (BEFORE, LAPPED - BEFORE, true, true),
            "stopped, lapped: {sub:?}"
        );

        // Continued with nothing more published: it goes on with the oldest message the
        // ring keeps (its slots less one), or the newest.
        stopped.resume();
        let (missed, first) = match after_lap {
            "oldest" => (LAPPED - (SLOTS - 1) - BEFORE, LAPPED - (SLOTS - 1)),
            _ => (LAPPED - 1 - BEFORE, LAPPED - 1),
        };
        assert_eq!(
            stopped.recv(),
            format!("lapped {missed} {first}"),
            "{after_lap}: what it missed, and where it went on"
        );
        let sub = caught_up(&publisher, stopped.pid());
        assert_eq!((sub.lag, sub.lapped), (0, false), "continued: {sub:?}");

        publish_paced(&mut publisher, LAPPED..LAPPED + AFTER);
        let published = publisher.published();
        assert_eq!(published, LAPPED + AFTER);
        drop(publisher);
        for (peer, what) in [(&mut stopped, "stopped"), (&mut running, "running")] {
            // A lap of its own under load (descheduled for a ring's worth of the pace, 1.6
            // ms) is said the same way; the count below still accounts for every message.
            let line = std::iter::repeat_with(|| peer.recv())
                .find(|line| !line.starts_with("lapped "))
                .expect("the peer's totals");
            let (got, missed) = line
                .split_once(' ')
                .map(|(g, m)| (g.parse::<u64>().unwrap(), m.parse::<u64>().unwrap()))
                .unwrap();
            assert_eq!(
                got + missed,
                published,
                "{what}: {got} received + {missed} missed"
            );
            if what == "stopped" {
                assert!(missed >= LAPPED - (SLOTS - 1) - BEFORE, "{what}: {missed}");
            }
        }
        for peer in [stopped, running] {
            assert!(peer.finish().success());
        }
    });
}

#[test]
fn a_stopped_subscriber_goes_on_with_the_oldest_message_after_a_lap() {
    a_stopped_subscriber_is_seen_lagging_then_told_what_it_missed("oldest");
}

#[test]
fn a_stopped_subscriber_goes_on_with_the_newest_message_after_a_lap() {
    a_stopped_subscriber_is_seen_lagging_then_told_what_it_missed("newest");
}

/// 16 subscriber processes on a feed of 10,000 messages a second for 3 seconds, in a
/// ring that holds them all: each gets every message exactly once and in order (count,
/// checksum and sequence numbers), none is ever lapped, and the publisher sees all 16.
#[test]
fn sixteen_subscriber_processes_each_get_every_message_once_in_order() {
    const SUBSCRIBERS: usize = 16;
    const RATE: u64 = 10_000;
    const MESSAGES: u64 = 3 * RATE;
    let name = ShmName::new("fanout");
    bounded("16 subscribers", || {
        let options = PublishOptions::default().slots(1 << 16).max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut records = SubscriberRecords::default();
        let mut peers: Vec<Peer> = (0..SUBSCRIBERS)
            .map(|_| Peer::spawn("counter", &[&name.0]))
            .collect();
        records.0.extend(peers.iter().map(Peer::pid));
        for peer in &mut peers {
            assert_eq!(peer.recv(), "ready 0");
        }
        let mut expected = Checksum::new();
        let start = Instant::now();
        for seq in 0..MESSAGES {
            let msg = message(seq);
            expected.add(&msg);
            publisher.publish(&msg).unwrap();
            // Ten messages a millisecond, on a schedule (the pace is not asserted).
            if seq % 10 == 9 {
                let due = start + Duration::from_micros((seq + 1) * 1_000_000 / RATE);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let subs = publisher.subscribers().unwrap();
        for peer in &peers {
            let sub = subs
                .iter()
                .find(|s| s.pid == peer.pid())
                .unwrap_or_else(|| panic!("subscriber {} not seen: {subs:?}", peer.pid()));
            assert!(sub.alive && !sub.lapped, "{sub:?}");
        }
        assert_eq!(publisher.published(), MESSAGES);
        drop(publisher);
        for peer in &mut peers {
            assert_eq!(
                peer.recv(),
                format!("{MESSAGES} {} 0", expected.0),
                "subscriber {}: count, checksum, missed",
                peer.pid()
            );
        }
        for peer in peers {
            assert!(peer.finish().success());
        }
    });
}

/// The publisher's view of a subscriber against what the subscriber's next receive
/// does, at every distance behind up to twice the ring: `lapped` exactly when that
/// receive reports `Lagged`, `lagging` from more than half the ring behind.
#[test]
fn a_subscriber_is_marked_lapped_exactly_when_its_next_receive_is_lagged() {
    const SLOTS: u64 = 8;
    let name = ShmName::new("marks");
    let options = PublishOptions::default()
        .slots(SLOTS as usize)
        .max_message_len(64);
    let mut publisher = Publisher::create(&name.0, options).unwrap();
    for behind in 0..=2 * SLOTS {
        let mut sub = Subscriber::open(&name.0).unwrap();
        let start = sub.position();
        for seq in start..start + behind {
            publisher.publish(&message(seq)).unwrap();
        }
        let me = info(&publisher, std::process::id()).expect("this subscriber's record");
        assert_eq!((me.position, me.lag), (start, behind));
        assert_eq!(me.lagging, behind > SLOTS / 2, "{behind} behind: {me:?}");
        let lagged = matches!(sub.try_recv(), Err(Error::Lagged { .. }));
        assert_eq!(me.lapped, lagged, "{behind} behind: {me:?}");
        assert_eq!(lagged, behind >= SLOTS, "{behind} behind");
    }
}

/// A lagger's last report, (received, missed), after the line of its first lap if it
/// was lapped.
fn lagger_totals(peer: &mut Peer) -> (u64, u64) {
    let mut line = peer.recv();
    if line.starts_with("lapped ") {
        line = peer.recv();
    }
    line.split_once(' ')
        .map(|(g, m)| (g.parse().unwrap(), m.parse().unwrap()))
        .unwrap_or_else(|| panic!("not a report: {line}"))
}

/// The CPU time this thread has used, in nanoseconds.
fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// A subscriber stopped (SIGSTOP) while it waits in a receive, asleep on the feed's
/// wake-up word and so still counted there as a waiter, never slows the publisher: the
/// publisher's CPU time per message, published as fast as it goes, is at most twice what
/// the same publishing costs on a second feed that nobody reads (the publisher never
/// waits for a subscriber, and a sleeper that cannot take its wake-up costs it no system
/// call per message). The two feeds take turns, 1,000 messages at a time, so that both
/// see the same machine: CPU time is not the clock, but a busy machine still changes
/// it (a neighbour on the same core). The stopped subscriber, continued, accounts for
/// every message (received or told missed).
#[test]
fn a_stopped_subscriber_never_slows_the_publisher() {
    const TURNS: u64 = 40;
    const BATCH: u64 = 1000;
    let name = ShmName::new("unslowed");
    let unread = ShmName::new("unread");
    bounded("a publisher beside a stopped subscriber", || {
        let options = PublishOptions::default().slots(64).max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut alone = Publisher::create(&unread.0, options).unwrap();
        let mut records = SubscriberRecords::default();
        let mut stopped = Peer::spawn("lagger", &[&name.0, "oldest"]);
        records.0.push(stopped.pid());
        assert_eq!(stopped.recv(), "ready 0");
        publish_paced(&mut publisher, 0..10);
        caught_up(&publisher, stopped.pid());
        // Up to date, it waits in a receive: asleep once its spin is over.
        std::thread::sleep(Duration::from_millis(200));
        stopped.stop();
        let mut seq = 10;
        let (mut beside_stopped, mut unread_cost) = (0, 0);
        for turn in 0..=TURNS {
            let messages: Vec<Vec<u8>> = (seq..seq + BATCH).map(message).collect();
            let start = cpu_ns();
            for msg in &messages {
                publisher.publish(msg).unwrap();
            }
            let middle = cpu_ns();
            for msg in &messages {
                alone.publish(msg).unwrap();
            }
            // The first turn warms both rings up.
            if turn > 0 {
                beside_stopped += middle - start;
                unread_cost += cpu_ns() - middle;
            }
            seq += BATCH;
        }
        stopped.resume();
        let per = |ns: u64| ns / (TURNS * BATCH);
        println!(
            "CPU per publish: {} ns beside the stopped subscriber, {} ns on a feed nobody reads",
            per(beside_stopped),
            per(unread_cost)
        );
        assert!(
            beside_stopped <= 2 * unread_cost,
            "{} ns per publish beside a stopped subscriber, {} ns on a feed nobody reads",
            per(beside_stopped),
            per(unread_cost)
        );
        drop(publisher);
        let (got, missed) = lagger_totals(&mut stopped);
        assert_eq!(got + missed, seq, "{got} received + {missed} missed");
        assert!(stopped.finish().success());
    });
}

/// Stops `peer` with SIGSTOP and waits until it is stopped, as `Peer::stop` does, unless
/// it exits first: `false` then.
fn stop_unless_exited(peer: &Peer) -> bool {
    let pid = rustix::process::Pid::from_raw(peer.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", peer.pid())).ok()?;
        // The state follows the command's closing parenthesis.
        stat.rsplit_once(')')?.1.trim_start().chars().next()
    };
    let settled = eventually(WAIT_LIMIT / 2, || matches!(state(), Some('T' | 'Z') | None));
    assert!(settled, "peer {} did not stop", peer.pid());
    state() == Some('T')
}

/// A subscriber reading as fast as it goes, stopped (SIGSTOP) at 200 random moments and
/// continued each time while the publisher goes on unpaced over a ring of 8 slots: a stop
/// lands now and then in the middle of copying a message, which the publisher overwrites
/// before the copy resumes. The subscriber never returns an overwritten or torn message
/// (it checks each one whole against its sequence number), and what it received and was
/// told it missed add up to what was published.
#[test]
fn a_subscriber_stopped_at_random_moments_never_returns_an_overwritten_message() {
    const STOPS: u32 = 200;
    let name = ShmName::new("stopped-often");
    bounded("a subscriber stopped at random", || {
        let options = PublishOptions::default().slots(8).max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut records = SubscriberRecords::default();
        let mut sub = Peer::spawn("lagger", &[&name.0, "oldest", "busy"]);
        records.0.push(sub.pid());
        assert_eq!(sub.recv(), "ready 0");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publishing = std::thread::spawn({
            let done = done.clone();
            move || {
                let mut seq = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    publisher.publish(&message(seq)).unwrap();
                    seq += 1;
                }
                seq // the feed ends with the publisher, here
            }
        });
        let mut rng = u64::from(std::process::id());
        let mut pause = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            Duration::from_micros((rng >> 33) % 2000)
        };
        for _ in 0..STOPS {
            std::thread::sleep(pause());
            if !stop_unless_exited(&sub) {
                break; // it failed a check and exited: its report (below) says why
            }
            std::thread::sleep(pause());
            sub.resume();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let published = publishing.join().unwrap();
        let (got, missed) = lagger_totals(&mut sub);
        println!("{published} published: {got} received, {missed} missed");
        assert_eq!(got + missed, published, "{got} received + {missed} missed");
        assert!(got > 0 && missed > 0, "{got} received, {missed} missed");
        assert!(sub.finish().success());
    });
}
