//! Unix stream sockets as measured transports: ipclane-uds's frames, and raw reads and
//! writes of the payload alone (both sides knowing its size, so no length prefix at all)
//! as the floor the frames are measured against.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use ipclane::uds::{FramedStream, Listener, UdsAddr, connect};

use crate::endpoint::{Recv, Send};
use crate::raw_io::{READ_AHEAD, RawRead, RawWrite};

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Length-prefixed frames ([`FramedStream`]).
    Framed,
    /// The payload alone, `write_all` and `read_exact`.
    Raw,
    /// Raw writes and reads of the bytes a frame puts on the wire (a 4-byte length, then
    /// the payload) with no framing code: what framing costs beyond its header.
    RawWire,
}

impl Mode {
    /// Its name in a table and in a peer's arguments.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Framed => "framed",
            Mode::Raw => "raw",
            Mode::RawWire => "raw-wire",
        }
    }

    /// The mode a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        [Mode::Framed, Mode::Raw, Mode::RawWire]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// The abstract address of a measurement named `name`.
///
/// # Panics
///
/// For a name that is no valid abstract address.
pub fn address(name: &str) -> UdsAddr {
    format!("@{name}").parse().expect("an abstract address")
}

/// Listens on `addr`.
///
/// # Panics
///
/// When it cannot bind.
pub fn listen(addr: &UdsAddr) -> Listener {
    Listener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
}

/// Accepts one connection.
///
/// # Panics
///
/// When accepting fails.
pub fn accept(listener: &Listener) -> UnixStream {
    listener.accept().expect("accept the peer").0
}

/// Connects to `addr`.
///
/// # Panics
///
/// When it cannot connect.
pub fn dial(addr: &UdsAddr) -> UnixStream {
    connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// The two ends of one connected socket in `mode`: a sender and a receiver, each its own
/// handle of the socket (dynamically dispatched, the same for both modes).
///
/// # Panics
///
/// When the socket cannot be duplicated.
pub fn ends(stream: UnixStream, mode: Mode) -> (Box<dyn Sender>, Box<dyn Receiver>) {
    let other = stream.try_clone().expect("duplicate the socket");
    match mode {
        Mode::Framed => (
            Box::new(Framed(FramedStream::new(stream))),
            Box::new(Framed(FramedStream::new(other))),
        ),
        Mode::Raw => (Box::new(RawWrite(stream)), Box::new(RawRead::new(other))),
        Mode::RawWire => (
            Box::new(WireSend(stream, Vec::new())),
            Box::new(WireRecv(BufReader::with_capacity(READ_AHEAD, other))),
        ),
    }
}

/// A sending end that can move to another thread.
pub trait Sender: Send + std::marker::Send {}

impl<T: Send + std::marker::Send> Sender for T {}

/// A receiving end that can move to another thread.
pub trait Receiver: Recv + std::marker::Send {}

impl<T: Recv + std::marker::Send> Receiver for T {}

/// Frames: each message one `write_frame`, each read one `read_frame_into` the
/// receiver's buffer (from the read-ahead, or from the socket in place for a large
/// frame, as the raw receiver's `read_exact` does).
#[derive(Debug)]
struct Framed(FramedStream<UnixStream>);

impl Send for Framed {
    fn send(&mut self, message: &[u8]) {
        self.0.write_frame(message).expect("write a frame");
    }
}

impl Recv for Framed {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.0
            .read_frame_into(buf)
            .expect("read a frame")
            .expect("a frame")
    }

    /// Not counted: a blocking read does not say whether it waited.
    fn waits(&self) -> u64 {
        0
    }
}

/// Raw writes of a length and the payload: up to 4 KiB copied together into one buffer
/// and written at once, larger ones written from both buffers (vectored), as frames are.
#[derive(Debug)]
struct WireSend(UnixStream, Vec<u8>);

impl Send for WireSend {
    fn send(&mut self, message: &[u8]) {
        let len = u32::try_from(message.len())
            .expect("a message under 4 GiB")
            .to_be_bytes();
        if message.len() <= 4096 {
            self.1.clear();
            self.1.extend_from_slice(&len);
            self.1.extend_from_slice(message);
            self.0.write_all(&self.1).expect("write");
            return;
        }
        let mut slices = [std::io::IoSlice::new(&len), std::io::IoSlice::new(message)];
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = self.0.write_vectored(rest).expect("write");
            std::io::IoSlice::advance_slices(&mut rest, n);
        }
    }
}

/// Raw reads of a length, then of that many bytes straight into the receiver's buffer.
#[derive(Debug)]
struct WireRecv(BufReader<UnixStream>);

impl Recv for WireRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).expect("read a length");
        let len = u32::from_be_bytes(len) as usize;
        assert!(len <= buf.len(), "a message of {len} bytes");
        self.0
            .read_exact(&mut buf[..len])
            .expect("read a whole message");
        len
    }

    fn waits(&self) -> u64 {
        0
    }
}
