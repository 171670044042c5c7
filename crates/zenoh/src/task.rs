//! What a bridge's thread runs, and how its handle tells it to stop.

use std::future::Future;

use tokio::sync::watch;

use crate::Error;

/// A bridge's work once its session is open.
pub(crate) trait Task {
    /// Forwards until `stop` says so (or an error it cannot get past).
    fn run(self, stop: Stop) -> impl Future<Output = Result<(), Error>>;
}

/// Whether the handle asked its bridge to stop.
#[derive(Debug)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Watches `stopped`, which the handle sets (or drops) to stop its bridge.
    pub(crate) fn new(stopped: watch::Receiver<bool>) -> Self {
        Self(stopped)
    }

    /// Completes once a stop is asked for (or the handle is gone). Cancel-safe.
    pub(crate) async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether a stop was asked for (or the handle is gone), now.
    pub(crate) fn is_requested(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }
}
