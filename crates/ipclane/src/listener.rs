//! Listening on a URL and accepting connections.

use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

use crate::announce::{self, Announcement};
use crate::connection::tcp_ready;
use crate::uds::{self, UdsAddr};
use crate::{Connection, Error, Options, Url, shm};

/// Accepts connections on one URL, each with the listener's [`Options`]. A socket file
/// it bound is removed when it is dropped. While it lives, `ipclane ls` lists it: it holds
/// a small named segment recording its URL (see [`LISTENER_KIND`](crate::LISTENER_KIND)),
/// where `/dev/shm` takes one; a listener works without it.
#[derive(Debug)]
pub struct Listener {
    /// Its record for `ipclane ls`, if `/dev/shm` took it; dropped before the socket, so
    /// a listener that binds the address next never finds it still there.
    _announcement: Option<Announcement>,
    socket: Socket,
    options: Options,
    url: Url,
}

#[derive(Debug)]
enum Socket {
    Unix(uds::Listener),
    /// `shm:`: connections start on a Unix stream, with the handshakes under way.
    Shm(uds::Listener, Mutex<shm::Handshakes>),
    Seq(uds::SeqpacketListener),
    Tcp(TcpListener),
}

impl Listener {
    pub(crate) fn bind(url: Url, options: Options) -> Result<Self, Error> {
        let builder = || {
            uds::Listener::builder()
                .policy(options.policy.clone())
                .mode(options.socket_mode)
        };
        let local = |addr: &UdsAddr| builder().bind(addr);
        let (socket, url) = match url {
            Url::Unix(ref path) => (Socket::Unix(local(&UdsAddr::Path(path.clone()))?), url),
            Url::Shm(ref path) => (
                Socket::Shm(local(&UdsAddr::Path(path.clone()))?, Mutex::default()),
                url,
            ),
            Url::UnixAbstract(ref name) => (
                Socket::Unix(local(&UdsAddr::Abstract(name.as_bytes().to_vec()))?),
                url,
            ),
            Url::SeqPacket(ref path) => (
                Socket::Seq(builder().bind_seqpacket(&UdsAddr::Path(path.clone()))?),
                url,
            ),
            Url::Tcp { host, port } => {
                let listener =
                    TcpListener::bind((host.as_str(), port)).map_err(|source| Error::Io {
                        op: "bind the TCP listener",
                        source,
                    })?;
                let port = listener
                    .local_addr()
                    .map_err(|source| Error::Io {
                        op: "read the TCP listener's address",
                        source,
                    })?
                    .port();
                (Socket::Tcp(listener), Url::Tcp { host, port })
            }
        };
        // Best effort: the record serves `ipclane ls`, and a listener works without it
        // (no /dev/shm, no space there, or a live record under its URL's name).
        let announcement = announce::announce(&url).ok();
        Ok(Self {
            _announcement: announcement,
            socket,
            options,
            url,
        })
    }

    /// Waits for the next connection.
    ///
    /// On `shm:`, each client's handshake runs inside `accept`, all of them at once (up
    /// to 64; more clients wait in the socket's backlog): a client that is slow, silent
    /// or sends garbage delays nobody else, and is dropped, with the reason as this
    /// call's error, when its handshake fails or outlasts the handshake timeout. Calls
    /// from several threads take turns.
    ///
    /// When the process or the system is out of descriptors (or memory for a socket),
    /// `accept` waits 50 ms and tries once more before it returns that error, so a loop
    /// that calls it again does not spin while the client waits in the backlog.
    ///
    /// # Errors
    ///
    /// [`Error::Uds`] with [`PeerRejected`](crate::uds::UdsError::PeerRejected) for a
    /// client the access policy refuses, [`Error::Refused`] for a shared-memory client
    /// whose handshake failed (in both cases the client's connection is closed: call
    /// `accept` again for the next one), an error making a client's rings, or an OS
    /// error ([`Error::raw_os_error`] tells `EMFILE` and the like apart).
    pub fn accept(&self) -> Result<Connection, Error> {
        let url = self.url.clone();
        match &self.socket {
            Socket::Shm(listener, handshakes) => {
                let (halves, peer) = handshakes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .accept(listener, &url.to_string(), &self.options)?;
                Ok(Connection::shm(halves, peer, url, &self.options))
            }
            Socket::Unix(listener) => {
                let (socket, peer) = listener.accept()?;
                Connection::socket(socket.into(), Some(peer), url, &self.options)
            }
            Socket::Seq(listener) => {
                let (socket, peer) = listener.accept()?;
                Connection::seqpacket(socket, Some(peer), url, &self.options)
            }
            Socket::Tcp(listener) => {
                let (socket, _) =
                    uds::retry_when_exhausted(|| listener.accept()).map_err(|source| {
                        Error::Io {
                            op: "accept a TCP connection",
                            source,
                        }
                    })?;
                Connection::socket(tcp_ready(socket)?, None, url, &self.options)
            }
        }
    }

    /// Its listening socket, for the async front end; `None` on `shm:`, whose `accept`
    /// also runs handshakes.
    #[cfg(feature = "tokio")]
    pub(crate) fn socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match &self.socket {
            Socket::Unix(l) => Some(l.as_fd()),
            Socket::Seq(l) => Some(l.as_fd()),
            Socket::Tcp(l) => Some(l.as_fd()),
            Socket::Shm(..) => None,
        }
    }

    /// On `shm:`, its listening socket, for the async front end, which runs the
    /// handshakes itself; the options they follow.
    #[cfg(feature = "tokio")]
    pub(crate) fn shm_socket(&self) -> Option<(&uds::Listener, &Options)> {
        match &self.socket {
            Socket::Shm(listener, _) => Some((listener, &self.options)),
            _ => None,
        }
    }

    /// The URL it listens on: for `tcp://host:0`, with the port the system chose.
    pub fn url(&self) -> &Url {
        &self.url
    }
}
