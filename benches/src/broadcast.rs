//! ipclane's broadcast ring as a measured transport, over a named segment; the reader
//! spins on `try_recv`.

use std::sync::Arc;

use ipclane::queue::{Broadcast, BroadcastReader, BroadcastWriter};
use ipclane::segment::Segment;

use crate::endpoint::{Recv, Send};
use crate::named;

/// Creates the ring `name` of `capacity` slots of `slot_size` bytes.
///
/// # Panics
///
/// When it cannot be created.
pub fn create(name: &str, capacity: usize, slot_size: usize) -> Arc<Segment> {
    named::created(
        "broadcast ring",
        name,
        Broadcast::create_named(name, capacity, slot_size),
    )
}

/// Opens the ring `name`.
///
/// # Panics
///
/// When it cannot be opened.
pub fn open(name: &str) -> Arc<Segment> {
    named::opened("broadcast ring", name, Broadcast::KIND)
}

/// The ring's writer.
#[derive(Debug)]
pub struct BroadcastSend(BroadcastWriter<Segment>);

impl BroadcastSend {
    /// Attaches the writer.
    ///
    /// # Panics
    ///
    /// When a live writer exists or the ring is not valid.
    pub fn attach(ring: Arc<Segment>) -> Self {
        Self(BroadcastWriter::attach(ring).expect("attach the broadcast writer"))
    }
}

impl Send for BroadcastSend {
    fn send(&mut self, message: &[u8]) {
        self.0.write(message).expect("broadcast write");
    }
}

/// A reader of the ring: `try_recv_into` copies each record into the receiver's buffer
/// (no allocation).
#[derive(Debug)]
pub struct BroadcastRecv {
    rx: BroadcastReader<Segment>,
    waits: u64,
}

impl BroadcastRecv {
    /// Attaches a reader.
    ///
    /// # Panics
    ///
    /// When the ring is not valid.
    pub fn attach(ring: Arc<Segment>) -> Self {
        Self {
            rx: BroadcastReader::attach(ring).expect("attach a broadcast reader"),
            waits: 0,
        }
    }
}

impl Recv for BroadcastRecv {
    /// # Panics
    ///
    /// When the reader lagged: the rows that use it never let the writer run a whole ring
    /// ahead.
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let rx = &mut self.rx;
        named::spin_recv("broadcast read", &mut self.waits, buf, |buf| {
            rx.try_recv_into(buf)
        })
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
