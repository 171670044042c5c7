//! Accepting when the process or the system is out of descriptors or memory.
//!
//! `accept(2)` then fails at once, while the client that made the listening socket
//! readable still waits in the backlog: a server loop that calls `accept` again at once
//! spins a core until something frees a descriptor. The listeners here (and the facade's
//! TCP listener) wait a short while and try once more before they report the error, so a
//! loop around them costs one attempt per [`ACCEPT_BACKOFF`] and the waiting client is
//! served as soon as a descriptor is free.

use std::io;
use std::time::Duration;

use rustix::io::Errno;

/// How long an accept that found the process or the system out of descriptors or memory
/// waits before it tries once more.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Whether `err` says the process or the system is out of descriptors (`EMFILE`,
/// `ENFILE`) or of memory for a socket (`ENOBUFS`, `ENOMEM`): resources that others may
/// free, unlike the client, who is still waiting.
pub fn is_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// Runs `accept`; when it fails for want of descriptors or memory
/// ([`is_exhaustion`]), waits [`ACCEPT_BACKOFF`] and runs it once more, returning what
/// that second attempt returns.
///
/// # Errors
///
/// Those of `accept`.
pub fn retry_when_exhausted<T>(mut accept: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match accept() {
        Err(e) if is_exhaustion(&e) => {
            std::thread::sleep(ACCEPT_BACKOFF);
            accept()
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exhaustion_waits_and_retries_once() {
        let mut calls = 0;
        let got: io::Result<()> = retry_when_exhausted(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc_emfile()))
        });
        assert_eq!(
            (calls, got.unwrap_err().raw_os_error()),
            (2, Some(libc_emfile()))
        );
        let mut calls = 0;
        let got: io::Result<()> = retry_when_exhausted(|| {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::InvalidInput))
        });
        assert!(got.is_err());
        assert_eq!(calls, 1, "other errors are returned at once");
    }

    fn libc_emfile() -> i32 {
        Errno::MFILE.raw_os_error()
    }
}
