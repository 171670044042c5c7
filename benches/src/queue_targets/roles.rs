//! The peer roles of the checks.

use std::time::Duration;

use super::channel::{Channel, SLOTS, with_ends};
use super::stream;
use crate::endpoint;
use crate::mpmc::{self, MpmcSend};
use crate::peer;
use crate::raw::{FutexMailbox, HeaderRing, RawMpmc, RawRing};
use crate::spsc::{self, SpscSend, Wait};

/// Plays the peer `role` of one of the checks above; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the check passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    if crate::instructions::play(role, args) {
        return true;
    }
    let num = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{role}: argument {i}"))
    };
    match role {
        "echo" => {
            // The ping end is the one this peer receives from; the pong end it sends on.
            let (channel, len, count) = (Channel::parse(&args[0]), num(3) as usize, num(4));
            with_ends!(
                channel,
                &args[2],
                &args[1],
                len,
                num(5) as usize,
                false,
                |tx, rx| {
                    endpoint::echo(&mut tx, &mut rx, len, count)
                        .unwrap_or_else(|e| panic!("{} echo: {e}", channel.name()));
                }
            );
        }
        "produce" => {
            let (ring, len, count, batch) = (&args[1], num(2) as usize, num(3), num(4));
            match Channel::parse(&args[0]) {
                Channel::RawRing => {
                    stream::produce(&mut RawRing::open(ring, len), ring, len, count, batch)
                }
                Channel::HeaderRing => {
                    stream::produce(&mut HeaderRing::open(ring), ring, len, count, batch)
                }
                Channel::Spsc => stream::produce(
                    &mut SpscSend::attach(spsc::open(ring), Wait::Spin),
                    ring,
                    len,
                    count,
                    batch,
                ),
                Channel::RawMpmc => stream::produce(
                    &mut RawMpmc::open(ring, SLOTS, len),
                    ring,
                    len,
                    count,
                    batch,
                ),
                Channel::Mpmc => stream::produce(
                    &mut MpmcSend::attach(mpmc::open(ring)),
                    ring,
                    len,
                    count,
                    batch,
                ),
                other => panic!("no stream through {}", other.name()),
            }
        }
        "futex-send" | "spsc-send-gaps" => {
            let gap = Duration::from_micros(num(3));
            let (len, count) = (num(1) as usize, num(2));
            let sent = if role == "futex-send" {
                endpoint::send_with_gaps(&mut FutexMailbox::open(&args[0]), len, count, gap)
            } else {
                let mut tx = SpscSend::attach(spsc::open(&args[0]), Wait::Sleep);
                endpoint::send_with_gaps(&mut tx, len, count, gap)
            };
            let times: Vec<String> = sent.iter().map(u64::to_string).collect();
            peer::report(times.join(" "));
        }
        super::blocking::PRODUCE_BLOCKING => super::blocking::produce(args),
        _ => return false,
    }
    true
}
