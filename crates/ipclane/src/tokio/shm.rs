//! Shared memory, awaited. A half looks at its ring as the blocking one does (spinning
//! while that pays); where the blocking one would sleep on the futex, it arms its wait
//! in the async form and awaits its doorbell, a datagram socket the peer's ring rings
//! (see `shm/bell.rs`), together with the connection's socket, which closes when the
//! peer closes or dies. No thread, no timer: the reactor wakes it for one of the two.

use std::future::poll_fn;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;

use ::tokio::io::Interest;

use super::ready::{Ready, waiting};
use crate::Error;
use crate::shm::{self, Look, ShmReceiver, ShmSender};

/// What an async half awaits: its bell and the connection's socket.
#[derive(Debug)]
pub(super) struct Waits {
    bell: Ready,
    control: Ready,
}

/// What woke a half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Woken {
    /// Its bell rang.
    Rung,
    /// The connection's socket closed: the peer closed or died.
    PeerClosed,
}

impl Waits {
    /// Registers `bell` and the connection's socket (of `half`'s shared part).
    pub(super) fn new(bell: OwnedFd, shared: &shm::ConnectionShared) -> Result<Self, Error> {
        Ok(Self {
            bell: Ready::new(bell.as_fd(), Interest::READABLE)?,
            control: Ready::new(shared.socket(), Interest::READABLE)?,
        })
    }

    /// Waits for a ring or the peer's end of the socket, and takes what woke it: the
    /// rings queued on the bell, what the peer sent on the socket (its own bells).
    /// Cancel-safe: it takes nothing a later call would miss.
    pub(super) async fn woken(&self, shared: &shm::ConnectionShared) -> Result<Woken, Error> {
        poll_fn(|cx| {
            loop {
                match self.bell.0.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut ready)) => {
                        shm::drain(ready.get_inner().as_fd());
                        ready.clear_ready();
                        return Poll::Ready(Ok(Woken::Rung));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(waiting(e))),
                    Poll::Pending => {}
                }
                match self.control.0.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut ready)) => match shared.peer_bells().look(shared.socket()) {
                        // Readable for good: not cleared.
                        Look::Closed => return Poll::Ready(Ok(Woken::PeerClosed)),
                        // The peer's bells, now read: look again, to register.
                        Look::Quiet => ready.clear_ready(),
                    },
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(waiting(e))),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }
}

/// A shared-memory half whose wait can be armed in the async form.
pub(super) trait Arming {
    fn arm_async(&mut self);
    fn disarm_async(&mut self);
    /// The connection's socket closed: the next look asks whether the peer lives.
    fn peer_socket_closed(&mut self);
}

impl Arming for ShmReceiver {
    fn arm_async(&mut self) {
        ShmReceiver::arm_async(self);
    }
    fn disarm_async(&mut self) {
        ShmReceiver::disarm_async(self);
    }
    fn peer_socket_closed(&mut self) {
        ShmReceiver::peer_socket_closed(self);
    }
}

impl Arming for ShmSender {
    fn arm_async(&mut self) {
        ShmSender::arm_async(self);
    }
    fn disarm_async(&mut self) {
        ShmSender::disarm_async(self);
    }
    fn peer_socket_closed(&mut self) {
        ShmSender::peer_socket_closed(self);
    }
}

/// Which look of [`until`]'s loop an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    /// Before arming: may spin while that pays.
    First,
    /// After arming, before awaiting: must not wait.
    Last,
}

/// Awaits until `attempt` on `half` yields: the loop of every async shared-memory wait.
/// The half is behind a lock, never held across an await (a sender shares it with the
/// task that writes a message's tail).
///
/// Cancel-safe when `attempt` is: an armed wait stays armed (arming again does nothing),
/// and the next call goes on.
pub(super) async fn until<H: Arming, T>(
    waits: &Waits,
    shared: &shm::ConnectionShared,
    half: &Mutex<H>,
    mut attempt: impl FnMut(&mut H, Attempt) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let lock = || half.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        {
            let mut h = lock();
            let mut done = attempt(&mut h, Attempt::First);
            if matches!(done, Ok(None)) {
                h.arm_async();
                // The last look: after arming, so a notification after it rings.
                done = attempt(&mut h, Attempt::Last);
            }
            match done {
                Ok(None) => {}
                Ok(Some(v)) => {
                    h.disarm_async();
                    return Ok(v);
                }
                Err(e) => {
                    h.disarm_async();
                    return Err(e);
                }
            }
        }
        let woken = waits.woken(shared).await?;
        {
            let mut h = lock();
            h.disarm_async();
            if woken == Woken::PeerClosed {
                h.peer_socket_closed();
            }
        }
        if woken == Woken::PeerClosed {
            // Its rings' claims go a moment after its socket: let others run meanwhile.
            ::tokio::task::yield_now().await;
        }
    }
}
