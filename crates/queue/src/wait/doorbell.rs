//! Waking a waiter that does not sleep on the futex: an async task, parked in its
//! runtime's reactor on a descriptor of its own.
//!
//! Such a waiter *arms* the word it waits on in its async form
//! ([`WakeWord::arm_async`](super::WakeWord::arm_async)): the waiter count then says an
//! async waiter is parked, and the notifier, on the out-of-line path that only runs when
//! somebody waits, rings the [`Doorbell`] the waiter's side handed it (a socket the
//! waiter's reactor watches, say). The protocol is the futex one with the bell in the
//! futex's place (see [`word`](super::word)); a steady stream whose receiver keeps up
//! never gets there, so it still costs no system call per message.
//!
//! The queue does not know what a bell is: the side that sets one up implements
//! [`Doorbell`] (`ipclane` rings a datagram socket whose other end is registered with
//! tokio).

use std::sync::Arc;

/// What a notifier rings to wake the async waiter of the other side (see the module
/// docs). Set on the notifying handle: [`Producer::set_doorbell`] rings the consumer's
/// async waits for data, [`Consumer::set_doorbell`] the producer's waits for room.
///
/// [`Producer::set_doorbell`]: crate::Producer::set_doorbell
/// [`Consumer::set_doorbell`]: crate::Consumer::set_doorbell
pub trait Doorbell: Send + Sync + std::fmt::Debug {
    /// Wakes the waiter. Called on the notifier's path (once per sleep of the waiter, not
    /// per message): it must not block, and a failure can only be dropped (the waiter's
    /// side is then as good as gone).
    fn ring(&self);
}

/// The doorbell a handle rings, if its peer's side gave one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bell(Option<Arc<dyn Doorbell>>);

impl Bell {
    /// No doorbell: an async waiter of this word is never woken (for structures whose
    /// waiters only sleep on the futex).
    pub(crate) const NONE: Bell = Bell(None);

    pub(crate) fn new(bell: Arc<dyn Doorbell>) -> Self {
        Self(Some(bell))
    }

    /// Rings it; `false` when there is none.
    pub(crate) fn ring(&self) -> bool {
        match &self.0 {
            Some(bell) => {
                bell.ring();
                true
            }
            None => false,
        }
    }
}

/// Whether a handle's async wait is armed: it arms once, however often a cancelled wait
/// is begun again, and disarms once.
#[derive(Debug, Default)]
pub(crate) struct AsyncArm(bool);

impl AsyncArm {
    /// Marks it armed: `true` when it was not, and the caller must now arm the word
    /// ([`WakeWord::arm_async`](super::WakeWord::arm_async)).
    pub(crate) fn arming(&mut self) -> bool {
        !std::mem::replace(&mut self.0, true)
    }

    /// Marks it disarmed: `true` when it was armed, and the caller must now disarm the
    /// word.
    pub(crate) fn disarming(&mut self) -> bool {
        std::mem::replace(&mut self.0, false)
    }
}
