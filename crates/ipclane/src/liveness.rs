//! How often a non-blocking call asks whether its peer still lives: a blocking call finds
//! a dead peer through the queue's wait loop, but `try_recv` and `try_send` never wait,
//! and a killed peer never marks its side closed. So they ask the peer's segment claim
//! (a system call) when they find nothing to do, at most once per liveness period.
//!
//! This sits here, not in the queue's own `try_*` calls, on purpose: a spinning SPSC
//! consumer calls `try_read` tens of millions of times a second, and the clock reading
//! this needs would be on that path (MPMC's try calls count misses instead, since they
//! repair slots of dead peers anyway). The facade's non-blocking calls are where a
//! program polls between other work, so that is where the question is asked.

use std::time::{Duration, Instant};

/// When the peer was last asked about.
#[derive(Debug)]
pub(crate) struct Liveness {
    period: Duration,
    /// `None`: ask at the next look.
    asked: Option<Instant>,
}

impl Liveness {
    pub(crate) fn new(period: Duration) -> Self {
        Self {
            period,
            asked: Some(Instant::now()),
        }
    }

    /// Whether it is time to ask again (and, if so, counts this as asking).
    pub(crate) fn due(&mut self) -> bool {
        let now = Instant::now();
        if self
            .asked
            .is_none_or(|asked| now.saturating_duration_since(asked) >= self.period)
        {
            self.asked = Some(now);
            true
        } else {
            false
        }
    }

    /// Makes the next look ask, whenever the last was (the peer's socket just closed).
    #[cfg(feature = "tokio")]
    pub(crate) fn ask_next(&mut self) {
        self.asked = None;
    }
}
