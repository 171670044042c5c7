//! Drivers that run for a time rather than a count, so a row takes as long at 1 MiB as
//! at 64 B: the side that keeps time sends a stamped [`STOP`] message at the end, and the
//! other side stops on it. Every message, `STOP` included, is stamped by its sender and
//! checked whole by its receiver ([`crate::integrity`]).
//!
//! Message buffers are ordinary `Vec`s, placed where the allocator puts them, as a user's
//! would be. Where a buffer sits matters for large copies on some CPUs (AMD EPYC here):
//! `rep movsb`, which the kernel and memcpy use for them, runs about ten times slower
//! when the destination is 1 to 15 bytes ahead of the source within a page. A 4-byte
//! frame header shifts a framed message's payload by 4 bytes in the kernel's buffers,
//! so one of its two copies lands in that case for most buffer placements (a 1 MiB
//! `Vec` sits 16 bytes into a page); a raw write of the payload alone does not
//! (docs/performance.md, "Large framed messages").

use std::time::{Duration, Instant};

use crate::endpoint::{HELLO, Recv, Send, Stream};
use crate::integrity::{self, Checker, Integrity, Stamp};
use crate::stats::Latencies;

/// The sequence number of the message that ends a run.
pub const STOP: u64 = u64::MAX >> 2;

/// Messages between two looks at the clock of a stream's producer (a look costs about as
/// much as sending a small message through shared memory).
const CLOCK_EVERY: u64 = 64;

/// The CPU time this process has used, all its threads, in nanoseconds (what getrusage
/// reports, to the nanosecond).
pub fn cpu_ns() -> u64 {
    clock_ns(rustix::time::ClockId::ProcessCPUTime)
}

/// The CPU time the calling thread has used, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(rustix::time::ClockId::ThreadCPUTime)
}

/// A clock's time in nanoseconds.
fn clock_ns(clock: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(clock);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// How long a run warms up (checked, not recorded) and then measures.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Messages exchanged before recording starts.
    pub warmup: Duration,
    /// Time recorded.
    pub measure: Duration,
}

/// Whether `message` is the [`STOP`] message, whole.
///
/// # Errors
///
/// When it carries `STOP`'s number but is not whole.
fn is_stop(message: &[u8]) -> Result<bool, Integrity> {
    if integrity::seq_of(message) == Some(STOP) {
        integrity::check(message, STOP)?;
        return Ok(true);
    }
    Ok(false)
}

/// Sends the [`STOP`] message, `len` bytes.
pub fn send_stop(tx: &mut impl Send, len: usize) {
    let mut out = vec![0u8; len];
    Stamp::new(STOP).write(&mut out);
    tx.send(&out);
}

/// The pinging side: waits for the echo's hello, pings for `timing.warmup`, then records
/// round trips for `timing.measure`, then stops the echo.
///
/// # Errors
///
/// When an echo is not the message sent, whole.
pub fn ping_for(
    tx: &mut impl Send,
    rx: &mut impl Recv,
    len: usize,
    timing: Timing,
) -> Result<Latencies, Integrity> {
    let (mut out, mut back) = (vec![0u8; len], vec![0u8; len]);
    let n = rx.recv(&mut back);
    integrity::check(&back[..n], HELLO)?;
    let mut checker = Checker::default();
    let mut round_trips = Latencies::new();
    let start = Instant::now();
    let (warm, end) = (
        start + timing.warmup,
        start + timing.warmup + timing.measure,
    );
    for seq in 0.. {
        Stamp::new(seq).write(&mut out);
        let t0 = Instant::now();
        tx.send(&out);
        let n = rx.recv(&mut back);
        let t1 = Instant::now();
        checker.check(&back[..n])?;
        if t0 >= warm {
            round_trips.record(t1 - t0);
        }
        if t1 >= end {
            break;
        }
    }
    std::hint::black_box(checker.bytes());
    send_stop(tx, len);
    Ok(round_trips)
}

/// The echoing side of [`ping_for`]: says hello, then checks each message and sends it
/// back, until the stop; returns the messages echoed.
///
/// # Errors
///
/// When a message is not the one expected, whole.
pub fn echo_until_stop(
    tx: &mut impl Send,
    rx: &mut impl Recv,
    len: usize,
) -> Result<u64, Integrity> {
    let mut buf = vec![0u8; len];
    Stamp::new(HELLO).write(&mut buf);
    tx.send(&buf);
    let mut checker = Checker::default();
    loop {
        let n = rx.recv(&mut buf);
        if is_stop(&buf[..n])? {
            break;
        }
        checker.check(&buf[..n])?;
        tx.send(&buf[..n]);
    }
    Ok(std::hint::black_box(checker.next()))
}

/// Sends stamped messages of `len` bytes back to back for `duration`, then the stop;
/// returns the messages sent.
pub fn produce_for(tx: &mut impl Send, len: usize, duration: Duration) -> u64 {
    let mut out = vec![0u8; len];
    let end = Instant::now() + duration;
    let mut seq = 0;
    loop {
        Stamp::new(seq).write(&mut out);
        tx.send(&out);
        seq += 1;
        if seq % CLOCK_EVERY == 0 && Instant::now() >= end {
            break;
        }
    }
    send_stop(tx, len);
    seq
}

/// Receives and checks a stream of [`produce_for`] until its stop.
///
/// # Errors
///
/// When a message is lost, repeated, reordered or not whole.
pub fn consume_until_stop(rx: &mut impl Recv, len: usize) -> Result<Stream, Integrity> {
    let mut buf = vec![0u8; len];
    let mut checker = Checker::default();
    let mut first = None;
    let last = loop {
        let n = rx.recv(&mut buf);
        let now = Instant::now();
        first.get_or_insert(now);
        if is_stop(&buf[..n])? {
            break now;
        }
        checker.check(&buf[..n])?;
    };
    Ok(Stream {
        messages: checker.next(),
        elapsed: first.map_or(Duration::ZERO, |f| last - f),
        bytes: std::hint::black_box(checker.bytes()),
        waits: rx.waits(),
    })
}

/// Forwards requests from `front` to `back` and each response back, checking both, until
/// the stop (which it forwards): a sidecar. The backend's hello goes to the client first.
///
/// # Errors
///
/// When a request or a response is not the one expected, whole.
pub fn forward_until_stop(
    front: (&mut impl Send, &mut impl Recv),
    back: (&mut impl Send, &mut impl Recv),
    len: usize,
) -> Result<u64, Integrity> {
    let ((front_tx, front_rx), (back_tx, back_rx)) = (front, back);
    let mut buf = vec![0u8; len];
    let n = back_rx.recv(&mut buf);
    integrity::check(&buf[..n], HELLO)?;
    front_tx.send(&buf[..n]);
    let (mut requests, mut responses) = (Checker::default(), Checker::default());
    loop {
        let n = front_rx.recv(&mut buf);
        let stop = is_stop(&buf[..n])?;
        if !stop {
            requests.check(&buf[..n])?;
        }
        back_tx.send(&buf[..n]);
        if stop {
            break;
        }
        let n = back_rx.recv(&mut buf);
        responses.check(&buf[..n])?;
        front_tx.send(&buf[..n]);
    }
    Ok(std::hint::black_box(responses.next()))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// One direction of a channel between two threads.
    struct Half<T>(T);

    impl Send for Half<mpsc::Sender<Vec<u8>>> {
        fn send(&mut self, message: &[u8]) {
            let _ = self.0.send(message.to_vec());
        }
    }

    impl Recv for Half<mpsc::Receiver<Vec<u8>>> {
        fn recv(&mut self, buf: &mut [u8]) -> usize {
            let m = self.0.recv().expect("a message");
            buf[..m.len()].copy_from_slice(&m);
            m.len()
        }

        fn waits(&self) -> u64 {
            0
        }
    }

    type Ends = (Half<mpsc::Sender<Vec<u8>>>, Half<mpsc::Receiver<Vec<u8>>>);

    fn pair() -> Ends {
        let (tx, rx) = mpsc::channel();
        (Half(tx), Half(rx))
    }

    const TIMING: Timing = Timing {
        warmup: Duration::from_millis(5),
        measure: Duration::from_millis(20),
    };

    #[test]
    fn a_timed_ping_pong_stops_its_echo() {
        let ((mut a_tx, mut b_rx), (mut b_tx, mut a_rx)) = (pair(), pair());
        let echo = std::thread::spawn(move || echo_until_stop(&mut b_tx, &mut b_rx, 64));
        let latencies = ping_for(&mut a_tx, &mut a_rx, 64, TIMING).unwrap();
        let echoed = echo.join().unwrap().unwrap();
        assert!(!latencies.is_empty());
        assert!(echoed >= latencies.len(), "{echoed} echoes");
    }

    #[test]
    fn a_timed_stream_is_received_whole_to_its_stop() {
        let (mut tx, mut rx) = pair();
        let producer = std::thread::spawn(move || produce_for(&mut tx, 64, TIMING.measure));
        let stream = consume_until_stop(&mut rx, 64).unwrap();
        assert_eq!(stream.messages, producer.join().unwrap());
        assert_eq!(stream.bytes, stream.messages * 64);
    }

    #[test]
    fn a_corrupted_or_lost_message_fails_the_stream() {
        let (mut tx, mut rx) = pair();
        let mut m = vec![0u8; 64];
        for seq in [0, 1, 3] {
            Stamp::new(seq).write(&mut m);
            tx.send(&m);
        }
        assert_eq!(
            consume_until_stop(&mut rx, 64).unwrap_err(),
            Integrity::Lost {
                expected: 2,
                got: 3
            }
        );
        let (mut tx, mut rx) = pair();
        Stamp::new(STOP).write(&mut m);
        m[40] ^= 1;
        tx.send(&m);
        assert!(consume_until_stop(&mut rx, 64).is_err(), "a torn stop");
    }

    #[test]
    fn a_sidecar_forwards_every_request_and_response() {
        let ((mut c_tx, mut s_front_rx), (mut s_front_tx, mut c_rx)) = (pair(), pair());
        let ((mut s_back_tx, mut b_rx), (mut b_tx, mut s_back_rx)) = (pair(), pair());
        let backend = std::thread::spawn(move || echo_until_stop(&mut b_tx, &mut b_rx, 64));
        let sidecar = std::thread::spawn(move || {
            forward_until_stop(
                (&mut s_front_tx, &mut s_front_rx),
                (&mut s_back_tx, &mut s_back_rx),
                64,
            )
        });
        let latencies = ping_for(&mut c_tx, &mut c_rx, 64, TIMING).unwrap();
        let forwarded = sidecar.join().unwrap().unwrap();
        assert_eq!(backend.join().unwrap().unwrap(), forwarded);
        assert!(forwarded >= latencies.len());
    }
}
