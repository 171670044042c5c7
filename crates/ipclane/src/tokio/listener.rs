//! An async listener: the blocking listener's socket, non-blocking and registered with
//! tokio's reactor, so that `accept` waits for a client without a thread. On `shm:`,
//! each client's handshake runs as a task of its own (at most 64 at once, as the
//! blocking listener runs them), so a slow or silent client holds up nobody else.

use std::future::poll_fn;
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;

use ::tokio::io::Interest;
use ::tokio::task::JoinSet;

use super::Connection;
use super::ready::{Ready, waiting};
use crate::shm::{MAX_HANDSHAKES, Pending, Step};
use crate::{Error, Options, Url};

/// Accepts connections on one URL, as the blocking [`Listener`](crate::Listener) does
/// (same access policy, same options, same socket file removed on drop, same `ipclane
/// ls` record).
#[derive(Debug)]
pub struct Listener {
    inner: crate::Listener,
    ready: Ready,
    /// On `shm:`, the handshakes under way.
    handshakes: Option<Mutex<JoinSet<Result<crate::Connection, Error>>>>,
}

impl Listener {
    pub(super) fn from_blocking(inner: crate::Listener) -> Result<Self, Error> {
        let (socket, handshakes) = match (inner.socket(), inner.shm_socket()) {
            (Some(socket), _) => (socket, None),
            (None, Some((listener, _))) => (listener.as_fd(), Some(Mutex::default())),
            (None, None) => return Err(super::connection::unserved()),
        };
        // Non-blocking, so that an `accept` after a readiness another task took returns
        // EAGAIN instead of waiting (the flag is the socket's: the blocking listener
        // inside sees it too, and is only called when ready).
        rustix::io::ioctl_fionbio(socket, true).map_err(|e| Error::Io {
            op: "make the listening socket non-blocking",
            source: e.into(),
        })?;
        let ready = Ready::new(socket, Interest::READABLE)?;
        Ok(Self {
            inner,
            ready,
            handshakes,
        })
    }

    /// Waits for the next connection.
    ///
    /// Cancel-safe: dropped before it completes, it accepted nobody (a client waiting
    /// stays in the backlog for the next call; on `shm:`, a handshake under way goes on,
    /// and its connection is the next call's). On sockets, calls from several tasks take
    /// turns; on `shm:`, accept from one task at a time (the reactor wakes one caller).
    ///
    /// # Errors
    ///
    /// Those of the blocking [`Listener::accept`](crate::Listener::accept): a client the
    /// access policy refuses (its connection is closed; call `accept` again), on `shm:`
    /// a handshake that failed or timed out, or an OS error. Out of descriptors, it waits
    /// 50 ms and tries once more, as the blocking one does, on the task's thread.
    pub async fn accept(&self) -> Result<Connection, Error> {
        if let Some(handshakes) = &self.handshakes {
            let conn = self.accept_shm(handshakes).await?;
            return Connection::from_blocking(conn);
        }
        loop {
            let mut readable = self.ready.0.readable().await.map_err(waiting)?;
            match self.inner.accept() {
                Ok(conn) => return Connection::from_blocking(conn),
                Err(e) if is_again(&e) => readable.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next `shm:` connection whose handshake succeeded, taking new clients into
    /// handshakes of their own meanwhile.
    async fn accept_shm(
        &self,
        handshakes: &Mutex<JoinSet<Result<crate::Connection, Error>>>,
    ) -> Result<crate::Connection, Error> {
        let Some((listener, options)) = self.inner.shm_socket() else {
            return Err(super::connection::unserved());
        };
        poll_fn(|cx| {
            let mut set = handshakes.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Poll::Ready(Some(done)) = set.poll_join_next(cx) {
                    return Poll::Ready(done.unwrap_or_else(|e| {
                        Err(Error::Io {
                            op: "run an shm handshake",
                            source: std::io::Error::other(e.to_string()),
                        })
                    }));
                }
                // Clients beyond it wait in the backlog (the JoinSet wakes us when one
                // of those under way ends).
                if set.len() >= MAX_HANDSHAKES {
                    return Poll::Pending;
                }
                let mut readable = match self.ready.0.poll_read_ready(cx) {
                    Poll::Ready(Ok(readable)) => readable,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(waiting(e))),
                    Poll::Pending => return Poll::Pending,
                };
                match listener.accept().map_err(Error::from) {
                    Ok((socket, peer)) => match Pending::new(socket, peer, options) {
                        Ok(pending) => {
                            set.spawn(handshake(
                                pending,
                                self.inner.url().clone(),
                                options.clone(),
                            ));
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    },
                    Err(e) if is_again(&e) => readable.clear_ready(),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        })
        .await
    }

    /// The URL it listens on: for `tcp://host:0`, with the port the system chose.
    pub fn url(&self) -> &Url {
        self.inner.url()
    }
}

/// Whether `e` is the EAGAIN of a non-blocking accept with nobody waiting.
fn is_again(e: &Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::AGAIN.raw_os_error())
}

/// One client's `shm:` handshake, within the handshake timeout.
async fn handshake(
    mut pending: Pending,
    url: Url,
    options: Options,
) -> Result<crate::Connection, Error> {
    let name = url.to_string();
    let ready = Ready::new(pending.socket(), Interest::READABLE)?;
    let deadline = pending.deadline();
    let run = async {
        loop {
            let mut readable = ready.0.readable().await.map_err(waiting)?;
            loop {
                match pending.advance(&name, &options)? {
                    Step::Waiting { blocked: true } => {
                        readable.clear_ready();
                        break;
                    }
                    Step::Waiting { blocked: false } => {}
                    Step::Connected => return Ok::<(), Error>(()),
                }
            }
        }
    };
    match deadline {
        Some(deadline) => ::tokio::time::timeout_at(deadline.into(), run)
            .await
            .map_err(|_| {
                Error::refused(
                    &name,
                    format!(
                        "no {} within the handshake timeout of {:?}",
                        pending.awaiting(),
                        options.handshake_timeout
                    ),
                )
            })??,
        None => run.await?,
    }
    drop(ready);
    let (halves, peer) = pending.finish(&options)?;
    Ok(crate::Connection::shm(halves, peer, url, &options))
}
