//! A link between the measuring process and a peer over any [`Transport`]: both
//! directions, so one link serves a ping-pong and a stream alike. The measuring side
//! [`listen`]s, starts its peer with the [`Listening::address`], and
//! [`accept`](Listening::accept)s; the peer [`dial`]s that address, retrying until the
//! listener is there.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use ipclane::uds::Listener as UdsListener;

use super::peers::iceoryx2::{self, Side};
use super::peers::ipc_channel;
use super::transport::Transport;
use crate::endpoint::{Recv, Send};
use crate::facade::{self, Waiting};
use crate::raw::{FutexMailbox, Mailbox, RawRing};
use crate::raw_io::{RawRead, RawWrite};
use crate::uds;

/// A sending end of any transport.
pub type Tx = Box<dyn Send>;
/// A receiving end of any transport.
pub type Rx = Box<dyn Recv>;

/// How long a peer keeps trying to reach a listener.
const DIAL_LIMIT: Duration = Duration::from_secs(10);

/// Bytes of each ring of the shared-memory rows, raw and ipclane alike, for messages of
/// `len` bytes: 64 KiB (inside L2), or room for four messages when they are larger.
pub fn ring_bytes(len: usize) -> usize {
    (64 << 10).max(4 * len.next_power_of_two())
}

/// The measuring side of a link, listening.
#[derive(Debug)]
pub struct Listening {
    transport: Transport,
    len: usize,
    address: String,
    state: State,
}

/// What a listening side holds until its peer comes.
#[derive(Debug)]
enum State {
    Facade(ipclane::Listener),
    Mailbox(Mailbox, Mailbox),
    FutexMailbox(FutexMailbox, FutexMailbox),
    RawRing(RawRing, RawRing),
    Unix(UdsListener),
    Pipe(Fifos),
    Tcp(TcpListener),
    Iceoryx2,
    IpcChannel(ipc_channel::Server),
}

/// The two segments of a raw shared-memory link `name`: this way, and back.
fn raw_names(name: &str) -> (String, String) {
    (format!("{name}-ab"), format!("{name}-ba"))
}

/// The two FIFOs of a pipe link `name`.
fn fifo_paths(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir();
    (
        dir.join(format!("{name}.ab.fifo")),
        dir.join(format!("{name}.ba.fifo")),
    )
}

/// The connection options of ipclane's rows: the transport's waiting, rings of
/// [`ring_bytes`].
fn facade_options(transport: Transport, len: usize) -> ipclane::Options {
    let waiting = if transport == Transport::ShmBusy {
        Waiting::BusyPoll
    } else {
        Waiting::Blocking
    };
    waiting.options().ring_capacity(ring_bytes(len))
}

/// The URL of ipclane's row `transport` for the link `name`.
fn facade_url(transport: Transport, name: &str) -> String {
    let path = std::env::temp_dir().join(format!("{name}.sock"));
    match transport {
        Transport::ShmBusy | Transport::ShmBlocking => format!("shm://{}", path.display()),
        Transport::Unix => format!("unix:@{name}"),
        Transport::Seqpacket => format!("seqpacket://{}", path.display()),
        Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
        other => unreachable!("{other} is no ipclane URL"),
    }
}

/// The address a listener of `transport` named `name` has, known before it listens:
/// what a peer dials to reach a listener that is another peer.
///
/// # Panics
///
/// For a transport whose address the listener learns only once it listens (TCP's port,
/// ipc-channel's server name).
pub fn address_of(transport: Transport, name: &str) -> String {
    match transport {
        Transport::Tcp | Transport::RawTcp | Transport::IpcChannel => {
            panic!("{transport} has no address before it listens")
        }
        Transport::ShmBusy | Transport::ShmBlocking | Transport::Unix | Transport::Seqpacket => {
            facade_url(transport, name)
        }
        _ => name.to_owned(),
    }
}

/// The iceoryx2 waiting of an iceoryx2 row.
fn iceoryx2_waiting(transport: Transport) -> iceoryx2::Waiting {
    if transport == Transport::Iceoryx2Busy {
        iceoryx2::Waiting::BusyPoll
    } else {
        iceoryx2::Waiting::Event
    }
}

/// Starts listening for a link named `name` (unique in this run) carrying messages of
/// up to `len` bytes.
///
/// # Panics
///
/// When the transport cannot listen.
pub fn listen(transport: Transport, name: &str, len: usize) -> Listening {
    let (ab, ba) = raw_names(name);
    let mut address = name.to_owned();
    let state = match transport {
        Transport::ShmBusy
        | Transport::ShmBlocking
        | Transport::Unix
        | Transport::Seqpacket
        | Transport::Tcp => {
            let url = facade_url(transport, name);
            let listener = facade_options(transport, len)
                .listen(&url)
                .unwrap_or_else(|e| panic!("listen on {url}: {e}"));
            address = listener.url().to_string();
            State::Facade(listener)
        }
        Transport::Mailbox => State::Mailbox(Mailbox::create(&ab, len), Mailbox::create(&ba, len)),
        Transport::FutexMailbox => State::FutexMailbox(
            FutexMailbox::create(&ab, len),
            FutexMailbox::create(&ba, len),
        ),
        Transport::RawRing => State::RawRing(
            RawRing::create(&ab, ring_bytes(len), len),
            RawRing::create(&ba, ring_bytes(len), len),
        ),
        Transport::RawUnix => State::Unix(uds::listen(&uds::address(name))),
        Transport::Pipe => {
            let (ab, ba) = fifo_paths(name);
            for path in [&ab, &ba] {
                rustix::fs::mkfifoat(
                    rustix::fs::CWD,
                    path,
                    rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
                )
                .unwrap_or_else(|e| panic!("make the FIFO {}: {e}", path.display()));
            }
            State::Pipe(Fifos(ab, ba))
        }
        Transport::RawTcp => {
            let listener = TcpListener::bind("127.0.0.1:0").expect("listen on the TCP loopback");
            address = listener.local_addr().expect("its address").to_string();
            State::Tcp(listener)
        }
        Transport::Iceoryx2Busy | Transport::Iceoryx2Event => State::Iceoryx2,
        Transport::IpcChannel => {
            let server = ipc_channel::Server::new();
            address = server.name().to_owned();
            State::IpcChannel(server)
        }
    };
    Listening {
        transport,
        len,
        address,
        state,
    }
}

impl Listening {
    /// What the peer dials.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The ipclane listener of an ipclane row, to accept more than one connection (a feed
    /// over sockets).
    ///
    /// # Panics
    ///
    /// For a row that is not ipclane's.
    pub fn into_facade(self) -> ipclane::Listener {
        match self.state {
            State::Facade(listener) => listener,
            _ => panic!("{} has no ipclane listener", self.transport),
        }
    }

    /// Waits for the peer and returns this side's two ends.
    ///
    /// # Panics
    ///
    /// When the peer does not come, or its handshake fails.
    pub fn accept(self) -> (Tx, Rx) {
        match self.state {
            State::Facade(listener) => {
                let conn = listener
                    .accept()
                    .unwrap_or_else(|e| panic!("accept on {}: {e}", self.address));
                let (tx, rx) = facade::ends(conn);
                (Box::new(tx), Box::new(rx))
            }
            State::Mailbox(tx, rx) => (Box::new(tx), Box::new(rx)),
            State::FutexMailbox(tx, rx) => (Box::new(tx), Box::new(rx)),
            State::RawRing(tx, rx) => (Box::new(tx), Box::new(rx)),
            State::Unix(listener) => stream_ends(uds::accept(&listener)),
            State::Pipe(fifos) => {
                // In the peer's order (this way first), so neither open waits for ever.
                let tx = open_fifo_writer(&fifos.0);
                let rx = File::open(&fifos.1).expect("open the FIFO");
                (Box::new(RawWrite(tx)), Box::new(RawRead::new(rx)))
            }
            State::Tcp(listener) => {
                let (stream, _) = listener.accept().expect("accept the TCP peer");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                let other = stream.try_clone().expect("duplicate the socket");
                (Box::new(RawWrite(stream)), Box::new(RawRead::new(other)))
            }
            State::Iceoryx2 => iceoryx2::duplex(
                &self.address,
                self.len,
                iceoryx2_waiting(self.transport),
                Side::A,
            ),
            State::IpcChannel(server) => {
                let (tx, rx) = server.accept();
                (Box::new(tx), Box::new(rx))
            }
        }
    }
}

/// The two FIFOs of a pipe link, removed once both sides opened them (or the link
/// failed).
#[derive(Debug)]
struct Fifos(PathBuf, PathBuf);

impl Drop for Fifos {
    fn drop(&mut self) {
        let _ = (std::fs::remove_file(&self.0), std::fs::remove_file(&self.1));
    }
}

/// Opens the FIFO at `path` for writing, once its reader has opened it (a writer's open
/// would otherwise wait for ever for a peer that failed).
fn open_fifo_writer(path: &std::path::Path) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = retrying(&format!("open the FIFO {}", path.display()), || {
        File::options()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
    });
    rustix::fs::fcntl_setfl(&fifo, rustix::fs::OFlags::empty()).expect("a blocking FIFO");
    fifo
}

/// The raw ends of a Unix stream socket.
fn stream_ends(stream: UnixStream) -> (Tx, Rx) {
    let other = stream.try_clone().expect("duplicate the socket");
    (Box::new(RawWrite(stream)), Box::new(RawRead::new(other)))
}

/// Calls `attempt` until it succeeds, for at most [`DIAL_LIMIT`].
fn retrying<T, E: std::fmt::Debug>(what: &str, attempt: impl FnMut() -> Result<T, E>) -> T {
    crate::retry::retry(what, DIAL_LIMIT, attempt)
}

/// The peer's side: connects to the link at `address` (from [`Listening::address`]) and
/// returns its two ends.
///
/// # Panics
///
/// When it cannot connect within ten seconds.
pub fn dial(transport: Transport, address: &str, len: usize) -> (Tx, Rx) {
    let (ab, ba) = raw_names(address);
    match transport {
        Transport::ShmBusy
        | Transport::ShmBlocking
        | Transport::Unix
        | Transport::Seqpacket
        | Transport::Tcp => {
            let options = facade_options(transport, len);
            let conn = retrying(&format!("connect to {address}"), || {
                options.connect(address)
            });
            let (tx, rx) = facade::ends(conn);
            (Box::new(tx), Box::new(rx))
        }
        Transport::Mailbox => (Box::new(Mailbox::open(&ba)), Box::new(Mailbox::open(&ab))),
        Transport::FutexMailbox => (
            Box::new(FutexMailbox::open(&ba)),
            Box::new(FutexMailbox::open(&ab)),
        ),
        Transport::RawRing => (
            Box::new(RawRing::open(&ba, len)),
            Box::new(RawRing::open(&ab, len)),
        ),
        Transport::RawUnix => stream_ends(uds::dial(&uds::address(address))),
        Transport::Pipe => {
            let (ab, ba) = fifo_paths(address);
            let rx = File::open(&ab).expect("open the FIFO");
            let tx = File::options()
                .write(true)
                .open(&ba)
                .expect("open the FIFO");
            (Box::new(RawWrite(tx)), Box::new(RawRead::new(rx)))
        }
        Transport::RawTcp => {
            let stream = retrying(&format!("connect to {address}"), || {
                TcpStream::connect(address)
            });
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let other = stream.try_clone().expect("duplicate the socket");
            (Box::new(RawWrite(stream)), Box::new(RawRead::new(other)))
        }
        Transport::Iceoryx2Busy | Transport::Iceoryx2Event => {
            iceoryx2::duplex(address, len, iceoryx2_waiting(transport), Side::B)
        }
        Transport::IpcChannel => {
            let (tx, rx) = ipc_channel::connect(address);
            (Box::new(tx), Box::new(rx))
        }
    }
}
