//! Whether a socket is ready: room to send, or a packet waiting (`poll(2)`).

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use crate::Error;

/// `left` for `poll(2)`: a wait too long to say is one that never ends in practice.
pub(crate) fn timespec(left: Duration) -> Timespec {
    Timespec::try_from(left).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    })
}

/// Waits at most `timeout` (`None`: forever; zero: a single look) until `socket` is ready
/// for `flags`. An error or hang-up counts as ready: the call that follows reports it.
pub(crate) fn ready(
    socket: impl AsFd,
    flags: PollFlags,
    timeout: Option<Duration>,
) -> Result<bool, Error> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| timespec(d.saturating_duration_since(Instant::now())));
        let mut fds = [PollFd::new(&socket, flags)];
        match poll(&mut fds, left.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "poll the socket",
                    source: e.into(),
                });
            }
        }
    }
}

/// Receives with one deadline, `timeout` from now: `attempt` looks without waiting
/// (`Ok(None)`: nothing whole yet, what arrived kept), and between looks the socket that
/// `socket` names is polled for the time left, so a peer trickling a message in cannot
/// stretch the wait. [`Error::Timeout`] when the time is up.
pub(crate) fn recv_by<S, T>(
    host: &mut S,
    timeout: Duration,
    socket: impl Fn(&S) -> std::os::fd::BorrowedFd<'_>,
    mut attempt: impl FnMut(&mut S) -> Result<Option<T>, Error>,
) -> Result<T, Error> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        if let Some(got) = attempt(host)? {
            return Ok(got);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) || !ready(socket(host), PollFlags::IN, left)? {
            return Err(Error::TIMEOUT);
        }
    }
}
