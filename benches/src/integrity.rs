//! Message stamps: every benchmark sender writes every byte of a message, every receiver
//! reads and checks every byte, on raw baselines and on ipclane alike, so no row can
//! skip the payload and none can lose, duplicate, reorder or tear a message unnoticed.
//!
//! A message is a whole number of 8-byte words (at least one): word 0 is its sequence
//! number, the words between are a pattern of the sequence number, and the last word
//! (when there are two or more) is the wrapping sum of all the others. A receiver checks
//! the sequence number against the one it expects and the sum against the last word, so
//! each of its reads of the message feeds a result it keeps through
//! [`std::hint::black_box`].
//!
//! ```
//! use ipclane_bench::integrity::{self, Integrity, Stamp};
//!
//! let mut message = vec![0u8; 64];
//! Stamp::new(7).write(&mut message);
//! assert_eq!(integrity::check(&message, 7), Ok(()));
//! message[40] ^= 1;
//! assert!(matches!(integrity::check(&message, 7), Err(Integrity::Corrupted { seq: 7, .. })));
//! ```

/// Bytes of a word of a message; message lengths are multiples of it.
pub const WORD: usize = 8;

/// Whether `len` is a length a stamped message can have.
pub fn valid_len(len: usize) -> bool {
    len >= WORD && len.is_multiple_of(WORD)
}

/// What a receiver found wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Integrity {
    /// Messages went missing: the next one carried a later sequence number.
    #[error("lost messages: expected message {expected}, got {got}")]
    Lost {
        /// The sequence number the receiver expected.
        expected: u64,
        /// The one the message carried.
        got: u64,
    },
    /// A message came again or out of order: it carried an earlier sequence number.
    #[error("duplicated or reordered message: expected message {expected}, got {got}")]
    Repeated {
        /// The sequence number the receiver expected.
        expected: u64,
        /// The one the message carried.
        got: u64,
    },
    /// The message's bytes do not add up to its checksum (a torn or corrupted copy).
    #[error("message {seq} corrupted: {len} bytes whose sum is {sum:#x}, checksum {checksum:#x}")]
    Corrupted {
        /// Its sequence number.
        seq: u64,
        /// Its length.
        len: usize,
        /// The sum of its words before the last.
        sum: u64,
        /// Its last word.
        checksum: u64,
    },
    /// A lossy feed that tells its receiver what it missed (a broadcast ring's `Lagged`)
    /// skipped another number of messages than it told.
    #[error("expected message {expected}, got {got}, but was told of {told} missed")]
    Misreported {
        /// The sequence number the receiver expected.
        expected: u64,
        /// The one the message carried.
        got: u64,
        /// Messages the feed said were missed since the message before.
        told: u64,
    },
    /// The message has a length no sender wrote.
    #[error("message of {got} bytes where {expected} were sent")]
    Length {
        /// The length sent.
        expected: usize,
        /// The length received.
        got: usize,
    },
}

/// The stamp of message `seq`: writes its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    seq: u64,
}

impl Stamp {
    /// The stamp of message number `seq`.
    pub fn new(seq: u64) -> Self {
        Self { seq }
    }

    /// Writes the whole message into `buf` (every byte).
    ///
    /// # Panics
    ///
    /// When `buf.len()` is not a [valid length](valid_len).
    pub fn write(self, buf: &mut [u8]) {
        assert!(valid_len(buf.len()), "a message of {} bytes", buf.len());
        let words = buf.len() / WORD;
        let mut sum = 0u64;
        let (body, last) = buf.split_at_mut((words - 1).max(1) * WORD);
        for (i, word) in body.chunks_exact_mut(WORD).enumerate() {
            let value = if i == 0 {
                self.seq
            } else {
                pattern(self.seq, i)
            };
            sum = sum.wrapping_add(value);
            word.copy_from_slice(&value.to_le_bytes());
        }
        if !last.is_empty() {
            last.copy_from_slice(&sum.to_le_bytes());
        }
    }
}

/// Word `i` of message `seq`: cheap, and different for each word and message.
fn pattern(seq: u64, i: usize) -> u64 {
    (seq ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(i as u64 | 1) ^ i as u64
}

fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8-byte word"))
}

/// The sequence number a message carries (its first word), or `None` for a message too
/// short to carry one.
pub fn seq_of(message: &[u8]) -> Option<u64> {
    message.get(..WORD).map(word)
}

/// Checks that `message` is message `expected`, whole: reads every byte.
///
/// # Errors
///
/// [`Integrity::Lost`] or [`Integrity::Repeated`] when it carries another sequence number,
/// [`Integrity::Corrupted`] when its bytes do not match its checksum,
/// [`Integrity::Length`] when it is not a valid length.
pub fn check(message: &[u8], expected: u64) -> Result<(), Integrity> {
    if !valid_len(message.len()) {
        return Err(Integrity::Length {
            expected: message.len().next_multiple_of(WORD).max(WORD),
            got: message.len(),
        });
    }
    let words = message.len() / WORD;
    let (body, last) = message.split_at((words - 1).max(1) * WORD);
    let sum = body
        .chunks_exact(WORD)
        .map(word)
        .fold(0u64, u64::wrapping_add);
    let seq = word(&body[..WORD]);
    if seq != expected {
        return Err(if seq > expected {
            Integrity::Lost { expected, got: seq }
        } else {
            Integrity::Repeated { expected, got: seq }
        });
    }
    let checksum = if last.is_empty() { sum } else { word(last) };
    if std::hint::black_box(sum) != checksum {
        return Err(Integrity::Corrupted {
            seq,
            len: message.len(),
            sum,
            checksum,
        });
    }
    Ok(())
}

/// A receiver's running check: the sequence number it expects next, and how many bytes it
/// has checked.
#[derive(Debug, Clone, Default)]
pub struct Checker {
    next: u64,
    bytes: u64,
}

impl Checker {
    /// A checker expecting message `first` next.
    pub fn starting_at(first: u64) -> Self {
        Self {
            next: first,
            bytes: 0,
        }
    }

    /// Checks the next message and moves on.
    ///
    /// # Errors
    ///
    /// Those of [`check`].
    pub fn check(&mut self, message: &[u8]) -> Result<(), Integrity> {
        check(message, self.next)?;
        self.next += 1;
        self.bytes += message.len() as u64;
        Ok(())
    }

    /// Moves past `missed` messages that the transport reported lost (a broadcast
    /// reader that lagged): the next one checked must follow them.
    pub fn skip(&mut self, missed: u64) {
        self.next += missed;
    }

    /// The sequence number expected next (the count of messages checked, from 0).
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Bytes checked so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_of_every_length_is_checked() {
        for len in [8, 16, 24, 64, 1024] {
            let mut message = vec![0u8; len];
            Stamp::new(41).write(&mut message);
            assert_eq!(check(&message, 41), Ok(()));
            for byte in 0..len {
                for bit in 0..8 {
                    let mut bad = message.clone();
                    bad[byte] ^= 1 << bit;
                    assert!(
                        check(&bad, 41).is_err(),
                        "len {len}, byte {byte}, bit {bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn loss_and_repetition_are_told_apart() {
        let mut message = vec![0u8; 64];
        Stamp::new(5).write(&mut message);
        assert_eq!(
            check(&message, 4),
            Err(Integrity::Lost {
                expected: 4,
                got: 5
            })
        );
        assert_eq!(
            check(&message, 6),
            Err(Integrity::Repeated {
                expected: 6,
                got: 5
            })
        );
        let mut checker = Checker::starting_at(5);
        checker.check(&message).unwrap();
        assert_eq!(
            checker.check(&message),
            Err(Integrity::Repeated {
                expected: 6,
                got: 5
            })
        );
        assert_eq!((checker.next(), checker.bytes()), (6, 64));
        checker.skip(3);
        Stamp::new(9).write(&mut message);
        checker.check(&message).unwrap();
    }

    #[test]
    fn a_truncated_message_is_refused() {
        assert!(matches!(
            check(&[0; 12], 0),
            Err(Integrity::Length { got: 12, .. })
        ));
        assert!(matches!(
            check(&[], 0),
            Err(Integrity::Length { got: 0, .. })
        ));
        assert_eq!(seq_of(&[1, 0, 0, 0, 0, 0, 0, 0, 9]), Some(1));
        assert_eq!(seq_of(&[1]), None);
    }
}
