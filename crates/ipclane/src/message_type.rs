//! What a typed feed or `shm:` connection carries, declared by both sides so that a peer
//! built with another type is refused when it subscribes or connects, before any
//! message is misread.
//!
//! A [`MessageType`] is a type's name (without its module path, so that two programs
//! that each define the same `Quote` agree), its size and its alignment. A feed's
//! publisher records its declaration in the named segment `<feed>.type` (kind
//! [`MESSAGE_TYPE_KIND`]), which a subscriber that declares one reads at subscribe; a
//! typed `shm:` server makes its rings of a kind that holds the declaration
//! ([`Kind::holding`](crate::segment::Kind::holding)), which a client of another
//! declaration cannot open. The socket schemes keep tokio-util's framing on the wire
//! (no handshake): there each message is checked for its size, not the peer at connect.

use std::fmt;

use crate::Error;
use crate::segment::{Kind, Segment, SegmentError};

/// The kind of a feed's declaration of its message type.
pub const MESSAGE_TYPE_KIND: Kind = Kind::from_names(
    "ipclane/message-type",
    "v1: the declaration (name: size bytes, align n), NUL-padded, 256 bytes",
);

/// Bytes of a feed's declaration segment.
const DECLARATION: usize = 256;

/// A message type as peers compare it: its name without module paths, size and
/// alignment (two types of those are equal, as two peers' are).
///
/// ```
/// #[repr(C)]
/// struct Quote { bid: i64, ask: i64, instrument: u32, size: u32 }
///
/// let quote = ipclane::MessageType::of::<Quote>();
/// assert_eq!(quote.to_string(), "Quote: 24 bytes, align 8");
/// assert_ne!(quote, ipclane::MessageType::of::<[u8; 24]>());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MessageType {
    name: &'static str,
    size: usize,
    align: usize,
}

impl MessageType {
    /// The message type `T`.
    pub fn of<T>() -> Self {
        Self {
            name: std::any::type_name::<T>(),
            size: size_of::<T>(),
            align: align_of::<T>(),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Its alignment in bytes.
    pub fn align(&self) -> usize {
        self.align
    }

    /// Its name without module paths (`Vec<Quote>` for `alloc::vec::Vec<app::Quote>`).
    pub fn name(&self) -> String {
        let mut short = String::with_capacity(self.name.len());
        let mut rest = self.name;
        while let Some(at) = rest.find("::") {
            short.push_str(&rest[..at]);
            // Drop the path segment just written.
            let kept = short
                .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
                .len();
            short.truncate(kept);
            rest = &rest[at + 2..];
        }
        short.push_str(rest);
        short
    }

    /// What peers compare: `name: size bytes, align n`.
    pub(crate) fn declaration(&self) -> String {
        self.to_string()
    }
}

impl PartialEq for MessageType {
    fn eq(&self, other: &Self) -> bool {
        // The same full name is the same type (no allocation: typed calls compare on
        // every message); another one may still be the same short name.
        (self.size, self.align) == (other.size, other.align)
            && (self.name == other.name || self.name() == other.name())
    }
}

impl Eq for MessageType {}

impl std::hash::Hash for MessageType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.name(), self.size, self.align).hash(state);
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bytes, align {}",
            self.name(),
            self.size,
            self.align
        )
    }
}

/// The name of the declaration of the feed `feed`.
fn declaration_name(feed: &str) -> String {
    format!("{feed}.type")
}

/// Records `declared` as the message type of the feed `feed` (a dead publisher's
/// declaration is taken over, as its feed is); the segment goes with the publisher.
pub(crate) fn declare_feed(feed: &str, declared: MessageType) -> Result<Segment, Error> {
    let text = declared.declaration().into_bytes();
    if text.len() >= DECLARATION {
        return Err(Error::InvalidOptions {
            reason: format!("a message type name too long to declare: {declared}"),
        });
    }
    Ok(Segment::named(&declaration_name(feed))
        .size(DECLARATION)
        .kind(MESSAGE_TYPE_KIND)
        .exclusive(false)
        .initialize_with(move |region| Ok(region.write(0, &text)?))
        .create()?)
}

/// Removes a dead publisher's declaration of the feed `feed`, which a publisher that
/// declares no type must not leave to its subscribers (a live one's is left: the feed
/// itself is then live, and its creation fails).
pub(crate) fn retract_feed(feed: &str) -> Result<(), Error> {
    match Segment::named(&declaration_name(feed))
        .size(DECLARATION)
        .kind(MESSAGE_TYPE_KIND)
        .exclusive(false)
        .create()
    {
        // Made (over a dead one's, or none) and removed again as it drops.
        Ok(_) | Err(SegmentError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks that the feed `feed` carries `expected`, if its publisher declared a type (a
/// feed that declares none is taken: each message is still checked for its size).
pub(crate) fn check_feed(feed: &str, expected: MessageType) -> Result<(), Error> {
    let segment = match Segment::named(&declaration_name(feed))
        .kind(MESSAGE_TYPE_KIND)
        .open()
    {
        Ok(segment) => segment,
        Err(SegmentError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut text = [0u8; DECLARATION];
    segment
        .region()
        .read(0, &mut text)
        .map_err(|e| Error::protocol(format!("feed {feed}'s type declaration: {e}")))?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(DECLARATION);
    let found = String::from_utf8_lossy(&text[..end]).into_owned();
    if found == expected.declaration() {
        Ok(())
    } else {
        Err(Error::WrongMessageType {
            at: format!("feed {feed}"),
            expected: expected.to_string(),
            found: Some(found),
        })
    }
}

/// Checks that a call's type `called` is the handle's declared one, if it has one (the
/// error says the handle at `at` carries its declared type, not the call's; `at` is
/// only made for the error).
#[cfg(feature = "pod")]
pub(crate) fn check_call(
    at: impl FnOnce() -> String,
    declared: Option<MessageType>,
    called: MessageType,
) -> Result<(), Error> {
    match declared {
        Some(declared) if declared != called => Err(Error::WrongMessageType {
            at: at(),
            expected: called.to_string(),
            found: Some(declared.to_string()),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod app {
        pub(super) struct Quote;
    }

    #[test]
    fn names_lose_their_module_paths() {
        assert_eq!(MessageType::of::<app::Quote>().name(), "Quote");
        assert_eq!(MessageType::of::<Vec<app::Quote>>().name(), "Vec<Quote>");
        assert_eq!(
            MessageType::of::<std::collections::HashMap<u8, app::Quote>>().name(),
            "HashMap<u8, Quote>"
        );
        assert_eq!(MessageType::of::<[u64; 4]>().name(), "[u64; 4]");
    }
}
