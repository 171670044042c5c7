//! Which ipclane structure a segment's kind names.

use ipclane::queue::{Broadcast, MpmcQueue, SpscRing};
use ipclane::segment::Kind;

/// The structure `kind` names: `spsc`, `mpmc`, `broadcast`, `listener` (an ipclane
/// listener's record: a socket), `untyped` (a segment whose
/// creator named no kind) or `other` (another program's, or another layout version's).
pub(crate) fn name(kind: Kind) -> &'static str {
    match kind {
        k if k == SpscRing::KIND => "spsc",
        k if k == MpmcQueue::KIND => "mpmc",
        k if k == Broadcast::KIND => "broadcast",
        k if k == ipclane::LISTENER_KIND => "listener",
        k if k == ipclane::SUBSCRIBER_KIND => "subscriber",
        Kind::UNTYPED => "untyped",
        _ => "other",
    }
}
