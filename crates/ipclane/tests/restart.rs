//! Kill everything, restart it, again and again: a server with `shm:` and `unix:`
//! clients and a publisher with subscribers, all real processes on fixed addresses (two
//! socket paths, one feed name), lose a random few of their number to SIGKILL at random
//! times, mid-traffic, every round. Every restart succeeds on the same addresses, messages
//! flow again after each, nothing received is ever torn or out of order, and once the
//! last processes are killed `ipclane gc` leaves `/dev/shm` and the socket directory as
//! they were before.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipclane::segment::SegmentState;
use ipclane::{Error, Options, PublishOptions, Publisher, Subscriber};
use ipclane_testkit::rng::{self, Rng};
use ipclane_testkit::{
    Peer, ShmName, SubscriberRecords, TempDir, WAIT_LIMIT, bounded, listen, say,
};

/// Bytes of each ring of a `shm:` connection: its largest record is under 2 KiB, so the
/// clients' longer messages go in fragments (and a kill can land between two).
const RING: usize = 4096;

/// The clients' longest message.
const MAX_LEN: u64 = 6000;

/// The feed's longest message, and its slots.
const FEED_LEN: usize = 512;
const FEED_SLOTS: usize = 4096;

/// How long a peer may take to get messages flowing again before it says it is stuck.
const STUCK_AFTER: Duration = Duration::from_secs(20);

/// FNV-1a of `bytes`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Message `seq` of the sender `sender` (a process id), `len` bytes of payload: the
/// sender, the sequence number, the payload, then a checksum of all that, so a torn or
/// garbled message is caught wherever it arrives.
fn message(sender: u64, seq: u64, len: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(len as usize + 24);
    msg.extend(sender.to_le_bytes());
    msg.extend(seq.to_le_bytes());
    msg.extend((0..len).map(|k| (seq.wrapping_mul(31).wrapping_add(k)) as u8));
    let sum = fnv(&msg);
    msg.extend(sum.to_le_bytes());
    msg
}

/// The sender and sequence number of an intact message; `None` for a torn one.
fn intact(msg: &[u8]) -> Option<(u64, u64)> {
    let body = msg.len().checked_sub(8)?;
    if body < 16 || fnv(&msg[..body]) != u64::from_le_bytes(msg[body..].try_into().ok()?) {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(msg[at..at + 8].try_into().unwrap());
    Some((word(0), word(8)))
}

/// Ends the peer process at once, saying why: a failure seen on one of its threads
/// (whose panic would end only that thread).
fn fail(what: String) -> ! {
    eprintln!("restart peer {}: {what}", std::process::id());
    std::process::exit(1);
}

/// Whether `e`, on a connection, means the peer is gone: `Disconnected`, on every
/// transport, even when it died in the middle of a message.
fn peer_gone(e: &Error) -> bool {
    matches!(e, Error::Disconnected { .. })
}

/// In a peer: answers each `flowing` line of the test once `progress` has moved by two
/// (so at least one whole exchange began after the question) with `flowing`, or with
/// `stuck` and `why()` after [`STUCK_AFTER`].
fn answer_flowing(progress: &AtomicU64, why: impl Fn() -> String) {
    while let Some(line) = listen() {
        assert_eq!(line, "flowing");
        let from = progress.load(Ordering::Acquire);
        let moved = || progress.load(Ordering::Acquire) >= from + 2;
        let start = Instant::now();
        while !moved() && start.elapsed() < STUCK_AFTER {
            std::thread::sleep(Duration::from_micros(200));
        }
        if moved() {
            say("flowing");
        } else {
            say(format!("stuck: {}", why()));
        }
    }
}

/// In the server: echoes every message of `conn` back after checking it is intact,
/// until its client is gone.
fn echo(mut conn: ipclane::Connection, echoed: &AtomicU64) {
    loop {
        let msg = match conn.recv() {
            Ok(msg) => msg,
            Err(e) if peer_gone(&e) => return,
            Err(e) => fail(format!("server: recv on {}: {e}", conn.url())),
        };
        if intact(&msg).is_none() {
            fail(format!("server: a torn message of {} bytes", msg.len()));
        }
        match conn.send(&msg) {
            Ok(()) => {}
            Err(e) if peer_gone(&e) => return,
            Err(e) => fail(format!("server: send: {e}")),
        }
        echoed.fetch_add(1, Ordering::Relaxed);
    }
}

/// In a client: connects to `url` (again and again while the server is down), then
/// exchanges messages of random sizes until the server is gone; forever.
fn exchange(url: &str, progress: &AtomicU64, last_error: &std::sync::Mutex<String>) {
    let me = u64::from(std::process::id());
    let mut rng = Rng(me);
    let mut seq = 0u64;
    let options = Options::default().handshake_timeout(Duration::from_secs(2));
    loop {
        let mut conn = match options.connect(url) {
            Ok(conn) => conn,
            Err(e) => {
                *last_error.lock().unwrap() = format!("connect: {e}");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        loop {
            let sent = message(me, seq, rng.below(MAX_LEN + 1));
            seq += 1;
            if let Err(e) = conn.send(&sent) {
                if peer_gone(&e) {
                    break;
                }
                fail(format!("client: send on {url}: {e}"));
            }
            match conn.recv() {
                Ok(back) if back == sent => {}
                Ok(back) => fail(format!(
                    "client: sent message {} of {} bytes, got back {:?} of {} bytes",
                    seq - 1,
                    sent.len(),
                    intact(&back),
                    back.len()
                )),
                Err(e) if peer_gone(&e) => break,
                Err(e) => fail(format!("client: recv on {url}: {e}")),
            }
            progress.fetch_add(1, Ordering::Release);
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// In a subscriber: subscribes to `feed` (again whenever its publisher is gone) and
/// checks every message: intact, from one publisher per subscription, each the one after
/// the last (or after the ones it was told it missed); forever.
fn follow(feed: &str, progress: &AtomicU64, last_error: &std::sync::Mutex<String>) {
    loop {
        let mut sub = match Subscriber::open(feed) {
            Ok(sub) => sub,
            // Not there, or a publisher killed while it made it: wait for the next.
            Err(e @ (Error::Segment(_) | Error::Disconnected { .. })) => {
                *last_error.lock().unwrap() = format!("open: {e}");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => fail(format!("subscriber: open {feed}: {e}")),
        };
        let mut next: Option<(u64, u64)> = None;
        loop {
            match sub.recv() {
                Ok(msg) => {
                    let Some((publisher, seq)) = intact(&msg) else {
                        fail(format!("subscriber: a torn message of {} bytes", msg.len()));
                    };
                    if let Some(expected) = next
                        && expected != (publisher, seq)
                    {
                        fail(format!(
                            "subscriber: got message {seq} of publisher {publisher}, \
                             expected {expected:?}"
                        ));
                    }
                    next = Some((publisher, seq + 1));
                    progress.fetch_add(1, Ordering::Release);
                }
                Err(Error::Lagged { missed }) => {
                    if let Some((_, seq)) = &mut next {
                        *seq += missed;
                    }
                }
                Err(Error::Disconnected { .. }) => {
                    *last_error.lock().unwrap() = "publisher gone".into();
                    break;
                }
                Err(e) => fail(format!("subscriber: recv: {e}")),
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Listens on `args[0]` (shm:) and `args[1]` (unix:), says so, echoes every
        // message of every client, and answers each `stats` line with what it echoed.
        "server" => {
            let shm = Options::default()
                .ring_capacity(RING)
                .listen(&args[0])
                .unwrap_or_else(|e| panic!("server: listen again on {}: {e}", args[0]));
            let unix = ipclane::listen(&args[1])
                .unwrap_or_else(|e| panic!("server: listen again on {}: {e}", args[1]));
            let echoed = Arc::new(AtomicU64::new(0));
            for listener in [shm, unix] {
                let echoed = echoed.clone();
                std::thread::spawn(move || {
                    loop {
                        // A client killed in its handshake is refused: the next one.
                        if let Ok(conn) = listener.accept() {
                            let echoed = echoed.clone();
                            std::thread::spawn(move || echo(conn, &echoed));
                        }
                    }
                });
            }
            say("ready");
            while let Some(line) = listen() {
                assert_eq!(line, "stats");
                say(format!("echoed {}", echoed.load(Ordering::Relaxed)));
            }
        }
        // Creates the feed `args[0]` (with a table of `args[1]` latest values, if given),
        // says so, publishes every 200 µs, and answers each `stats` line with how many it
        // published.
        "publisher" => {
            let keys = args.get(1).map_or(0, |k| k.parse().unwrap());
            let options = PublishOptions::default()
                .slots(FEED_SLOTS)
                .max_message_len(FEED_LEN)
                .keys(keys);
            let mut publisher = Publisher::create(&args[0], options)
                .unwrap_or_else(|e| panic!("publisher: create the feed again: {e}"));
            let published = Arc::new(AtomicU64::new(0));
            say("ready");
            let count = published.clone();
            std::thread::spawn(move || {
                let me = u64::from(std::process::id());
                let mut rng = Rng(me);
                for seq in 0.. {
                    let len = rng.below(FEED_LEN as u64 - 24 + 1);
                    publisher.publish(&message(me, seq, len)).unwrap();
                    count.store(seq + 1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            while let Some(line) = listen() {
                assert_eq!(line, "stats");
                say(format!("published {}", published.load(Ordering::Relaxed)));
            }
        }
        // Exchanges messages with the server at `args[0]`, reconnecting whenever it is
        // gone; answers `flowing`.
        "client" => {
            let progress = Arc::new(AtomicU64::new(0));
            let last_error = Arc::new(std::sync::Mutex::new(String::new()));
            let (url, p, e) = (args[0].clone(), progress.clone(), last_error.clone());
            std::thread::spawn(move || exchange(&url, &p, &e));
            answer_flowing(&progress, || last_error.lock().unwrap().clone());
        }
        // Follows the feed `args[0]`, subscribing again whenever its publisher is gone;
        // answers `flowing`.
        "subscriber" => {
            let progress = Arc::new(AtomicU64::new(0));
            let last_error = Arc::new(std::sync::Mutex::new(String::new()));
            let (feed, p, e) = (args[0].clone(), progress.clone(), last_error.clone());
            std::thread::spawn(move || follow(&feed, &p, &e));
            answer_flowing(&progress, || last_error.lock().unwrap().clone());
        }
        // Does the first half of what `Publisher::create` does, making the feed
        // `args[0]`, and says so: a publisher stopped before it attached as the writer.
        "half publisher" => {
            let _feed = ipclane::queue::Broadcast::create_named(&args[0], 64, 64).unwrap();
            say("made");
            ipclane_testkit::hold();
        }
        other => panic!("unknown role {other}"),
    });
}

/// What each of the test's processes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    ShmClient,
    UnixClient,
    Publisher,
    Subscriber,
}

/// The test's processes: a server with two clients on each of its addresses, and a
/// publisher with two subscribers.
const ROLES: [Role; 8] = [
    Role::Server,
    Role::ShmClient,
    Role::ShmClient,
    Role::UnixClient,
    Role::UnixClient,
    Role::Publisher,
    Role::Subscriber,
    Role::Subscriber,
];

/// The processes of the test, one per entry of [`ROLES`], on the test's fixed
/// addresses.
struct Cast {
    shm_url: String,
    unix_url: String,
    feed: String,
    peers: Vec<Peer>,
    /// Every peer's pid, ever: what in `/dev/shm` may be theirs.
    pids: Vec<u32>,
    /// Cleans up the subscriber records of every peer, whatever happens.
    records: SubscriberRecords,
}

impl Cast {
    /// Starts the process `ROLES[index]`.
    fn spawn(&mut self, index: usize) -> Peer {
        let peer = match ROLES[index] {
            Role::Server => Peer::spawn("server", &[&self.shm_url, &self.unix_url]),
            Role::ShmClient => Peer::spawn("client", &[&self.shm_url]),
            Role::UnixClient => Peer::spawn("client", &[&self.unix_url]),
            Role::Publisher => Peer::spawn("publisher", &[&self.feed]),
            Role::Subscriber => Peer::spawn("subscriber", &[&self.feed]),
        };
        self.pids.push(peer.pid());
        self.records.0.push(peer.pid());
        peer
    }

    /// Starts the processes `which` (indices into [`ROLES`]) again, all at once; when
    /// `rng` says so, kills one of them again 0-40 ms after its start (in its start-up:
    /// before, while or after it listens, creates the feed, connects or subscribes) and
    /// starts it once more. Then waits until the server and publisher among them say they
    /// are up on their addresses.
    fn restart(&mut self, which: &[usize], rng: &mut Rng) {
        for &i in which {
            self.peers[i] = self.spawn(i);
        }
        if rng.below(3) == 0 {
            let i = which[rng.below(which.len() as u64) as usize];
            std::thread::sleep(Duration::from_micros(rng.below(40_000)));
            self.peers[i].kill();
            self.peers[i] = self.spawn(i);
        }
        for &i in which {
            if matches!(ROLES[i], Role::Server | Role::Publisher) {
                assert_eq!(self.peers[i].recv(), "ready", "{:?} restarted", ROLES[i]);
            }
        }
    }

    /// Checks that messages flow to and from every peer: each client completes exchanges
    /// with the server and each subscriber receives, after the question; the server and
    /// the publisher are still there.
    fn check_flowing(&mut self, round: u64) {
        let (workers, owners): (Vec<usize>, Vec<usize>) =
            (0..ROLES.len()).partition(|&i| !matches!(ROLES[i], Role::Server | Role::Publisher));
        for &i in &workers {
            self.peers[i].send("flowing");
        }
        for &i in &workers {
            assert_eq!(
                self.peers[i].recv(),
                "flowing",
                "round {round}: {:?} (pid {})",
                ROLES[i],
                self.peers[i].pid()
            );
        }
        for &i in &owners {
            self.peers[i].send("stats");
            let line = self.peers[i].recv();
            assert!(
                line.starts_with("echoed ") || line.starts_with("published "),
                "round {round}: {:?}: {line}",
                ROLES[i]
            );
        }
    }
}

/// The `/dev/shm` entries (`ipclane.` names) that the processes `pids` or the feed
/// `feed` may have made, among `names`, given the names of the test's listener records.
fn ours(
    names: &BTreeSet<String>,
    feed: &str,
    listeners: &BTreeSet<String>,
    pids: &[u32],
) -> BTreeSet<String> {
    names
        .iter()
        .filter(|name| {
            *name == feed
                || name.starts_with(&format!("{feed}."))
                || listeners.contains(*name)
                || pids
                    .iter()
                    .any(|pid| name.starts_with(&format!("subscriber-{pid}-")))
        })
        .cloned()
        .collect()
}

/// Every `ipclane.*` name in `/dev/shm`.
fn shm_names() -> BTreeSet<String> {
    ipclane::segment::list()
        .unwrap()
        .into_iter()
        .map(|info| info.name)
        .collect()
}

/// The names of the listener records that announce `urls`.
fn listener_records(urls: &[&str]) -> BTreeSet<String> {
    ipclane::segment::list()
        .unwrap()
        .into_iter()
        .filter(|info| {
            matches!(&info.state, SegmentState::Ready { kind, .. } if *kind == ipclane::LISTENER_KIND)
        })
        .filter(|info| {
            ipclane::segment::Segment::named(&info.name)
                .kind(ipclane::LISTENER_KIND)
                .open()
                .ok()
                .and_then(|record| ipclane::announced_url(&record))
                .is_some_and(|url| urls.contains(&url.as_str()))
        })
        .map(|info| info.name)
        .collect()
}

/// What the socket directory holds.
fn dir_entries(dir: &TempDir) -> BTreeSet<String> {
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `rounds` rounds of: SIGKILL 2 to 4 of the eight processes ([`ROLES`]), at random
/// moments 0-5 ms apart while messages flow, start them again on the same addresses (the
/// server's listen and the publisher's create must succeed at once; one round in three
/// kills one of them again in its start-up), and check that every client and subscriber
/// gets messages again. Then everything is killed, `ipclane gc` runs, and nothing the
/// test's processes made is left in `/dev/shm` (the feed, its listener records, its
/// subscribers' records) or the socket directory.
fn kill_everything_and_restart(rounds: u64) {
    let seed = rng::seed("IPCLANE_RESTART_SEED", "restart");
    let mut rng = Rng(seed);
    let dir = TempDir::new("restart");
    let feed = ShmName::new("restart");
    let shm_before = shm_names();
    let dir_before = dir_entries(&dir);
    let mut cast = Cast {
        shm_url: format!("shm://{}", dir.path().join("shm.sock").display()),
        unix_url: format!("unix://{}", dir.path().join("unix.sock").display()),
        feed: feed.0.clone(),
        peers: Vec::new(),
        pids: Vec::new(),
        records: SubscriberRecords::default(),
    };
    let _deadline = ipclane_testkit::Deadline::new(
        WAIT_LIMIT + Duration::from_millis(200) * rounds as u32,
        "the kill-and-restart rounds",
    );
    let peers = (0..ROLES.len()).map(|i| cast.spawn(i)).collect();
    cast.peers = peers;
    for (peer, role) in cast.peers.iter_mut().zip(ROLES) {
        if matches!(role, Role::Server | Role::Publisher) {
            assert_eq!(peer.recv(), "ready", "{role:?}");
        }
    }
    cast.check_flowing(0);
    let listeners = listener_records(&[&cast.shm_url, &cast.unix_url]);
    assert_eq!(listeners.len(), 2, "the server's two listener records");

    let start = Instant::now();
    for round in 1..=rounds {
        let mut victims: Vec<usize> = (0..ROLES.len()).collect();
        // A random 2 to 4 of them, in random order.
        for i in (1..victims.len()).rev() {
            victims.swap(i, rng.below(i as u64 + 1) as usize);
        }
        victims.truncate(2 + rng.below(3) as usize);
        for &i in &victims {
            std::thread::sleep(Duration::from_micros(rng.below(5000)));
            cast.peers[i].kill();
        }
        cast.restart(&victims, &mut rng);
        cast.check_flowing(round);
    }
    println!(
        "{rounds} rounds in {:?}, {} processes started",
        start.elapsed(),
        cast.pids.len()
    );

    // The end: the last processes killed too, what they left, then `ipclane gc`.
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    for peer in &mut cast.peers {
        peer.kill();
    }
    let left = ours(&shm_names(), &feed.0, &listeners, &cast.pids);
    assert!(
        left.contains(&feed.0),
        "a killed publisher leaves its feed: {left:?}"
    );
    // The socket files of the killed server stay: a listener on each address takes
    // its file (and its record) over, as the next server would, and removes both.
    for url in [&cast.shm_url, &cast.unix_url] {
        drop(ipclane::listen(url).unwrap_or_else(|e| panic!("listen again on {url}: {e}")));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ipclane"))
        .args(["gc", "--json"])
        .output()
        .expect("run ipclane gc");
    assert!(
        out.status.success(),
        "ipclane gc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed: BTreeSet<String> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    assert!(removed.contains(&feed.0), "{report}");
    println!(
        "left by the killed processes: {}; gc removed {} of them",
        left.len(),
        left.intersection(&removed).count()
    );
    // Compared by name with what was there before the test (normally none of these: an
    // entry of a dead process whose pid a peer reused is the only way), so that entries
    // of other tests running at the same time never count.
    let before = ours(&shm_before, &feed.0, &listeners, &cast.pids);
    let after = ours(&shm_names(), &feed.0, &listeners, &cast.pids);
    let new: Vec<&String> = after.difference(&before).collect();
    assert!(
        new.is_empty(),
        "/dev/shm: left by the test's processes after gc: {new:?} (gc: {report})"
    );
    assert_eq!(dir_entries(&dir), dir_before, "the socket directory");
}

/// 200 rounds of kill-and-restart (see [`kill_everything_and_restart`]): a server with
/// two `shm:` and two `unix:` clients, a publisher with two subscribers, eight processes
/// of which 2 to 4 are SIGKILLed and started again each round. Built as rounds of a few
/// process starts (10-50 ms each) so that 200 of them take seconds; the clients and
/// subscribers reconnect and resubscribe by themselves, as real ones would.
#[test]
fn killed_processes_restart_on_their_addresses_and_leave_nothing_behind() {
    kill_everything_and_restart(200);
}

/// The same for `IPCLANE_RESTART_ROUNDS` rounds (default 5000).
#[test]
#[ignore = "long: IPCLANE_RESTART_ROUNDS rounds of kill-and-restart (default 5000)"]
fn killed_processes_restart_on_their_addresses_and_leave_nothing_behind_long() {
    let rounds = std::env::var("IPCLANE_RESTART_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5000);
    kill_everything_and_restart(rounds);
}

/// A publisher killed leaves its feed (and its table of latest values) in `/dev/shm`;
/// the next publisher on the name takes both over, without a `gc` first, and its
/// subscribers get its messages. A live publisher's feed is never taken: a second
/// publisher on its name is `AlreadyExists`, and the first goes on.
#[test]
fn a_killed_publishers_feed_is_taken_over_by_the_next_but_a_live_ones_never() {
    let feed = ShmName::new("takeover");
    let table = ShmName(format!("{}.last", feed.0));
    bounded("take a feed over", || {
        let mut killed = Peer::spawn("publisher", &[&feed.0, "4"]);
        assert_eq!(killed.recv(), "ready");
        let mut old = Subscriber::open(&feed.0).unwrap();
        assert!(intact(&old.recv().unwrap()).is_some());
        killed.kill();
        loop {
            match old.recv() {
                Ok(_) => {}
                Err(Error::Disconnected { .. }) => break,
                Err(e) => panic!("a subscriber of the killed publisher: {e}"),
            }
        }
        for name in [&feed.0, &table.0] {
            let path = format!("/dev/shm/ipclane.{name}");
            assert!(std::path::Path::new(&path).exists(), "{path} left");
        }

        let options = PublishOptions::default()
            .slots(8)
            .max_message_len(64)
            .keys(4);
        let mut publisher = Publisher::create(&feed.0, options)
            .unwrap_or_else(|e| panic!("a killed publisher's feed taken over: {e}"));
        let mut new = Subscriber::open(&feed.0).unwrap();
        publisher.publish_keyed(1, b"after the crash").unwrap();
        assert_eq!(new.recv().unwrap(), &b"after the crash"[..]);
        assert_eq!(
            new.latest_for(1).unwrap().map(|(_, v)| v).as_deref(),
            Some(&b"after the crash"[..]),
            "the table taken over too"
        );

        let second = Publisher::create(&feed.0, options);
        assert!(
            matches!(
                second,
                Err(Error::Segment(
                    ipclane::segment::SegmentError::AlreadyExists { .. }
                ))
            ),
            "a live feed taken: {second:?}"
        );
        publisher.publish_keyed(2, b"still mine").unwrap();
        assert_eq!(new.recv().unwrap(), &b"still mine"[..]);
    });
}

/// A publisher makes its feed, then attaches as its writer; one killed in between
/// (simulated with the queue layer: a feed made and never written) leaves a ring whose
/// writer never comes. Its subscribers are told the publisher is gone, like those of any
/// killed publisher, rather than wait for ever: one that was opening when it died, and one
/// that opens after.
#[test]
fn subscribers_of_a_publisher_killed_before_it_could_write_are_told_it_is_gone() {
    let feed = ShmName::new("half");
    bounded("a half-made feed", || {
        let mut half = Peer::spawn("half publisher", &[&feed.0]);
        assert_eq!(half.recv(), "made");
        let waiting = std::thread::spawn({
            let feed = feed.0.clone();
            move || {
                let mut sub = Subscriber::open(&feed)?;
                sub.recv_timeout(Duration::from_secs(10)).map(drop)
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        half.kill();
        let result = waiting.join().unwrap();
        assert!(
            matches!(result, Err(Error::Disconnected { .. })),
            "opening while it died: {result:?}"
        );
        let result = Subscriber::open(&feed.0)
            .and_then(|mut sub| sub.recv_timeout(Duration::from_secs(10)).map(drop));
        assert!(
            matches!(result, Err(Error::Disconnected { .. })),
            "opening after: {result:?}"
        );
    });
}
