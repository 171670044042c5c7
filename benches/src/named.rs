//! What the ipclane transports share: their named segments, and spinning on a
//! non-blocking receive.

use std::sync::Arc;

use ipclane::queue::QueueError;
use ipclane::segment::{Kind, Segment};

/// The segment `made` for `what` (say, "SPSC ring"), shared by the handles attached to it.
///
/// # Panics
///
/// When it could not be created: a measurement without its channel has no result.
pub(crate) fn created(what: &str, name: &str, made: Result<Segment, QueueError>) -> Arc<Segment> {
    Arc::new(made.unwrap_or_else(|e| panic!("create {what} {name}: {e}")))
}

/// Opens the segment `name` of `kind`.
///
/// # Panics
///
/// When it cannot be opened.
pub(crate) fn opened(what: &str, name: &str, kind: Kind) -> Arc<Segment> {
    Arc::new(
        Segment::named(name)
            .kind(kind)
            .open()
            .unwrap_or_else(|e| panic!("open {what} {name}: {e}")),
    )
}

/// Spins on `attempt` (which copies a record into `buf` and returns its length) until it
/// yields a record, counting one wait in `waits` when the first attempt found nothing.
///
/// # Panics
///
/// On any error but `Empty` (a record larger than `buf` included).
pub(crate) fn spin_recv(
    what: &str,
    waits: &mut u64,
    buf: &mut [u8],
    mut attempt: impl FnMut(&mut [u8]) -> Result<usize, QueueError>,
) -> usize {
    let mut first = true;
    loop {
        match attempt(buf) {
            Ok(len) => return len,
            Err(QueueError::Empty) => {
                if std::mem::take(&mut first) {
                    *waits += 1;
                }
                std::hint::spin_loop()
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}
