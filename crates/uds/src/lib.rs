//! Unix domain sockets done properly: framing, message sockets, a safe listener
//! lifecycle, peer credentials and descriptor passing.
//!
//! This is the socket layer of [ipclane](https://github.com/ipclane/ipclane): the safe,
//! easy choice most services should start with, and the control channel of ipclane's
//! hybrid shared-memory transport. It never touches shared memory.
//!
//! # Guarantees
//!
//! - **Framing is sans-IO and bounded.** [`FrameCodec`] decodes from any byte split
//!   (`Ok(None)` = need more), enforces the maximum from the header before allocating,
//!   lets memory grow with the bytes that arrive (never with an announced length), and
//!   reports a stream that ends inside a frame as [`UdsError::Truncated`]. Its default
//!   wire format is tokio-util's `LengthDelimitedCodec` default, byte for byte.
//! - **Blocking I/O that survives real life.** [`FramedStream`] retries `EINTR`, finishes
//!   partial vectored writes, sends with `MSG_NOSIGNAL` (a gone peer is
//!   [`UdsError::Disconnected`], never `SIGPIPE`), and reuses one read buffer.
//! - **Message boundaries are kept** by [`SeqpacketStream`] and [`DatagramSocket`]; a
//!   message that does not fit is an error ([`UdsError::TooLarge`] on send,
//!   [`UdsError::MessageTruncated`] on receive), never silently short. A received
//!   message owns exactly its bytes, and an empty seqpacket message is never mistaken for
//!   the peer closing.
//! - **Listeners have a lifecycle.** Socket files are created with mode 0600 (exactly,
//!   whatever the umask, by the `bind` itself: a path is never resolved again to change
//!   a mode, so nothing swapped in at it is ever changed), a stale file of a crashed server is reclaimed only when nobody
//!   listens, nothing else at the path is ever followed or removed, two servers racing for
//!   one path get exactly one winner, and the file is removed on drop. Abstract
//!   (`@name`) addresses are supported.
//! - **Peers are identified** by kernel-recorded credentials ([`peer_credentials`]) and
//!   filtered by an [`AccessPolicy`] (same user by default).
//! - **Descriptor passing never leaks.** [`recv_fds`] sets close-on-exec and closes every
//!   descriptor it does not hand over, on every error path.
//!
//! # Types
//!
//! | item | what it is |
//! |---|---|
//! | [`FrameCodec`] | sans-IO length-prefixed codec ([`FrameCodecBuilder`] to configure) |
//! | [`FramedStream`] | frames over a Unix or TCP stream |
//! | [`Listener`], [`connect`] | stream server and client |
//! | [`SeqpacketListener`], [`SeqpacketStream`] | connected message sockets |
//! | [`DatagramSocket`] | connectionless message sockets |
//! | [`PeerCredentials`], [`AccessPolicy`] | who the peer is, who may connect |
//! | [`send_fds`], [`recv_fds`] | `SCM_RIGHTS` descriptor passing |
//! | [`UdsAddr`] | a path or an abstract name (`@name`) |
//! | [`UdsError`] | every failure |
//!
//! # Example
//!
//! ```
//! use ipclane_uds::{connect, FramedStream, Listener, UdsAddr};
//!
//! let addr: UdsAddr = format!("@ipclane-doc-{}", std::process::id()).parse()?;
//! let listener = Listener::bind(&addr)?;
//! let server = std::thread::spawn(move || -> Result<(), ipclane_uds::UdsError> {
//!     let (stream, _peer) = listener.accept()?;
//!     let mut framed = FramedStream::new(stream);
//!     while let Some(frame) = framed.read_frame()? {
//!         framed.write_frame(&frame)?; // echo
//!     }
//!     Ok(())
//! });
//!
//! let mut client = FramedStream::new(connect(&addr)?);
//! client.write_frame(b"ping")?;
//! assert_eq!(client.read_frame()?.as_deref(), Some(&b"ping"[..]));
//! drop(client);
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/echo_server.rs` and `examples/echo_client.rs` do the same across processes.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg(target_os = "linux")]

mod addr;
mod bind;
mod buffer;
mod codec;
mod credentials;
mod datagram;
mod error;
mod exhaustion;
mod fd_passing;
mod framed;
mod io;
mod listener;
mod message;
mod seqpacket;

pub use addr::UdsAddr;
pub use codec::{
    DECODE_RESERVE, DEFAULT_MAX_FRAME_LENGTH, FrameCodec, FrameCodecBuilder, LengthWidth,
};
pub use credentials::{AccessPolicy, PeerCredentials, peer_credentials};
pub use datagram::DatagramSocket;
pub use error::UdsError;
pub use exhaustion::{ACCEPT_BACKOFF, is_exhaustion, retry_when_exhausted};
pub use fd_passing::{MAX_FDS, recv_fds, send_fds};
pub use framed::FramedStream;
pub use listener::{Listener, ListenerBuilder, SeqpacketListener, connect};
pub use message::DEFAULT_MAX_MESSAGE_LEN;
pub use seqpacket::SeqpacketStream;

/// The README's examples, compiled (and run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
