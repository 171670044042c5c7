//! Listening sockets: stream (`SOCK_STREAM`) and seqpacket (`SOCK_SEQPACKET`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::io::Errno;
use rustix::net::{SocketFlags, SocketType};

use crate::bind::{self, Bound};
use crate::{
    AccessPolicy, PeerCredentials, SeqpacketStream, UdsAddr, UdsError, retry_when_exhausted,
};

/// Settings of a listener: mode of its socket file, access policy, backlog.
///
/// Ends in [`bind`](Self::bind) (stream) or [`bind_seqpacket`](Self::bind_seqpacket).
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    mode: u32,
    policy: AccessPolicy,
    backlog: i32,
}

impl Default for ListenerBuilder {
    fn default() -> Self {
        Self {
            mode: 0o600,
            policy: AccessPolicy::same_user(),
            backlog: 128,
        }
    }
}

impl ListenerBuilder {
    /// Permission bits of the socket file (default `0o600`: only this user can connect),
    /// set exactly, whatever the umask. Abstract addresses have no file and ignore it.
    ///
    /// The file is created with these bits by the `bind` call itself (the socket's own
    /// mode, set with `fchmod` before binding, under a umask of 0 private to a helper
    /// thread); the path is never resolved again to change the mode, so a file or symbolic
    /// link swapped in at the path by another user can never have its mode changed. Where
    /// no private umask is available (`unshare(CLONE_FS)` refused by a seccomp filter) and
    /// the process umask removes some of these bits, `bind` fails with
    /// [`UdsError::ModeNotApplied`] rather than widen the file afterwards; the default
    /// `0o600` is only affected by a umask that removes the owner's bits. No owner or group
    /// is changed (`chown`): the file belongs to the binding process's user and group.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Which peers `accept` hands out (default: the same user).
    pub fn policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Length of the queue of pending connections (default 128).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Binds a stream listener to `addr`.
    ///
    /// # Errors
    ///
    /// [`UdsError::AddrInUse`] when a live socket listens there,
    /// [`UdsError::NotASocket`] when something else is at the path (also when the fresh
    /// socket file was replaced before `bind` returned), [`UdsError::ModeNotApplied`],
    /// [`UdsError::InvalidAddress`], [`UdsError::PermissionDenied`], or an OS error.
    pub fn bind(self, addr: &UdsAddr) -> Result<Listener, UdsError> {
        Ok(Listener {
            bound: bind::bind(SocketType::STREAM, addr, self.mode, Some(self.backlog))?,
            policy: self.policy,
        })
    }

    /// Binds a seqpacket listener to `addr`.
    ///
    /// # Errors
    ///
    /// Those of [`bind`](Self::bind).
    pub fn bind_seqpacket(self, addr: &UdsAddr) -> Result<SeqpacketListener, UdsError> {
        Ok(SeqpacketListener {
            bound: bind::bind(SocketType::SEQPACKET, addr, self.mode, Some(self.backlog))?,
            policy: self.policy,
        })
    }
}

/// Accepts the next connection of `bound` that `policy` permits.
fn accept(bound: &Bound, policy: &AccessPolicy) -> Result<(OwnedFd, PeerCredentials), UdsError> {
    let fd = retry_when_exhausted(|| {
        loop {
            match rustix::net::accept_with(&bound.fd, SocketFlags::CLOEXEC) {
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                accepted => return accepted.map_err(io::Error::from),
            }
        }
    })
    .map_err(|source| UdsError::Io {
        op: "accept",
        source,
    })?;
    // A refused peer's connection is closed here, when `fd` drops.
    let credentials = policy.check(&fd)?;
    Ok((fd, credentials))
}

/// A listening Unix stream socket with a safe lifecycle (see [`ListenerBuilder`]).
///
/// The socket file is created with mode 0600 (by default), a stale one left by a crashed
/// server is reclaimed only once nobody listens on it, anything else at the path is never
/// touched, and the file is removed when the listener is dropped.
///
/// # Examples
///
/// ```
/// use ipclane_uds::{connect, FramedStream, Listener};
///
/// let path = std::env::temp_dir().join(format!("ipclane-doc-{}.sock", std::process::id()));
/// let addr = path.as_path().into();
/// let listener = Listener::bind(&addr)?;
/// let client = std::thread::spawn(move || -> Result<(), ipclane_uds::UdsError> {
///     FramedStream::new(connect(&addr)?).write_frame(b"hi")
/// });
/// let (stream, peer) = listener.accept()?;
/// assert_eq!(peer.pid, std::process::id());
/// assert_eq!(FramedStream::new(stream).read_frame()?.as_deref(), Some(&b"hi"[..]));
/// client.join().unwrap()?;
/// drop(listener);
/// assert!(!path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    bound: Bound,
    policy: AccessPolicy,
}

impl Listener {
    /// Binds a stream listener with the default settings (mode 0600, same-user policy).
    ///
    /// # Errors
    ///
    /// Those of [`ListenerBuilder::bind`].
    pub fn bind(addr: &UdsAddr) -> Result<Self, UdsError> {
        ListenerBuilder::default().bind(addr)
    }

    /// A builder for other settings.
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder::default()
    }

    /// Waits for a connection from a peer the access policy permits.
    ///
    /// Out of descriptors or memory, it waits [`ACCEPT_BACKOFF`](crate::ACCEPT_BACKOFF)
    /// and tries once more before it returns the error, so a loop calling it does not spin
    /// while the client waits in the backlog ([`retry_when_exhausted`]).
    ///
    /// # Errors
    ///
    /// [`UdsError::PeerRejected`] when the next peer is refused (its connection is closed;
    /// call `accept` again for the next one), or an OS error.
    pub fn accept(&self) -> Result<(UnixStream, PeerCredentials), UdsError> {
        let (fd, credentials) = accept(&self.bound, &self.policy)?;
        Ok((UnixStream::from(fd), credentials))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> &UdsAddr {
        &self.bound.addr
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.bound.as_fd()
    }
}

/// A listening `SOCK_SEQPACKET` socket: connections keep message boundaries. Same
/// lifecycle as [`Listener`].
#[derive(Debug)]
pub struct SeqpacketListener {
    bound: Bound,
    policy: AccessPolicy,
}

impl SeqpacketListener {
    /// Binds with the default settings (mode 0600, same-user policy).
    ///
    /// # Errors
    ///
    /// Those of [`ListenerBuilder::bind`].
    pub fn bind(addr: &UdsAddr) -> Result<Self, UdsError> {
        ListenerBuilder::default().bind_seqpacket(addr)
    }

    /// Waits for a connection from a peer the access policy permits.
    ///
    /// # Errors
    ///
    /// Those of [`Listener::accept`].
    pub fn accept(&self) -> Result<(SeqpacketStream, PeerCredentials), UdsError> {
        let (fd, credentials) = accept(&self.bound, &self.policy)?;
        Ok((SeqpacketStream::from(fd), credentials))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> &UdsAddr {
        &self.bound.addr
    }
}

impl AsFd for SeqpacketListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.bound.as_fd()
    }
}

/// Connects a Unix stream socket to `addr`.
///
/// # Errors
///
/// [`UdsError::NotListening`], [`UdsError::PermissionDenied`],
/// [`UdsError::InvalidAddress`], or an OS error.
pub fn connect(addr: &UdsAddr) -> Result<UnixStream, UdsError> {
    Ok(UnixStream::from(bind::connect(SocketType::STREAM, addr)?))
}
