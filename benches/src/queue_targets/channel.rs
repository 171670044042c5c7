//! The channels the checks measure, raw and ipclane, and how to make their ends.

/// The channels the latency and streaming checks measure, raw and ipclane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// [`Mailbox`](crate::raw::Mailbox): raw, for ping-pong.
    Mailbox,
    /// [`RawRing`](crate::raw::RawRing): raw, for streams.
    RawRing,
    /// [`HeaderRing`](crate::raw::HeaderRing): raw, ipclane's SPSC layout without its
    /// checks.
    HeaderRing,
    /// ipclane's SPSC ring, both sides spinning.
    Spsc,
    /// [`RawMpmc`](crate::raw::RawMpmc).
    RawMpmc,
    /// ipclane's MPMC queue.
    Mpmc,
    /// [`RawSeqlock`](crate::raw::RawSeqlock): a raw broadcast ring.
    Seqlock,
    /// ipclane's broadcast ring.
    Broadcast,
}

/// Slots of the MPMC queues and broadcast rings measured.
pub(crate) const SLOTS: usize = 256;

impl Channel {
    const ALL: [Channel; 8] = [
        Channel::Mailbox,
        Channel::RawRing,
        Channel::HeaderRing,
        Channel::Spsc,
        Channel::RawMpmc,
        Channel::Mpmc,
        Channel::Seqlock,
        Channel::Broadcast,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Mailbox => "mailbox",
            Channel::RawRing => "raw-ring",
            Channel::HeaderRing => "header-ring",
            Channel::Spsc => "spsc",
            Channel::RawMpmc => "raw-mpmc",
            Channel::Mpmc => "mpmc",
            Channel::Seqlock => "seqlock",
            Channel::Broadcast => "broadcast",
        }
    }

    pub(crate) fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("unknown channel {name}"))
    }
}

/// Calls `$body` with `$tx` and `$rx` bound to the two ends of `$channel` for messages
/// of `$len` bytes in segments `$a` (the sender's) and `$b` (the receiver's) of `$bytes`
/// (rings) or [`SLOTS`] slots, created when `$create` and opened otherwise: one generic
/// body, statically dispatched for each channel.
macro_rules! with_ends {
    ($channel:expr, $a:expr, $b:expr, $len:expr, $bytes:expr, $create:expr, |$tx:ident, $rx:ident| $body:expr) => {{
        let (a, b, len, bytes, create): (&str, &str, usize, usize, bool) =
            ($a, $b, $len, $bytes, $create);
        match $channel {
            $crate::queue_targets::channel::Channel::Mailbox => {
                let (mut $tx, mut $rx) = if create {
                    (
                        $crate::raw::Mailbox::create(a, len),
                        $crate::raw::Mailbox::create(b, len),
                    )
                } else {
                    ($crate::raw::Mailbox::open(a), $crate::raw::Mailbox::open(b))
                };
                $body
            }
            $crate::queue_targets::channel::Channel::RawRing => {
                let (mut $tx, mut $rx) = if create {
                    (
                        $crate::raw::RawRing::create(a, bytes, len),
                        $crate::raw::RawRing::create(b, bytes, len),
                    )
                } else {
                    (
                        $crate::raw::RawRing::open(a, len),
                        $crate::raw::RawRing::open(b, len),
                    )
                };
                $body
            }
            $crate::queue_targets::channel::Channel::HeaderRing => {
                let (mut $tx, mut $rx) = if create {
                    (
                        $crate::raw::HeaderRing::create(a, bytes),
                        $crate::raw::HeaderRing::create(b, bytes),
                    )
                } else {
                    (
                        $crate::raw::HeaderRing::open(a),
                        $crate::raw::HeaderRing::open(b),
                    )
                };
                $body
            }
            $crate::queue_targets::channel::Channel::Spsc => {
                let ring = |name| {
                    if create {
                        $crate::spsc::create(name, bytes)
                    } else {
                        $crate::spsc::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (
                    $crate::spsc::SpscSend::attach(ring(a), $crate::spsc::Wait::Spin),
                    $crate::spsc::SpscRecv::attach(ring(b), $crate::spsc::Wait::Spin),
                );
                $body
            }
            $crate::queue_targets::channel::Channel::RawMpmc => {
                let (mut $tx, mut $rx) = if create {
                    (
                        $crate::raw::RawMpmc::create(a, $crate::queue_targets::channel::SLOTS, len),
                        $crate::raw::RawMpmc::create(b, $crate::queue_targets::channel::SLOTS, len),
                    )
                } else {
                    (
                        $crate::raw::RawMpmc::open(a, $crate::queue_targets::channel::SLOTS, len),
                        $crate::raw::RawMpmc::open(b, $crate::queue_targets::channel::SLOTS, len),
                    )
                };
                $body
            }
            $crate::queue_targets::channel::Channel::Mpmc => {
                let queue = |name| {
                    if create {
                        $crate::mpmc::create(name, $crate::queue_targets::channel::SLOTS, len)
                    } else {
                        $crate::mpmc::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (
                    $crate::mpmc::MpmcSend::attach(queue(a)),
                    $crate::mpmc::MpmcRecv::attach(queue(b)),
                );
                $body
            }
            $crate::queue_targets::channel::Channel::Seqlock => {
                let (mut $tx, mut $rx) = if create {
                    (
                        $crate::raw::RawSeqlock::create(
                            a,
                            $crate::queue_targets::channel::SLOTS,
                            len,
                        ),
                        $crate::raw::RawSeqlock::create(
                            b,
                            $crate::queue_targets::channel::SLOTS,
                            len,
                        ),
                    )
                } else {
                    (
                        $crate::raw::RawSeqlock::open(
                            a,
                            $crate::queue_targets::channel::SLOTS,
                            len,
                        ),
                        $crate::raw::RawSeqlock::open(
                            b,
                            $crate::queue_targets::channel::SLOTS,
                            len,
                        ),
                    )
                };
                $body
            }
            $crate::queue_targets::channel::Channel::Broadcast => {
                let ring = |name| {
                    if create {
                        $crate::broadcast::create(name, $crate::queue_targets::channel::SLOTS, len)
                    } else {
                        $crate::broadcast::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (
                    $crate::broadcast::BroadcastSend::attach(ring(a)),
                    $crate::broadcast::BroadcastRecv::attach(ring(b)),
                );
                $body
            }
        }
    }};
}

/// Ring bytes of the SPSC rings and raw rings of the latency checks.
pub(crate) const PING_RING: usize = 1 << 16;

/// Ring bytes of the small rings of the latency checks: the smallest that takes a 1 KiB
/// record, so that a ping-pong keeps reusing a few lines, as a mailbox does.
pub(crate) const SMALL_RING: usize = 1 << 12;

pub(crate) use with_ends;
