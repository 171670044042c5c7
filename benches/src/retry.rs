//! Waiting, with a deadline, for the other process of a measurement to be there: a
//! listener to connect to, a service to open, a subscriber to register.

use std::time::{Duration, Instant};

/// Calls `attempt` until it succeeds, for at most `limit`.
///
/// # Panics
///
/// When it still fails after `limit`, naming `what` and the last error.
pub fn retry<T, E: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut attempt: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e:?} after {limit:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Waits until `ready`, for at most `limit`.
///
/// # Panics
///
/// When it is not after `limit`, naming `what`.
pub fn await_ready(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what}: not there after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
