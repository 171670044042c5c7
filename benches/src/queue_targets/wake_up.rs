//! The wake-up check.

use super::latency::on_first_cpu;
use super::{Options, Verdict, WAKE_GAP, judge, name, p50_ratio};
use crate::endpoint;
use crate::peer::Launcher;
use crate::raw::FutexMailbox;
use crate::spsc::{self, SpscRecv, Wait};
use crate::stats::Latencies;

/// Length of a wake-up message.
const WAKE_LEN: usize = 64;

pub(super) fn wake_up(launcher: &Launcher, options: &Options) -> Verdict {
    let check = "3. one-way wake-up of a sleeping receiver (target p50 <= 1.2x raw futex mailbox)"
        .to_owned();
    println!("\n{check}");
    judge(
        options,
        check,
        || {
            (
                woken(launcher, options, "futex-send", |name| {
                    let mut rx = FutexMailbox::create(name, WAKE_LEN);
                    move |count| endpoint::receive_times(&mut rx, WAKE_LEN, count)
                }),
                woken(launcher, options, "spsc-send-gaps", |name| {
                    let mut rx = SpscRecv::attach(spsc::create(name, 1 << 16), Wait::Sleep);
                    move |count| endpoint::receive_times(&mut rx, WAKE_LEN, count)
                }),
            )
        },
        |l: &Latencies| l.summary().to_string(),
        p50_ratio,
        |r| r <= 1.2,
    )
}

/// One wake-up row: the receiver made by `receiver` in this process, the sender in a peer
/// playing `role`.
fn woken<R>(
    launcher: &Launcher,
    options: &Options,
    role: &str,
    receiver: impl FnOnce(&str) -> R,
) -> Latencies
where
    R: FnOnce(u64) -> Result<Vec<u64>, crate::integrity::Integrity> + std::marker::Send,
{
    let segment = name(role);
    let receive = receiver(&segment);
    let count = options.wakes();
    let args = [
        segment.as_str(),
        &WAKE_LEN.to_string(),
        &count.to_string(),
        &WAKE_GAP.as_micros().to_string(),
    ];
    let peer = launcher.spawn(role, &args, options.placement.second());
    let received =
        on_first_cpu(options, || receive(count)).unwrap_or_else(|e| panic!("{role} wake-ups: {e}"));
    let sent: Vec<u64> = peer
        .finish()
        .iter()
        .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
        .collect();
    assert_eq!(
        sent.len(),
        received.len(),
        "{role}: send times for every message"
    );
    endpoint::one_way(&sent, &received)
}
