//! Crash and fault, each at many random kill points, on every transport (`unix:`,
//! `seqpacket:`, `tcp:`, `shm:`) and on pub/sub:
//!
//! - a sender SIGKILLed mid-stream leaves its receiver every message whose `send` had
//!   returned, exactly once, in order, never a part of one, then `Disconnected`;
//! - a sender killed inside a message larger than the transport holds (on shared memory,
//!   one carried in fragments) never has any part of that message delivered;
//! - a publisher killed mid-stream leaves each subscriber every record, in order, then
//!   `Disconnected`;
//! - a sender blocked on a full ring or socket gets `Disconnected` once its receiver is
//!   killed, and used little CPU while it waited.
//!
//! Messages carry their sequence number and a checksum over contents of a random length,
//! and the receiver checks each. The kill points come from a seed printed by each test;
//! `IPCLANE_CRASH_SEED=<seed>` repeats a run, `IPCLANE_CRASH_ROUNDS=<n>` runs more rounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipclane::queue::SpscRing;
use ipclane::{Error, Listener, Options, PublishOptions, Publisher, Receiver, Start, Subscriber};
use ipclane_testkit::rng::{self, Rng, mix};
use ipclane_testkit::{
    Peer, ShmName, SubscriberRecords, TempDir, bounded, hold, listen as next_line, say,
};

const SCHEMES: [&str; 4] = ["unix", "seqpacket", "tcp", "shm"];

/// How long a receiver may take to report a dead peer `Disconnected`, after the kill:
/// generous (the liveness period is 10 ms on shared memory, the kernel's close immediate
/// on sockets; draining what the peer sent comes before), for a loaded 2-vCPU machine.
const DISCONNECT_BOUND: Duration = Duration::from_secs(5);

/// The messages a sender peer sends at most before it holds (the kill comes earlier).
const SENDER_LIMIT: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------
// Randomness and messages

/// The run's seed (see [`rng::seed`]).
fn seed(test: &str) -> u64 {
    rng::seed("IPCLANE_CRASH_SEED", test)
}

/// Rounds per transport: `IPCLANE_CRASH_ROUNDS`, else `default`.
fn rounds(default: u32) -> u32 {
    std::env::var("IPCLANE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Bytes before a message's contents: its sequence number and the checksum.
const HEADER: usize = 16;

/// What a sender sends: message `seq` is its sequence number, a checksum of the number
/// and the contents, then contents of a length and bytes drawn from the seed and `seq`,
/// so that the receiver knows what each message must be. Lengths are `0..=small_max`
/// before message `big_from`, `big_min..=big_max` from it on.
#[derive(Debug, Clone, Copy)]
struct Stream {
    seed: u64,
    small_max: usize,
    big_from: u64,
    big_min: usize,
    big_max: usize,
}

impl Stream {
    /// Messages of `0..=max` bytes.
    fn new(seed: u64, max: usize) -> Self {
        Self {
            seed,
            small_max: max,
            big_from: u64::MAX,
            big_min: 0,
            big_max: 0,
        }
    }

    /// Its description, a peer's argument.
    fn arg(&self) -> String {
        let Self {
            seed,
            small_max,
            big_from,
            big_min,
            big_max,
        } = self;
        format!("{seed} {small_max} {big_from} {big_min} {big_max}")
    }

    fn from_arg(arg: &str) -> Self {
        let n: Vec<u64> = arg
            .split(' ')
            .map(|n| n.parse().expect("a number"))
            .collect();
        Self {
            seed: n[0],
            small_max: n[1] as usize,
            big_from: n[2],
            big_min: n[3] as usize,
            big_max: n[4] as usize,
        }
    }

    /// Length of the contents of message `seq`.
    fn len(&self, seq: u64) -> usize {
        let r = mix(self.seed ^ mix(seq.wrapping_add(1))) as usize;
        if seq >= self.big_from {
            self.big_min + r % (self.big_max - self.big_min + 1)
        } else {
            r % (self.small_max + 1)
        }
    }

    fn message(&self, seq: u64) -> Vec<u8> {
        let len = self.len(seq);
        let mut rng = Rng(self.seed ^ seq.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut msg = Vec::with_capacity(HEADER + len + 8);
        msg.extend_from_slice(&seq.to_le_bytes());
        msg.extend_from_slice(&[0; 8]);
        while msg.len() < HEADER + len {
            msg.extend_from_slice(&rng.next().to_le_bytes());
        }
        msg.truncate(HEADER + len);
        let sum = checksum(seq, &msg[HEADER..]);
        msg[8..HEADER].copy_from_slice(&sum.to_le_bytes());
        msg
    }

    /// Checks that `msg` is message `expected`, whole: `Err` says how it is not.
    fn check(&self, msg: &[u8], expected: u64) -> Result<(), String> {
        if msg.len() < HEADER {
            return Err(format!(
                "message {expected}: {} bytes, shorter than its header (torn)",
                msg.len()
            ));
        }
        let seq = u64::from_le_bytes(msg[..8].try_into().expect("8 bytes"));
        if seq != expected {
            return Err(format!(
                "expected message {expected}, got message {seq} (lost, duplicated or reordered)"
            ));
        }
        let len = msg.len() - HEADER;
        if len != self.len(seq) {
            return Err(format!(
                "message {seq}: {len} bytes of contents, sent with {} (partial or torn)",
                self.len(seq)
            ));
        }
        let sum = u64::from_le_bytes(msg[8..HEADER].try_into().expect("8 bytes"));
        if sum != checksum(seq, &msg[HEADER..]) {
            return Err(format!(
                "message {seq}: its checksum fails (contents changed)"
            ));
        }
        Ok(())
    }
}

/// FNV-1a over the sequence number and the contents, a 64-bit word at a time (messages
/// of tens of MiB are checked in debug builds), then the bytes left.
fn checksum(seq: u64, contents: &[u8]) -> u64 {
    let step = |h: u64, v: u64| (h ^ v).wrapping_mul(0x0100_0000_01b3);
    let words = contents.chunks_exact(8);
    let tail = words.remainder();
    let h = words.fold(step(0xcbf2_9ce4_8422_2325, seq), |h, w| {
        step(h, u64::from_le_bytes(w.try_into().expect("8 bytes")))
    });
    tail.iter().fold(h, |h, &b| step(h, u64::from(b)))
}

/// The shared monotonic clock, in ns: the same in every process, so a subscriber's
/// reading can be set against the test's.
fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Spins for `us` microseconds: a kill point finer than a sleep's.
fn spin_for(us: u64) {
    let until = Instant::now() + Duration::from_micros(us);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------
// Peers

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Connects to `args[0]` with messages of up to `args[1]` bytes and sends the
        // stream `args[2]`, saying `sent N` once message N's send returned (and, from the
        // stream's first large message on, `sending N` before it starts).
        "sender" => {
            let stream = Stream::from_arg(&args[2]);
            let mut conn = Options::default()
                .max_message_len(args[1].parse().unwrap())
                .connect(&args[0])
                .unwrap();
            for seq in 0..SENDER_LIMIT {
                let msg = stream.message(seq);
                if seq >= stream.big_from {
                    say(format!("sending {seq}"));
                }
                conn.send(&msg)
                    .unwrap_or_else(|e| panic!("sender: message {seq}: {e}"));
                say(format!("sent {seq}"));
            }
            hold();
        }
        // Connects to `args[0]` and reads nothing.
        "holder" => {
            let _conn = ipclane::connect(&args[0]).unwrap();
            say("connected");
            hold();
        }
        // Creates the feed `args[0]` of `args[1]` slots, waits for `go`, then publishes
        // `args[2]` messages of the stream `args[3]`, saying `published N` after each.
        "publisher" => {
            let slots: usize = args[1].parse().unwrap();
            let count: u64 = args[2].parse().unwrap();
            let stream = Stream::from_arg(&args[3]);
            let options = PublishOptions::default()
                .slots(slots)
                .max_message_len(HEADER + stream.small_max);
            let mut publisher = Publisher::create(&args[0], options).unwrap();
            say("ready");
            assert_eq!(next_line().as_deref(), Some("go"));
            for seq in 0..count {
                publisher.publish(&stream.message(seq)).unwrap();
                say(format!("published {seq}"));
            }
            hold();
        }
        // Subscribes to `args[0]` from its oldest message, reads the stream `args[1]`
        // to its end checking each message (`args[2]` `slow`: napping 1 ms every 64
        // messages, so that it is behind when the publisher dies), and says `got N at T`
        // (T: when it saw `Disconnected`, on the shared monotonic clock).
        "subscriber" => {
            let stream = Stream::from_arg(&args[1]);
            let slow = args[2] == "slow";
            let mut sub = Subscriber::open_at(&args[0], Start::Oldest).unwrap();
            say("ready");
            let mut got = 0u64;
            loop {
                match sub.recv() {
                    Ok(msg) => {
                        if let Err(why) = stream.check(&msg, got) {
                            panic!("subscriber: {why}");
                        }
                        got += 1;
                        if slow && got.is_multiple_of(64) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("subscriber: after {got} messages: {e}"),
                }
            }
            say(format!("got {got} at {}", mono_ns()));
        }
        other => panic!("unknown role {other}"),
    });
}

/// A listener on a fresh address of `scheme` (socket files under `dir`), and its URL.
fn listen(scheme: &str, dir: &TempDir, options: &Options) -> (Listener, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let url = match scheme {
        "tcp" => "tcp://127.0.0.1:0".to_owned(),
        other => format!(
            "{other}://{}",
            dir.path().join(format!("{other}-{n}.sock")).display()
        ),
    };
    let listener = options
        .listen(&url)
        .unwrap_or_else(|e| panic!("{scheme}: listen: {e}"));
    let url = listener.url().to_string();
    (listener, url)
}

/// The number in a peer's line `<word> N`.
fn counted(line: &str, word: &str) -> u64 {
    line.strip_prefix(word)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected `{word} N`, got {line:?}"))
}

/// Receives and checks the stream until the peer is gone: the messages received and when
/// `Disconnected` came, or what went wrong. A `slow` receiver naps after each message, so
/// that the ring or socket is full of messages when the sender dies.
fn receive_until_gone(
    rx: &mut Receiver,
    stream: Stream,
    slow: bool,
) -> Result<(u64, Instant), String> {
    let mut got = 0u64;
    loop {
        match rx.recv() {
            Ok(msg) => {
                stream.check(&msg, got)?;
                got += 1;
                if slow {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
            Err(Error::Disconnected { .. }) => return Ok((got, Instant::now())),
            Err(e) => return Err(format!("after {got} messages: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A sender killed mid-stream

/// A sender process SIGKILLed mid-stream, at a random message and a random instant after
/// it (16 rounds per transport by default), leaves its receiver every message whose
/// `send` had returned, exactly once and in order, each whole (its length and checksum
/// match what the seed says was sent), then `Disconnected` within [`DISCONNECT_BOUND`]
/// of the kill.
///
/// The sender says `sent N` after each send returns; the test kills it a random
/// 0-500 µs after reading the line for a random N, so the receiver must have at least
/// N + 1 messages. The receiver runs on its own thread and keeps reading, so the kill
/// finds the sender in any part of a send; every other round it naps after each message,
/// so the sender is mostly blocked on a full ring (of 256 KiB) or socket and dies with
/// dozens of messages still to be taken (a receiver that stopped at the death, not at the last message, fails
/// here). On `shm:` the ring is 4 KiB in the other rounds, with messages up to 6000
/// bytes, so many of them are carried in fragments and a kill often lands between two.
#[test]
fn a_sender_killed_mid_stream_leaves_every_sent_message_once_in_order_then_disconnected() {
    let seed = seed("killed sender");
    let mut rng = Rng(seed);
    let dir = TempDir::new("crash-sender");
    for scheme in SCHEMES {
        let (mut received, mut slowest) = (0u64, Duration::ZERO);
        let rounds = rounds(16);
        for round in 0..rounds {
            let stream = Stream::new(rng.next(), 6000);
            let target = rng.below(2000);
            let delay_us = rng.below(500);
            // Every other round the receiver is slow: the sender, blocked on the full ring
            // or socket, dies with many messages still to be taken (a ring of 256 KiB
            // holds dozens; one of 4 KiB, for fragments, barely one).
            let slow = round % 2 == 1;
            let options = Options::default().ring_capacity(if slow { 256 << 10 } else { 4096 });
            let what = format!(
                "{scheme} round {round}{} (seed {seed})",
                if slow { ", a slow receiver" } else { "" }
            );
            bounded(&what, || {
                let (listener, url) = listen(scheme, &dir, &options);
                let max = ipclane::DEFAULT_MAX_MESSAGE_LEN.to_string();
                let mut peer = Peer::spawn("sender", &[&url, &max, &stream.arg()]);
                let (_tx, mut rx) = listener
                    .accept()
                    .unwrap_or_else(|e| panic!("{what}: accept: {e}"))
                    .split();
                let receiving =
                    std::thread::spawn(move || receive_until_gone(&mut rx, stream, slow));
                let sent = loop {
                    let n = counted(&peer.recv(), "sent");
                    if n >= target {
                        break n + 1;
                    }
                };
                spin_for(delay_us);
                let killed = Instant::now();
                peer.kill();
                let (got, at) = receiving
                    .join()
                    .unwrap()
                    .unwrap_or_else(|why| panic!("{what}: {why}"));
                assert!(
                    got >= sent,
                    "{what}: {got} messages received, but {sent} sends had returned"
                );
                let took = at.saturating_duration_since(killed);
                assert!(
                    took <= DISCONNECT_BOUND,
                    "{what}: Disconnected {took:?} after the kill"
                );
                received += got;
                slowest = slowest.max(took);
            });
        }
        println!(
            "{scheme}: {rounds} senders killed, {received} messages received whole and in \
             order; Disconnected at most {slowest:?} after a kill"
        );
    }
}

/// A sender killed inside a message larger than the transport holds never has any part
/// of it delivered, on every transport: the receiver gets every message before it, then
/// `Disconnected` within [`DISCONNECT_BOUND`] (and stays so).
///
/// From message K on (random, 0-19; 0-3 on `tcp:`) the messages are larger than what
/// the transport can hold in flight: on `shm:`, with a 4 KiB ring (records of at most
/// `SpscRing::max_record_len(4096)` bytes, so these are fragments), 3-6 ring sizes; on
/// `unix:` and `seqpacket:`, whose in-flight bytes the sender's 208 KiB buffer bounds,
/// 2-4 MiB; on `tcp:`, 40-48 MiB, over the largest send and receive buffers the kernel
/// allows here (4 MiB and 32 MiB: net.ipv4.tcp_wmem and tcp_rmem). The messages before
/// K are of up to 6000 bytes (on `shm:`, also 3-6 ring sizes). The receiver takes
/// messages 0..K and stops reading; the sender says `sending K` once message K is made,
/// and is killed a random 1-5 ms later: message K cannot all be in flight, so the sender
/// is then inside it, writing or blocked on the full ring or socket. Half of the rounds first stop the sender (SIGSTOP) and let a
/// `recv_timeout` take what of message K had arrived, so that part sits in the
/// receiver's reassembly (or frame buffer) when the sender dies, instead of in the ring
/// or socket. (On `unix:` and `tcp:` the receiver used to get `Error::Uds(Truncated)`
/// here, the codec's error for a stream that ends inside a frame, where the other
/// transports say `Disconnected`; `stream.rs` now maps it.)
#[test]
fn a_sender_killed_inside_a_message_larger_than_the_transport_holds_never_delivers_part_of_it() {
    const RING: usize = 4096;
    const MAX: usize = 64 << 20;
    let seed = seed("killed inside a message");
    let mut rng = Rng(seed);
    let dir = TempDir::new("crash-inside");
    let options = Options::default().ring_capacity(RING).max_message_len(MAX);
    assert!(3 * RING > 2 * SpscRing::max_record_len(RING), "fragments");
    for scheme in SCHEMES {
        let (rounds, first, small_max, big_min, big_max) = match scheme {
            "shm" => (rounds(16), 20, 6 * RING, 3 * RING, 6 * RING),
            "tcp" => (rounds(16).div_ceil(4), 4, 6000, 40 << 20, 48 << 20),
            _ => (rounds(16).div_ceil(2), 20, 6000, 2 << 20, 4 << 20),
        };
        let mut slowest = Duration::ZERO;
        for round in 0..rounds {
            let big_from = rng.below(first);
            let stream = Stream {
                seed: rng.next(),
                small_max,
                big_from,
                big_min,
                big_max,
            };
            let delay_us = 1000 + rng.below(4000);
            let drain_first = round % 2 == 1;
            let what = format!(
                "{scheme} round {round} (seed {seed}): killed inside message {big_from} of {} \
                 bytes{}",
                HEADER + stream.len(big_from),
                if drain_first {
                    ", what arrived of it taken first"
                } else {
                    ""
                }
            );
            bounded(&what, || {
                let (listener, url) = listen(scheme, &dir, &options);
                let mut peer = Peer::spawn("sender", &[&url, &MAX.to_string(), &stream.arg()]);
                let mut conn = listener
                    .accept()
                    .unwrap_or_else(|e| panic!("{what}: accept: {e}"));
                let rx = conn.receiver();
                for seq in 0..big_from {
                    let msg = rx
                        .recv()
                        .unwrap_or_else(|e| panic!("{what}: message {seq}: {e}"));
                    stream
                        .check(&msg, seq)
                        .unwrap_or_else(|why| panic!("{what}: {why}"));
                }
                let sending = format!("sending {big_from}");
                while peer.recv() != sending {}
                std::thread::sleep(Duration::from_micros(delay_us));
                if drain_first {
                    peer.stop();
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Err(Error::Timeout { .. }) => {}
                        other => panic!("{what}: with the sender stopped inside it: {other:?}"),
                    }
                }
                let killed = Instant::now();
                peer.kill();
                match rx.recv() {
                    Err(Error::Disconnected { .. }) => {}
                    Ok(msg) => panic!(
                        "{what}: delivered {} bytes after the kill: {}",
                        msg.len(),
                        stream
                            .check(&msg, big_from)
                            .err()
                            .unwrap_or_else(|| "the whole message, still being sent".into())
                    ),
                    Err(e) => panic!("{what}: not Disconnected but {e:?}"),
                }
                let took = killed.elapsed();
                assert!(
                    took <= DISCONNECT_BOUND,
                    "{what}: Disconnected {took:?} after the kill"
                );
                slowest = slowest.max(took);
                assert!(
                    matches!(rx.try_recv(), Err(Error::Disconnected { .. })),
                    "{what}: try_recv after the end"
                );
                assert!(
                    matches!(rx.recv(), Err(Error::Disconnected { .. })),
                    "{what}: recv after the end"
                );
            });
        }
        println!(
            "{scheme}: {rounds} senders killed inside a message larger than the transport \
             holds, none of it delivered; Disconnected at most {slowest:?} after a kill"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A publisher killed mid-stream

/// A publisher process SIGKILLed mid-stream, at a random message and a random instant
/// after it (12 rounds by default), leaves each of its two subscriber processes every
/// record it had published, whole and in order, then `Disconnected` within
/// [`DISCONNECT_BOUND`] of the kill.
///
/// The publisher never waits for its subscribers, so it publishes fewer messages than its
/// ring holds: no subscriber can be lapped, and each must have every one, at least the
/// N + 1 of the last `published N` the test read before the kill (a random N of up to
/// 4000, then a random 0-500 µs). One subscriber keeps up; the other naps, so it is
/// behind when the publisher dies and must still read the rest.
#[test]
fn a_publisher_killed_mid_stream_leaves_subscribers_every_record_in_order_then_disconnected() {
    const SLOTS: usize = 8192;
    const COUNT: u64 = 6000;
    let seed = seed("killed publisher");
    let mut rng = Rng(seed);
    let rounds = rounds(12);
    let (mut received, mut slowest) = (0u64, Duration::ZERO);
    for round in 0..rounds {
        let stream = Stream::new(rng.next(), 240);
        let target = rng.below(4000);
        let delay_us = rng.below(500);
        let what = format!("round {round} (seed {seed})");
        let name = ShmName::new("crash-feed");
        let mut records = SubscriberRecords::default();
        bounded(&what, || {
            let (slots, count) = (SLOTS.to_string(), COUNT.to_string());
            let mut publisher = Peer::spawn("publisher", &[&name.0, &slots, &count, &stream.arg()]);
            assert_eq!(publisher.recv(), "ready");
            let mut subscribers: Vec<Peer> = ["fast", "slow"]
                .into_iter()
                .map(|pace| {
                    let peer = Peer::spawn("subscriber", &[&name.0, &stream.arg(), pace]);
                    records.0.push(peer.pid());
                    peer
                })
                .collect();
            for sub in &mut subscribers {
                assert_eq!(sub.recv(), "ready", "{what}");
            }
            publisher.send("go");
            let published = loop {
                let n = counted(&publisher.recv(), "published");
                if n >= target {
                    break n + 1;
                }
            };
            spin_for(delay_us);
            let killed = mono_ns();
            publisher.kill();
            for (i, mut sub) in subscribers.into_iter().enumerate() {
                let line = sub.recv();
                let (got, at) = line
                    .strip_prefix("got ")
                    .and_then(|rest| rest.split_once(" at "))
                    .and_then(|(got, at)| Some((got.parse::<u64>().ok()?, at.parse::<u64>().ok()?)))
                    .unwrap_or_else(|| panic!("{what}: subscriber {i} said {line:?}"));
                assert!(
                    (published..=COUNT).contains(&got),
                    "{what}: subscriber {i} got {got} messages; {published} were published \
                     before the kill, {COUNT} at most"
                );
                let took = Duration::from_nanos(at.saturating_sub(killed));
                assert!(
                    took <= DISCONNECT_BOUND,
                    "{what}: subscriber {i} Disconnected {took:?} after the kill"
                );
                assert!(sub.finish().success(), "{what}: subscriber {i}");
                received += got;
                slowest = slowest.max(took);
            }
        });
    }
    println!(
        "pub/sub: {rounds} publishers killed, {received} records received whole and in \
         order by their subscribers; Disconnected at most {slowest:?} after a kill"
    );
}

// ---------------------------------------------------------------------------------------
// A receiver killed under a blocked sender

/// A sender blocked in `send` on a full ring or socket gets `Disconnected` within
/// [`DISCONNECT_BOUND`] of its receiver process being SIGKILLed, on every transport, and
/// used under 30% of a CPU while it waited: the wait sleeps, it does not spin.
///
/// The receiver connects and reads nothing; the test fills the transport with
/// `try_send` until it is full (until a socket no longer polls writable: it may still
/// take some more), then a thread calls `send` with a 4 MiB message (on `shm:`, with a
/// 16 KiB ring: fragments) and stays blocked a random 0.5-1 s before the kill.
/// A second `shm:` case does not fill the ring first, so the sender blocks inside the
/// fragments of its message. The thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) is read
/// around the call.
#[test]
fn a_sender_blocked_on_a_full_transport_is_disconnected_when_its_receiver_dies_without_spinning() {
    let seed = seed("blocked sender");
    let mut rng = Rng(seed);
    let dir = TempDir::new("crash-blocked");
    let options = Options::default().ring_capacity(16 << 10);
    let cases = [
        ("unix", true),
        ("seqpacket", true),
        ("tcp", true),
        ("shm", true),
        ("shm", false),
    ];
    for (scheme, fill) in cases {
        let blocked_for = Duration::from_millis(500 + rng.below(500));
        let what = format!(
            "{scheme}{} (seed {seed})",
            if fill { "" } else { ", inside its fragments" }
        );
        bounded(&what, || {
            let (listener, url) = listen(scheme, &dir, &options);
            let mut peer = Peer::spawn("holder", &[&url]);
            let (mut tx, _rx) = listener
                .accept()
                .unwrap_or_else(|e| panic!("{what}: accept: {e}"))
                .split();
            assert_eq!(peer.recv(), "connected", "{what}");
            if fill {
                let record = [7u8; 1000];
                let mut sent = 0u64;
                while tx.try_send(&record).unwrap() {
                    sent += 1;
                    assert!(sent < 10_000_000, "{what}: never full");
                }
            }
            let sending = std::thread::spawn(move || {
                let big = vec![9u8; 4 << 20];
                let (cpu, started) = (thread_cpu(), Instant::now());
                let result = tx.send(&big);
                (result, thread_cpu() - cpu, started, Instant::now())
            });
            std::thread::sleep(blocked_for);
            assert!(
                !sending.is_finished(),
                "{what}: the send returned before the kill: it was never blocked"
            );
            let killed = Instant::now();
            peer.kill();
            let (result, cpu, started, ended) = sending.join().unwrap();
            assert!(
                matches!(result, Err(Error::Disconnected { .. })),
                "{what}: {result:?}"
            );
            let took = ended.saturating_duration_since(killed);
            assert!(
                took <= DISCONNECT_BOUND,
                "{what}: Disconnected {took:?} after the kill"
            );
            let waited = ended - started;
            let share = cpu.as_secs_f64() / waited.as_secs_f64();
            assert!(
                share < 0.3,
                "{what}: the blocked send used {cpu:?} of CPU in {waited:?} ({:.0}%)",
                share * 100.0
            );
            println!(
                "{what}: blocked {waited:?} using {cpu:?} of CPU ({:.1}%), Disconnected \
                 {took:?} after the kill",
                share * 100.0
            );
        });
    }
}
