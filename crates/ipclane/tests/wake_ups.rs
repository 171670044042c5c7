//! Sleeping and waking between processes on `shm:`: a ping-pong whose waits sleep on the
//! futex loses no wake-up in 100,000 sleeps, and a waker SIGKILLed around its notify
//! never leaves the waiter asleep past its timeout.
//!
//! `IPCLANE_WAKE_SLEEPS=<n>` sets the ping-pong's length; `IPCLANE_CRASH_SEED=<seed>`
//! repeats a run of the killed wakers (each test prints its seed).

use std::time::{Duration, Instant};

use ipclane::queue::WaitStrategy;
use ipclane::{Error, Options};
use ipclane_testkit::rng::{self, Rng};
use ipclane_testkit::{Deadline, Peer, TempDir, WAIT_LIMIT, say};

/// How long one round's receive may wait: far above a wake-up on a loaded machine, so a
/// round that reaches it lost its wake-up.
const ROUND_LIMIT: Duration = Duration::from_secs(5);

/// The `efficient` preset (every wait that finds nothing sleeps on the futex at once),
/// with a liveness period far beyond [`ROUND_LIMIT`]: a sleep otherwise ends after 10 ms
/// to check that the peer lives, and finds the message anyway, which would hide a lost
/// wake-up as a 10 ms delay. Here only a wake-up ends a sleep before the round's limit.
fn sleep_only_until_woken() -> WaitStrategy {
    WaitStrategy {
        liveness_period: Duration::from_secs(60),
        ..WaitStrategy::efficient()
    }
}

/// The run's seed (see [`rng::seed`]).
fn seed(test: &str) -> u64 {
    rng::seed("IPCLANE_CRASH_SEED", test)
}

/// A shared-memory listener under `dir` whose connections wait with `strategy`, and its
/// URL.
fn listen(dir: &TempDir, tag: &str, strategy: WaitStrategy) -> (ipclane::Listener, String) {
    let url = format!("shm://{}", dir.path().join(format!("{tag}.sock")).display());
    let listener = Options::default()
        .wait_strategy(strategy)
        .listen(&url)
        .unwrap();
    (listener, url)
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Connects to `args[0]` sleeping only until woken, and sends back every message
        // until the test hangs up; then says `parks P wakes W` (its receiver's sleeps,
        // its sender's wake calls).
        "echo" => {
            let mut conn = Options::default()
                .wait_strategy(sleep_only_until_woken())
                .connect(&args[0])
                .unwrap();
            let mut round = 0u64;
            loop {
                match conn.receiver().recv_timeout(ROUND_LIMIT) {
                    Ok(msg) => conn.send(&msg).unwrap(),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("echo: waiting for round {round}: {e}"),
                }
                round += 1;
            }
            let parks = conn.receiver().wait_stats().unwrap().parks;
            let wakes = conn.sender().wait_stats().unwrap().wakes;
            say(format!("parks {parks} wakes {wakes}"));
        }
        // Connects to `args[0]` with the `efficient` preset, says `ready`, then sends
        // message 0, 1, 2... (8-byte numbers), each after a random pause of up to
        // 100 µs, so its receiver sleeps before most of them, until it is killed.
        "ticker" => {
            let mut conn = Options::default()
                .wait_strategy(WaitStrategy::efficient())
                .connect(&args[0])
                .unwrap();
            let mut rng = Rng(args[1].parse().unwrap());
            say("ready");
            for seq in 0u64.. {
                // Spun, not slept: a sleep's timer slack (50 µs) would stretch the cycle,
                // and the kill would land in a pause more often.
                let until = Instant::now() + Duration::from_micros(rng.below(100));
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                conn.send(&seq.to_le_bytes()).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    });
}

/// Sleeps of this side that a ping-pong runs to: `IPCLANE_WAKE_SLEEPS`, else `default`.
fn sleeps_wanted(default: u64) -> u64 {
    std::env::var("IPCLANE_WAKE_SLEEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Round trips between this process and an echo process on `shm:`, each side blocked in
/// `recv_timeout` while the other works, until this side has gone to sleep on the futex
/// 100,000 times (about 160,000 round trips, 1-2 s here: a wake-up costs ~5 µs on this
/// VM, and a third of the replies are back before the first look), each sleep ended by
/// the echo's wake-up, none lost; the echo sleeps about as often.
///
/// Both sides use `efficient` (no spin: a wait that finds nothing sleeps) with a
/// liveness period of 60 s, so that a sleep ends only by a wake-up or at the round's
/// limit of 5 s: a lost wake-up fails the round it happened in, by number. The wait
/// statistics show that the sleeps happened (this side's sleeps are what the test counts
/// to, the echo's at least a quarter of the round trips) and that the senders made a wake
/// call for them: the test runs the futex path, not a spin that would hide a lost
/// wake-up.
#[test]
fn sleeping_ping_pong_between_processes_loses_no_wake_up() {
    ping_pong(sleeps_wanted(100_000));
}

/// A longer ping-pong: 1,000,000 sleeps of this side (`IPCLANE_WAKE_SLEEPS` sets another
/// count).
#[test]
#[ignore = "long: 1,000,000 sleeps, 20-40 s here"]
fn sleeping_ping_pong_between_processes_loses_no_wake_up_long() {
    ping_pong(sleeps_wanted(1_000_000));
}

/// Round trips with an echo process until this side slept `sleeps` times, as described
/// above.
fn ping_pong(sleeps: u64) {
    // A side sleeps in most rounds; four times as many rounds means it does not.
    let max_rounds = sleeps.saturating_mul(4);
    let dir = TempDir::new("wake-ping-pong");
    let (listener, url) = listen(&dir, "ping", sleep_only_until_woken());
    let _deadline = Deadline::new(
        WAIT_LIMIT + ROUND_LIMIT * 2 + Duration::from_micros(200).saturating_mul(max_rounds as u32),
        "the ping-pong",
    );
    let mut peer = Peer::spawn("echo", &[&url]);
    let mut conn = listener.accept().unwrap();
    let started = Instant::now();
    let (mut rounds, mut slowest) = (0u64, (Duration::ZERO, 0));
    while conn.receiver().wait_stats().unwrap().parks < sleeps {
        let round = rounds;
        assert!(
            round < max_rounds,
            "{round} round trips, and this side slept only {} times: the futex path is not run",
            conn.receiver().wait_stats().unwrap().parks
        );
        let sent = Instant::now();
        conn.send(&round.to_le_bytes()).unwrap();
        match conn.receiver().recv_timeout(ROUND_LIMIT) {
            Ok(msg) => assert_eq!(
                &msg[..],
                &round.to_le_bytes()[..],
                "round {round}: the echo of another round"
            ),
            Err(e) => panic!("round {round}: {e} (a lost wake-up?)"),
        }
        slowest = slowest.max((sent.elapsed(), round));
        rounds += 1;
    }
    let took = started.elapsed();
    let parks = conn.receiver().wait_stats().unwrap().parks;
    let wakes = conn.sender().wait_stats().unwrap().wakes;
    drop(conn);
    let line = peer.recv();
    let numbers: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let [peer_parks, peer_wakes] = numbers[..] else {
        panic!("echo said {line:?}");
    };
    println!(
        "{rounds} round trips in {took:?} ({:?} each, the slowest {:?} in round {}); \
         this side slept {parks} times and woke the echo {wakes} times, the echo slept \
         {peer_parks} times and woke this side {peer_wakes} times",
        took / rounds.max(1) as u32,
        slowest.0,
        slowest.1
    );
    assert!(
        peer_parks >= rounds / 4,
        "the echo slept {peer_parks} times in {rounds} rounds: its futex path was not run"
    );
    for (who, sleeps, woken) in [
        ("this side", parks, peer_wakes),
        ("the echo", peer_parks, wakes),
    ] {
        assert!(
            woken >= sleeps / 2,
            "{who} slept {sleeps} times but was woken by a call {woken} times"
        );
    }
}

/// How far past its timeout a receive may return: the liveness period (10 ms, after
/// which a sleeper checks its peer) and a loaded machine's scheduling, generously.
const LIVENESS_SLACK: Duration = Duration::from_secs(2);

/// A sender process SIGKILLed at a random instant while it sends, 60 rounds, never
/// leaves its receiver asleep: each blocking receive returns (a message, `Timeout` or
/// `Disconnected`) within its timeout plus [`LIVENESS_SLACK`], the messages are those
/// sent, in order, and `Disconnected` comes within the slack of the kill.
///
/// The sender pauses a random 0-100 µs before each message, so its receiver sleeps on
/// the futex (`efficient`) before most of them and most sends make a wake call; a kill
/// a random 0-20 ms into the stream lands anywhere in that cycle, now and then between
/// a message's publication and its wake call, or inside the call. The receiver uses
/// `recv_timeout` with a random timeout of 0.1-20 ms, and in every third round `recv`,
/// which has no timeout and must end by finding the sender dead; the whole round is under
/// a deadline, so a receive that never returns fails the test by name.
#[test]
fn a_waker_killed_around_its_notify_never_leaves_the_waiter_asleep() {
    const ROUNDS: u32 = 60;
    let seed = seed("killed waker");
    let mut rng = Rng(seed);
    let dir = TempDir::new("wake-killed");
    let (mut overshoot, mut slowest) = (Duration::ZERO, Duration::ZERO);
    let (mut messages, mut timeouts, mut sleeps) = (0u64, 0u64, 0u64);
    for round in 0..ROUNDS {
        let what = format!("round {round} (seed {seed})");
        let blocking = round % 3 == 2;
        let kill_after = Duration::from_micros(rng.below(20_000));
        let (listener, url) = listen(&dir, &format!("k{round}"), WaitStrategy::efficient());
        let _deadline = Deadline::new(WAIT_LIMIT, what.clone());
        let mut peer = Peer::spawn("ticker", &[&url, &rng.below(u64::MAX).to_string()]);
        let mut conn = listener.accept().unwrap();
        assert_eq!(peer.recv(), "ready", "{what}");
        let (killed_tx, killed_rx) = std::sync::mpsc::channel();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            let killed = Instant::now();
            peer.kill();
            let _ = killed_tx.send(killed);
        });
        let rx = conn.receiver();
        let (mut expected, mut killed) = (0u64, None);
        let late = loop {
            let timeout = Duration::from_micros(100 + rng.below(20_000));
            let called = Instant::now();
            let got = if blocking {
                rx.recv()
            } else {
                rx.recv_timeout(timeout)
            };
            let took = called.elapsed();
            if !blocking {
                assert!(
                    took <= timeout + LIVENESS_SLACK,
                    "{what}: recv_timeout({timeout:?}) returned after {took:?}: {got:?}"
                );
                overshoot = overshoot.max(took.saturating_sub(timeout));
            }
            killed = killed.or_else(|| killed_rx.try_recv().ok());
            let since_kill = killed.map(|k: Instant| k.elapsed());
            match got {
                Ok(msg) => {
                    assert_eq!(
                        &msg[..],
                        &expected.to_le_bytes()[..],
                        "{what}: message {expected}"
                    );
                    expected += 1;
                }
                Err(Error::Timeout { .. }) if !blocking => timeouts += 1,
                Err(Error::Disconnected { .. }) => break since_kill,
                Err(e) => panic!("{what}: after {expected} messages: {e}"),
            }
            if let Some(since) = since_kill {
                assert!(
                    since <= LIVENESS_SLACK,
                    "{what}: still no Disconnected {since:?} after the kill"
                );
            }
        };
        killer.join().unwrap();
        // Disconnected before the killer's report came: within the kill, at once.
        let late = late.unwrap_or(Duration::ZERO);
        assert!(
            late <= LIVENESS_SLACK,
            "{what}: Disconnected {late:?} after the kill"
        );
        slowest = slowest.max(late);
        messages += expected;
        sleeps += rx.wait_stats().unwrap().parks;
    }
    println!(
        "{ROUNDS} wakers killed: {messages} messages received in order, {timeouts} timeouts, \
         {sleeps} sleeps of the receiver; a timed receive returned at most {overshoot:?} \
         after its timeout, Disconnected at most {slowest:?} after a kill"
    );
    // At least one sleep per round on average (thousands, in fact): the receivers were
    // asleep on the futex, not spinning, while their wakers ran and died.
    assert!(
        sleeps >= u64::from(ROUNDS),
        "the receiver slept {sleeps} times for {messages} messages: it was not waiting on \
         the futex when its wakers were killed"
    );
}
