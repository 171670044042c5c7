//! What a bridge has done so far, read while it runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A bridge's counts, as [`Bridge::stats`](crate::Bridge::stats) reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records forwarded: published on Zenoh (outbound), or into the local feed (inbound).
    pub records: u64,
    /// Records lost before this bridge: outbound, those of the feed it was lapped on (the
    /// local `Lagged { missed }`); inbound, those its sources published that never arrived
    /// (gaps in their sequence numbers), whoever missed them.
    pub missed: u64,
    /// Inbound: of [`missed`](Self::missed), those the outbound bridge said it missed
    /// itself (the rest were lost between the two bridges).
    pub missed_at_source: u64,
    /// Inbound: records that arrived twice (a restarted outbound bridge sent them again),
    /// dropped.
    pub duplicates: u64,
    /// Inbound: samples refused: not a bridged record, or too large for the local feed.
    pub rejected: u64,
    /// Runs of the feed's publisher seen: outbound, attachments to the feed (the first,
    /// then one per publisher restart); inbound, sources seen.
    pub sources: u64,
    /// Outbound: whether the bridge reads a live feed now.
    pub attached: bool,
    /// Whether the other side is there now: outbound, a Zenoh subscriber matches the key;
    /// inbound, an outbound bridge publishes on the key expression.
    pub matched: bool,
}

/// The counts, shared between a bridge's task and its handle.
///
/// Every access is `Relaxed`: each count and flag is read on its own, as a figure to
/// report, and orders no other memory (nothing is published through them; a snapshot's
/// fields may be a moment apart).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records: AtomicU64,
    pub(crate) missed: AtomicU64,
    pub(crate) missed_at_source: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) sources: AtomicU64,
    pub(crate) attached: AtomicBool,
    pub(crate) matched: AtomicBool,
}

impl Counters {
    /// Adds `n` to `counter`, saturating: a remote side's header can say any number, and
    /// a count must not wrap back to small.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
            Some(c.saturating_add(n))
        });
    }

    /// Sets `flag`.
    pub(crate) fn set(flag: &AtomicBool, on: bool) {
        flag.store(on, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn read(&self) -> Stats {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            records: n(&self.records),
            missed: n(&self.missed),
            missed_at_source: n(&self.missed_at_source),
            duplicates: n(&self.duplicates),
            rejected: n(&self.rejected),
            sources: n(&self.sources),
            attached: self.attached.load(Ordering::Relaxed),
            matched: self.matched.load(Ordering::Relaxed),
        }
    }
}
