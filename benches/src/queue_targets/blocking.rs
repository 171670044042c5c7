//! The blocking calls in a stream: how many wake system calls a steady stream costs.

use super::channel::PING_RING;
use super::latency::on_first_cpu;
use super::stream::STREAM_LEN;
use super::{FLOOR_ATTEMPTS, Options, Verdict, name};
use crate::endpoint::{self, Stream};
use crate::floor;
use crate::peer::Launcher;
use crate::spsc::{self, SpscRecv, Wait};

/// The peer role that produces with the blocking calls and reports its wake system calls
/// and sleeps: arguments `<ring> <len> <count>`.
pub(crate) const PRODUCE_BLOCKING: &str = "produce-blocking";

/// Most wake system calls per message that count as "no system call per message": the
/// start of a stream may find the consumer asleep, a steady stream should not.
const MAX_WAKES_PER_MESSAGE: f64 = 1e-3;

/// What one blocking stream cost.
#[derive(Debug, Clone, Copy)]
struct Blocking {
    stream: Stream,
    /// Wake system calls of the producer (for a sleeping consumer) and of the consumer
    /// (for a sleeping producer).
    wakes: (u64, u64),
    /// Times each side went to sleep.
    parks: (u64, u64),
}

impl Blocking {
    fn wakes_per_message(&self) -> f64 {
        (self.wakes.0 + self.wakes.1) as f64 / self.stream.messages.max(1) as f64
    }
}

/// 64 B streamed with `push_blocking` and `read_blocking` (the default wait strategy)
/// through a 64 KiB ring: the wake system calls per message, which should be none while
/// the consumer keeps up (a notification with nobody asleep is a load, not a call).
pub(super) fn blocking_stream(launcher: &Launcher, options: &Options) -> Verdict {
    let check = format!(
        "3b. SPSC {STREAM_LEN} B streaming with the blocking calls through {} KiB \
         (target <= {MAX_WAKES_PER_MESSAGE} wake system calls per message)",
        PING_RING >> 10
    );
    println!("\n{check}");
    let rounds: Vec<_> = (0..options.rounds())
        .map(|_| floor::measure(options.placement, FLOOR_ATTEMPTS, || row(launcher, options)))
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        let b = r.result;
        println!(
            "   round {}: {:.1} M msg/s, wake calls {} by the producer and {} by the consumer \
             ({:.1e} per message), sleeps {} and {} | {}",
            i + 1,
            b.stream.rate() / 1e6,
            b.wakes.0,
            b.wakes.1,
            b.wakes_per_message(),
            b.parks.0,
            b.parks.1,
            r.floor,
        );
    }
    let per_message: Vec<f64> = rounds
        .iter()
        .map(|r| r.result.wakes_per_message())
        .collect();
    let ratio = crate::stats::median(per_message);
    Verdict {
        pass: ratio <= MAX_WAKES_PER_MESSAGE,
        check,
        ratio: Some(ratio),
    }
}

/// One blocking stream: a peer produces, this process consumes.
fn row(launcher: &Launcher, options: &Options) -> Blocking {
    let ring = name("spsc-blocking");
    let count = options.stream();
    let mut rx = SpscRecv::attach(spsc::create(&ring, PING_RING), Wait::Block);
    let args = [ring.as_str(), &STREAM_LEN.to_string(), &count.to_string()];
    let peer = launcher.spawn(PRODUCE_BLOCKING, &args, options.placement.second());
    let stream = on_first_cpu(options, || endpoint::consume(&mut rx, STREAM_LEN, count))
        .unwrap_or_else(|e| panic!("blocking stream: {e}"));
    let report = peer.finish();
    let numbers: Vec<u64> = report
        .iter()
        .flat_map(|l| l.split(' ').map(|n| n.parse().expect("a count")))
        .collect();
    let [wakes, parks] = numbers[..] else {
        panic!("{PRODUCE_BLOCKING}: expected wakes and sleeps, got {report:?}")
    };
    Blocking {
        stream,
        wakes: (wakes, rx.wakes()),
        parks: (parks, rx.parks()),
    }
}

/// Plays [`PRODUCE_BLOCKING`].
pub(crate) fn produce(args: &[String]) {
    let num = |i: usize| -> u64 { args[i].parse().expect("a number") };
    let mut tx = spsc::SpscSend::attach(spsc::open(&args[0]), Wait::Block);
    endpoint::produce(&mut tx, num(1) as usize, num(2));
    crate::peer::report(format!("{} {}", tx.wakes(), tx.parks()));
}
