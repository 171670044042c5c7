//! Which ipclane structure a segment's kind names.

use ipclane::queue::{Broadcast, LastValues, MpmcQueue, SpscRing};
use ipclane::segment::Kind;

/// The structure `kind` names: `spsc`, `mpmc`, `broadcast`, `last-values` (a keyed
/// feed's table), `bells` (a feed's table of async subscribers' doorbells),
/// `message-type` (a feed's declared message type), `listener` (an ipclane listener's
/// record: a socket), `subscriber` (a subscriber's record), `untyped` (a segment whose
/// creator named no kind) or `other` (another program's, or another layout version's).
pub(crate) fn name(kind: Kind) -> &'static str {
    match kind {
        k if k == SpscRing::KIND => "spsc",
        k if k == MpmcQueue::KIND => "mpmc",
        k if k == Broadcast::KIND => "broadcast",
        k if k == LastValues::KIND => "last-values",
        k if k == ipclane::BELLS_KIND => "bells",
        k if k == ipclane::MESSAGE_TYPE_KIND => "message-type",
        k if k == ipclane::LISTENER_KIND => "listener",
        k if k == ipclane::SUBSCRIBER_KIND => "subscriber",
        Kind::UNTYPED => "untyped",
        _ => "other",
    }
}
