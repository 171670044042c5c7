//! The two ends of a one-way channel, as every measured transport (raw baseline or
//! ipclane) offers them, and the drivers that measure any of them with the same work per
//! message: the sender stamps every byte of a message, the receiver copies it out and
//! checks every byte ([`integrity`](crate::integrity)).

use std::time::{Duration, Instant};

use crate::integrity::{Checker, Integrity, Stamp};
use crate::stats::Latencies;
use crate::turns::Turns;

/// Sends whole messages, waiting (spinning or sleeping, as the transport does) while
/// there is no room.
pub trait Send {
    /// Sends `message`.
    fn send(&mut self, message: &[u8]);
}

/// Receives whole messages, waiting (spinning or sleeping) while there is none.
pub trait Recv {
    /// Copies the next message into `buf` and returns its length.
    fn recv(&mut self, buf: &mut [u8]) -> usize;

    /// How many calls of [`recv`](Self::recv) found nothing ready and had to wait, where
    /// the transport can tell (0 where it cannot). Messages per wait is the streaming
    /// regime: about 1 when the receiver keeps up (each message crosses alone), far more
    /// when the sender runs ahead (lines move in batches).
    fn waits(&self) -> u64;
}

impl<T: Send + ?Sized> Send for Box<T> {
    fn send(&mut self, message: &[u8]) {
        (**self).send(message);
    }
}

impl<T: Recv + ?Sized> Recv for Box<T> {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        (**self).recv(buf)
    }

    fn waits(&self) -> u64 {
        (**self).waits()
    }
}

/// The sequence number of the message an echo sends first, once both its ends are
/// attached: a receiver that attaches late (a broadcast reader sees only what is written
/// after it attached) must not miss the first ping.
pub const HELLO: u64 = u64::MAX >> 1;

/// The pinging side of a ping-pong of `count` messages of `len` bytes: waits for the
/// echo's hello, then measures one-way latencies (half of each round trip) of the
/// messages after the first `warmup` (which are checked too).
///
/// # Errors
///
/// When an echo is not the message sent, whole.
pub fn ping(
    tx: &mut impl Send,
    rx: &mut impl Recv,
    len: usize,
    count: u64,
    warmup: u64,
) -> Result<Latencies, Integrity> {
    let (mut out, mut back) = (vec![0u8; len], vec![0u8; len]);
    let n = rx.recv(&mut back);
    crate::integrity::check(&back[..n], HELLO)?;
    let mut checker = Checker::default();
    let mut round_trips = Latencies::new();
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        let t0 = Instant::now();
        tx.send(&out);
        let n = rx.recv(&mut back);
        let rtt = t0.elapsed();
        if seq >= warmup {
            round_trips.record(rtt);
        }
        checker.check(&back[..n])?;
    }
    std::hint::black_box(checker.bytes());
    Ok(round_trips.halved())
}

/// The echoing side of [`ping`]: says hello, then checks each message and sends it back
/// (every byte).
///
/// # Errors
///
/// When a message is not the one expected, whole.
pub fn echo(
    tx: &mut impl Send,
    rx: &mut impl Recv,
    len: usize,
    count: u64,
) -> Result<(), Integrity> {
    let mut buf = vec![0u8; len];
    Stamp::new(HELLO).write(&mut buf);
    tx.send(&buf);
    let mut checker = Checker::default();
    for _ in 0..count {
        let n = rx.recv(&mut buf);
        checker.check(&buf[..n])?;
        tx.send(&buf[..n]);
    }
    std::hint::black_box(checker.bytes());
    Ok(())
}

/// Sends `count` stamped messages of `len` bytes as fast as the receiver takes them.
pub fn produce(tx: &mut impl Send, len: usize, count: u64) {
    let mut out = vec![0u8; len];
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        tx.send(&out);
    }
}

/// What a streaming receiver measured.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    /// Messages received and checked.
    pub messages: u64,
    /// From the first message received to the last.
    pub elapsed: Duration,
    /// Payload bytes checked.
    pub bytes: u64,
    /// Receives that found nothing ready ([`Recv::waits`]).
    pub waits: u64,
}

impl Stream {
    /// Messages per second (those after the first, over the time since the first).
    pub fn rate(&self) -> f64 {
        self.messages.saturating_sub(1) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Messages per wait of the receiver: the regime the stream ran in.
    pub fn batch(&self) -> f64 {
        self.messages as f64 / self.waits.max(1) as f64
    }

    /// What a receiver measured: the messages `checker` passed, since `first` (when the
    /// first arrived), and the waits of `rx`.
    fn measured(checker: &Checker, first: Option<Instant>, rx: &impl Recv) -> Self {
        Stream {
            messages: checker.next(),
            elapsed: first.map_or(Duration::ZERO, |t| t.elapsed()),
            bytes: std::hint::black_box(checker.bytes()),
            waits: rx.waits(),
        }
    }

    /// Payload bytes per second, likewise.
    pub fn bytes_per_second(&self) -> f64 {
        self.rate() * (self.bytes as f64 / self.messages.max(1) as f64)
    }
}

/// Receives and checks the `count` messages of [`produce`].
///
/// # Errors
///
/// When a message is lost, repeated, reordered or not whole.
pub fn consume(rx: &mut impl Recv, len: usize, count: u64) -> Result<Stream, Integrity> {
    let mut buf = vec![0u8; len];
    let mut checker = Checker::default();
    let mut first = None;
    for _ in 0..count {
        let n = rx.recv(&mut buf);
        first.get_or_insert_with(Instant::now);
        checker.check(&buf[..n])?;
    }
    Ok(Stream::measured(&checker, first, rx))
}

/// Sends `batches` batches of `batch` stamped messages of `len` bytes, each batch once
/// the consumer has drained the one before ([`Turns`]).
pub fn produce_batches(tx: &mut impl Send, turns: &Turns, len: usize, batch: u64, batches: u64) {
    let mut out = vec![0u8; len];
    let mut seq = 0;
    for n in 0..batches {
        if n > 0 {
            turns.await_drained(n - 1);
        }
        for _ in 0..batch {
            Stamp::new(seq).write(&mut out);
            tx.send(&out);
            seq += 1;
        }
        turns.filled(n);
    }
}

/// Receives and checks the batches of [`produce_batches`], each once it is written whole;
/// the time runs from the first batch's turn to the last message, fills included.
///
/// # Errors
///
/// When a message is lost, repeated, reordered or not whole.
pub fn consume_batches(
    rx: &mut impl Recv,
    turns: &Turns,
    len: usize,
    batch: u64,
    batches: u64,
) -> Result<Stream, Integrity> {
    let mut buf = vec![0u8; len];
    let mut checker = Checker::default();
    let mut first = None;
    for n in 0..batches {
        turns.await_filled(n);
        first.get_or_insert_with(Instant::now);
        for _ in 0..batch {
            let k = rx.recv(&mut buf);
            checker.check(&buf[..k])?;
        }
        turns.drained(n);
    }
    Ok(Stream::measured(&checker, first, rx))
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine, so a send
/// time taken in one process and a receive time in another make a one-way latency.
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The sending side of a wake-up measurement: `count` messages, each after a pause of
/// `gap` (long enough for the receiver to fall asleep); returns each send time.
pub fn send_with_gaps(tx: &mut impl Send, len: usize, count: u64, gap: Duration) -> Vec<u64> {
    let mut out = vec![0u8; len];
    let mut sent = Vec::with_capacity(count as usize);
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        std::thread::sleep(gap);
        sent.push(now_ns());
        tx.send(&out);
    }
    sent
}

/// The sending side of a steady stream: `count` messages, one every `period` (paced by
/// spinning on the clock, as a sleep would be far coarser than microseconds); returns each
/// send time.
pub fn send_paced(tx: &mut impl Send, len: usize, count: u64, period: Duration) -> Vec<u64> {
    let mut out = vec![0u8; len];
    let mut sent = Vec::with_capacity(count as usize);
    let start = std::time::Instant::now();
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        let due = start + period * u32::try_from(seq).unwrap_or(u32::MAX);
        while std::time::Instant::now() < due {
            std::hint::spin_loop();
        }
        sent.push(now_ns());
        tx.send(&out);
    }
    sent
}

/// The receiving side of a wake-up measurement: each receive time, every message checked.
///
/// # Errors
///
/// When a message is lost, repeated, reordered or not whole.
pub fn receive_times(rx: &mut impl Recv, len: usize, count: u64) -> Result<Vec<u64>, Integrity> {
    let mut buf = vec![0u8; len];
    let mut checker = Checker::default();
    let mut received = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let n = rx.recv(&mut buf);
        received.push(now_ns());
        checker.check(&buf[..n])?;
    }
    std::hint::black_box(checker.bytes());
    Ok(received)
}

/// One-way latencies from matching send and receive times.
pub fn one_way(sent: &[u64], received: &[u64]) -> Latencies {
    let mut latencies = Latencies::new();
    for (s, r) in sent.iter().zip(received) {
        latencies.record_ns(r.saturating_sub(*s));
    }
    latencies
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// An in-process channel, to test the drivers.
    #[derive(Default)]
    struct Fifo(VecDeque<Vec<u8>>);

    impl Send for Fifo {
        fn send(&mut self, message: &[u8]) {
            self.0.push_back(message.to_vec());
        }
    }

    impl Recv for Fifo {
        fn recv(&mut self, buf: &mut [u8]) -> usize {
            let m = self.0.pop_front().expect("a message");
            buf[..m.len()].copy_from_slice(&m);
            m.len()
        }

        fn waits(&self) -> u64 {
            0
        }
    }

    /// A channel between two threads, to test the batched drivers.
    struct Thread<T>(T);

    impl Send for Thread<std::sync::mpsc::Sender<Vec<u8>>> {
        fn send(&mut self, message: &[u8]) {
            self.0
                .send(message.to_vec())
                .expect("the receiver is there");
        }
    }

    impl Recv for Thread<std::sync::mpsc::Receiver<Vec<u8>>> {
        fn recv(&mut self, buf: &mut [u8]) -> usize {
            let m = self.0.recv().expect("a message");
            buf[..m.len()].copy_from_slice(&m);
            m.len()
        }

        fn waits(&self) -> u64 {
            0
        }
    }

    #[test]
    fn a_batched_stream_is_checked_message_for_message() {
        let name = format!("bench-test-turns-{}", std::process::id());
        let turns = Turns::create(&name);
        let (tx, rx) = std::sync::mpsc::channel();
        let stream = std::thread::scope(|s| {
            s.spawn(|| {
                let turns = Turns::open(&name);
                produce_batches(&mut Thread(tx), &turns, 64, 10, 5);
            });
            consume_batches(&mut Thread(rx), &turns, 64, 10, 5)
        })
        .unwrap();
        assert_eq!((stream.messages, stream.bytes), (50, 3200));
    }

    #[test]
    fn a_stream_is_checked_message_for_message() {
        let mut fifo = Fifo::default();
        produce(&mut fifo, 64, 100);
        let stream = consume(&mut fifo, 64, 100).unwrap();
        assert_eq!((stream.messages, stream.bytes), (100, 6400));
    }

    #[test]
    fn a_lost_or_corrupted_message_fails_the_stream() {
        let mut fifo = Fifo::default();
        produce(&mut fifo, 64, 10);
        fifo.0.remove(3);
        assert_eq!(
            consume(&mut fifo, 64, 9).unwrap_err(),
            Integrity::Lost {
                expected: 3,
                got: 4
            }
        );
        let mut fifo = Fifo::default();
        produce(&mut fifo, 64, 10);
        fifo.0[5][17] ^= 4;
        assert!(matches!(
            consume(&mut fifo, 64, 10).unwrap_err(),
            Integrity::Corrupted { seq: 5, .. }
        ));
    }

    #[test]
    fn an_echo_that_alters_the_message_fails_the_ping() {
        /// Both ends of one in-process channel that flips a bit of every tenth message.
        #[derive(Clone, Default)]
        struct Flipping(std::rc::Rc<std::cell::RefCell<(Fifo, u64)>>);
        impl Send for Flipping {
            fn send(&mut self, message: &[u8]) {
                let (fifo, sent) = &mut *self.0.borrow_mut();
                fifo.send(message);
                if *sent % 10 == 9 {
                    fifo.0.back_mut().expect("just sent")[9] ^= 1;
                }
                *sent += 1;
            }
        }
        impl Recv for Flipping {
            fn recv(&mut self, buf: &mut [u8]) -> usize {
                self.0.borrow_mut().0.recv(buf)
            }

            fn waits(&self) -> u64 {
                0
            }
        }
        let mut tx = Flipping::default();
        let mut rx = tx.clone();
        let mut hello = vec![0u8; 64];
        Stamp::new(HELLO).write(&mut hello);
        tx.0.borrow_mut().0.send(&hello);
        assert!(matches!(
            ping(&mut tx, &mut rx, 64, 20, 0),
            Err(Integrity::Corrupted { seq: 9, .. })
        ));
    }
}
