//! `ipclane inspect NAME`.

use ipclane::queue::{Broadcast, MpmcQueue, SideStatus, SpscRing};
use ipclane::segment::Segment;
use serde::Serialize;

/// What one segment holds, as printed.
#[derive(Debug, Serialize)]
struct Report {
    name: String,
    kind: &'static str,
    bytes: usize,
    owner_alive: bool,
    /// Handles attached to the segment, this inspection's included.
    attached: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    ring: Option<Ring>,
    /// For a listener's record: the URL it listens on.
    #[serde(skip_serializing_if = "Option::is_none")]
    listens_on: Option<String>,
}

/// A ring's figures.
#[derive(Debug, Serialize)]
#[serde(tag = "structure", rename_all = "lowercase")]
enum Ring {
    Spsc {
        capacity: u64,
        queued_bytes: u64,
        consumer_position: u64,
        producer: &'static str,
        consumer: &'static str,
    },
    Mpmc {
        capacity: u64,
        slot_size: u64,
        queued: u64,
        enqueued: u64,
        dequeued: u64,
        producers: u32,
        consumers: u32,
        abandoned_pushes: u64,
        abandoned_pops: u64,
    },
    Broadcast {
        capacity: u64,
        slot_size: u64,
        published: u64,
        writer: &'static str,
        /// Readers attached: the segment's handles less the writer's and this
        /// inspection's.
        readers: usize,
        /// The facade's subscribers, from their records: where each is, and how far
        /// behind what was published.
        subscribers: Vec<Subscriber>,
    },
}

/// One subscriber of a feed.
#[derive(Debug, Serialize)]
struct Subscriber {
    pid: u32,
    position: u64,
    /// Messages published that it has not received yet.
    lag: u64,
    /// More than half the ring behind.
    lagging: bool,
    /// Messages it has not received were overwritten.
    lapped: bool,
    alive: bool,
}

fn side(status: SideStatus) -> &'static str {
    match status {
        SideStatus::Free => "free",
        SideStatus::Alive => "alive",
        SideStatus::Dead => "dead",
        SideStatus::Closed => "closed",
        _ => "unknown",
    }
}

pub(crate) fn run(name: &str, json: bool) -> Result<(), ipclane::Error> {
    let segment = Segment::named(name).open()?;
    let kind = super::kind::name(segment.kind());
    let attached = segment.attached()?;
    let ring = match kind {
        "spsc" => {
            let s = SpscRing::status(&segment)?;
            Some(Ring::Spsc {
                capacity: s.capacity,
                queued_bytes: s.queued_bytes(),
                consumer_position: s.consumer_position,
                producer: side(s.producer),
                consumer: side(s.consumer),
            })
        }
        "mpmc" => {
            let s = MpmcQueue::status(&segment)?;
            Some(Ring::Mpmc {
                capacity: s.capacity,
                slot_size: s.slot_size,
                queued: s.queued(),
                enqueued: s.enqueued,
                dequeued: s.dequeued,
                producers: s.producers,
                consumers: s.consumers,
                abandoned_pushes: s.abandoned.pushes,
                abandoned_pops: s.abandoned.pops,
            })
        }
        "broadcast" => {
            let s = Broadcast::status(&segment)?;
            let writer = usize::from(s.writer == SideStatus::Alive);
            let subscribers = ipclane::subscribers(name)?
                .into_iter()
                .map(|sub| Subscriber {
                    pid: sub.pid,
                    position: sub.position,
                    lag: sub.lag,
                    lagging: sub.lagging,
                    lapped: sub.lapped,
                    alive: sub.alive,
                })
                .collect();
            Some(Ring::Broadcast {
                capacity: s.capacity,
                slot_size: s.slot_size,
                published: s.published,
                writer: side(s.writer),
                readers: attached.saturating_sub(writer + 1),
                subscribers,
            })
        }
        _ => None,
    };
    let report = Report {
        name: name.to_owned(),
        kind,
        bytes: segment.len(),
        owner_alive: segment.owner_alive()?,
        attached,
        ring,
        listens_on: (kind == "listener")
            .then(|| ipclane::announced_url(&segment))
            .flatten(),
    };
    if json {
        return super::print_json(&report);
    }
    println!("{} ({kind}, {} bytes)", report.name, report.bytes);
    println!("  owner alive: {}", report.owner_alive);
    println!(
        "  attached handles: {} (this inspection included)",
        report.attached
    );
    match &report.ring {
        Some(Ring::Spsc {
            capacity,
            queued_bytes,
            consumer_position,
            producer,
            consumer,
        }) => {
            println!(
                "  ring: {capacity} bytes, {queued_bytes} queued (fill {:.1}%)",
                fill(*queued_bytes, *capacity)
            );
            println!("  consumer position: {consumer_position}");
            println!("  producer: {producer}, consumer: {consumer}");
        }
        Some(Ring::Mpmc {
            capacity,
            slot_size,
            queued,
            enqueued,
            dequeued,
            producers,
            consumers,
            abandoned_pushes,
            abandoned_pops,
        }) => {
            println!(
                "  queue: {capacity} slots of {slot_size} bytes, {queued} queued (fill {:.1}%)",
                fill(*queued, *capacity)
            );
            println!("  enqueued {enqueued}, dequeued {dequeued}");
            println!("  producers: {producers}, consumers: {consumers}");
            println!("  left by dead peers: {abandoned_pushes} pushes, {abandoned_pops} pops");
        }
        Some(Ring::Broadcast {
            capacity,
            slot_size,
            published,
            writer,
            readers,
            subscribers,
        }) => {
            println!("  ring: {capacity} slots of {slot_size} bytes, {published} published");
            println!("  writer: {writer}, readers attached: {readers}");
            println!("  subscribers: {}", subscribers.len());
            for sub in subscribers {
                let mark = if sub.lapped {
                    " (lapped)"
                } else if sub.lagging {
                    " (lagging)"
                } else {
                    ""
                };
                println!(
                    "  subscriber {}: at {}, {} behind{mark}, {}",
                    sub.pid,
                    sub.position,
                    sub.lag,
                    if sub.alive { "alive" } else { "dead" }
                );
            }
        }
        None => match &report.listens_on {
            Some(url) => println!("  a listener on {url}"),
            None if report.kind == "subscriber" => {
                println!("  a subscriber's record (see `ipclane inspect` of its feed)")
            }
            None => println!("  not an ipclane ring"),
        },
    }
    Ok(())
}

/// `part` of `whole`, in percent.
fn fill(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
