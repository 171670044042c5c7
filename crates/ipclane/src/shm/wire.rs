//! The `shm:` handshake's bytes, without any I/O (sans-IO): the messages, what the
//! server does next after each byte a client sends ([`ServerHandshake`]), and what a
//! client makes of the server's reply ([`check_reply`]).
//!
//! ```text
//!  0      4         5        6   8
//!  +------+---------+--------+---+
//!  | IPCL | version | status | 0 |   hello (status 0), reply (0 accepted,
//!  +------+---------+--------+---+   1 wrong version, 3 server failed),
//!                                    attached (status 2), an async half's
//!                                    bells after the handshake (status 4)
//! ```
//!
//! This file uses nothing but `std`: the fuzz target (`fuzz/`) and the test that replays
//! its corpus compile it as it is, so what they check is exactly what the listener runs.

/// The handshake's version: a peer of another one is refused.
pub const HANDSHAKE_VERSION: u8 = 1;

/// Length of every handshake message.
pub(super) const MESSAGE_LEN: usize = 8;

/// First bytes of every handshake message.
const MAGIC: [u8; 4] = *b"IPCL";

/// Reply status: accepted, the two ring descriptors attached.
const ACCEPTED: u8 = 0;

/// Reply status: the client's handshake version is not this server's.
const WRONG_VERSION: u8 = 1;

/// The client's last message: its sides of both rings are attached.
const ATTACHED: u8 = 2;

/// Reply status: the server could not make the connection's rings (no memory, no
/// descriptor left, `memfd_create` refused); its `accept` returned why.
const SERVER_FAILED: u8 = 3;

/// Status of the message an async half sends after the handshake, with its two bells
/// attached (see `bell.rs`).
const BELLS: u8 = 4;

/// A handshake message: magic, version, status, two zero bytes.
const fn message(version: u8, status: u8) -> [u8; MESSAGE_LEN] {
    let [a, b, c, d] = MAGIC;
    [a, b, c, d, version, status, 0, 0]
}

/// The client's hello.
pub(super) const HELLO: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, 0);

/// The server's reply that carries the two rings.
pub(super) const ACCEPTED_REPLY: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, ACCEPTED);

/// The server's reply to a client of another version (no descriptors).
pub(super) const WRONG_VERSION_REPLY: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, WRONG_VERSION);

/// The server's reply when it could not make the rings (no descriptors).
pub(super) const FAILED_REPLY: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, SERVER_FAILED);

/// The client's message once both its ring sides are attached.
pub(super) const ATTACHED_MESSAGE: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, ATTACHED);

/// An async half's bells, sent after the handshake.
pub(super) const BELLS_MESSAGE: [u8; MESSAGE_LEN] = message(HANDSHAKE_VERSION, BELLS);

/// What the server does after the bytes it was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Read more (at most [`ServerHandshake::wanted`] bytes).
    Read,
    /// The hello is good: make the rings, send [`ACCEPTED_REPLY`] with them, read on.
    Accept,
    /// The client speaks another version (given): send [`WRONG_VERSION_REPLY`], then close.
    WrongVersion(u8),
    /// The client attached its sides: the connection is its.
    Connected,
}

/// Where a server's handshake with one client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Hello,
    Attached,
    Over,
}

/// The server's side of one client's handshake, fed the bytes that client sends.
#[derive(Debug, Clone)]
pub(super) struct ServerHandshake {
    stage: Stage,
    buf: [u8; MESSAGE_LEN],
    got: usize,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A handshake waiting for the client's hello.
    pub(super) const fn new() -> Self {
        Self {
            stage: Stage::Hello,
            buf: [0; MESSAGE_LEN],
            got: 0,
        }
    }

    /// The most bytes to read now: the rest of the message awaited (zero once over), so
    /// no read takes bytes beyond the handshake.
    pub(super) const fn wanted(&self) -> usize {
        match self.stage {
            Stage::Over => 0,
            Stage::Hello | Stage::Attached => MESSAGE_LEN - self.got,
        }
    }

    /// What it waits for, to say what did not come in time.
    pub(super) const fn awaiting(&self) -> &'static str {
        match self.stage {
            Stage::Hello => "hello",
            Stage::Attached => "attached message",
            Stage::Over => "nothing",
        }
    }

    /// Takes the next bytes the client sent (at most [`wanted`](Self::wanted) of them).
    ///
    /// # Errors
    ///
    /// Why the client is refused, once anything it sent is not the handshake (or it sent
    /// more than was wanted, or after the end); the handshake is then over.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<Next, String> {
        if self.stage == Stage::Over {
            return Err("the handshake is over".into());
        }
        if bytes.len() > self.wanted() {
            let wanted = self.wanted();
            self.stage = Stage::Over;
            return Err(format!(
                "{} bytes where the handshake wanted {wanted}",
                bytes.len()
            ));
        }
        self.buf[self.got..self.got + bytes.len()].copy_from_slice(bytes);
        self.got += bytes.len();
        if self.got < MESSAGE_LEN {
            return Ok(Next::Read);
        }
        let msg = self.buf;
        self.got = 0;
        match self.stage {
            Stage::Hello if msg[..4] != MAGIC => {
                self.stage = Stage::Over;
                Err(format!("the hello {msg:02x?} is not an ipclane handshake"))
            }
            Stage::Hello if msg[4] != HANDSHAKE_VERSION => {
                self.stage = Stage::Over;
                Ok(Next::WrongVersion(msg[4]))
            }
            Stage::Hello if msg != HELLO => {
                self.stage = Stage::Over;
                Err(format!(
                    "the hello {msg:02x?} is not an ipclane handshake's"
                ))
            }
            Stage::Hello => {
                self.stage = Stage::Attached;
                Ok(Next::Accept)
            }
            Stage::Attached => {
                self.stage = Stage::Over;
                if msg == ATTACHED_MESSAGE {
                    Ok(Next::Connected)
                } else {
                    Err(format!(
                        "the attached message {msg:02x?} is not an ipclane handshake's"
                    ))
                }
            }
            // Refused at the top.
            Stage::Over => Err("the handshake is over".into()),
        }
    }
}

/// Checks the server's `reply`, which came with `fds` descriptors, to a client of
/// `version`: `Ok` when the server accepted and sent the two rings.
///
/// # Errors
///
/// Why the client refuses the reply (the server's version, a status it does not know, a
/// wrong number of descriptors, bytes that are not the handshake).
pub(super) fn check_reply(
    reply: &[u8; MESSAGE_LEN],
    fds: usize,
    version: u8,
) -> Result<(), String> {
    if reply[..4] != MAGIC {
        return Err(format!(
            "the reply {reply:02x?} is not an ipclane handshake"
        ));
    }
    match reply[5] {
        ACCEPTED if *reply == message(version, ACCEPTED) && fds == 2 => Ok(()),
        ACCEPTED => Err(format!(
            "the server accepted with the reply {reply:02x?} and {fds} descriptors (expected version {version} and 2)"
        )),
        WRONG_VERSION if reply[4] == version => Err(format!(
            "the server refused this client's handshake version {version}, which it speaks itself (not an ipclane server?)"
        )),
        WRONG_VERSION => Err(format!(
            "the server speaks handshake version {}, this client {version}",
            reply[4]
        )),
        SERVER_FAILED => Err(
            "the server could not set up the connection's shared memory (its accept says why: out of memory or descriptors, memfd_create refused)".into(),
        ),
        other => Err(format!("the server answered with status {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_handshake_fed_byte_by_byte_connects() {
        let mut server = ServerHandshake::new();
        for (i, byte) in HELLO.iter().enumerate() {
            let want = if i == MESSAGE_LEN - 1 {
                Next::Accept
            } else {
                Next::Read
            };
            assert_eq!(server.feed(&[*byte]), Ok(want));
        }
        assert_eq!(server.awaiting(), "attached message");
        assert_eq!(server.feed(&ATTACHED_MESSAGE), Ok(Next::Connected));
        assert_eq!(server.wanted(), 0);
        assert!(server.feed(&[0]).is_err());
    }

    #[test]
    fn another_version_is_told_and_garbage_refused() {
        let mut other = HELLO;
        other[4] = HANDSHAKE_VERSION + 1;
        assert_eq!(
            ServerHandshake::new().feed(&other),
            Ok(Next::WrongVersion(HANDSHAKE_VERSION + 1))
        );
        let mut padded = HELLO;
        padded[7] = 1;
        assert!(ServerHandshake::new().feed(&padded).is_err());
        assert!(ServerHandshake::new().feed(b"GET / HT").is_err());
        assert!(ServerHandshake::new().feed(&[0; 9]).is_err());
    }

    #[test]
    fn a_reply_is_good_only_when_accepted_with_two_rings() {
        assert_eq!(check_reply(&ACCEPTED_REPLY, 2, HANDSHAKE_VERSION), Ok(()));
        for fds in [0, 1, 3] {
            assert!(check_reply(&ACCEPTED_REPLY, fds, HANDSHAKE_VERSION).is_err());
        }
        let why = check_reply(&WRONG_VERSION_REPLY, 0, HANDSHAKE_VERSION + 1).unwrap_err();
        assert!(why.contains("version 1, this client 2"), "{why}");
        let why = check_reply(&WRONG_VERSION_REPLY, 0, HANDSHAKE_VERSION).unwrap_err();
        assert!(why.contains("which it speaks itself"), "{why}");
    }
}
