//! The bridge's wire format: what one Zenoh sample carries for one record of a feed.
//!
//! Every sample an outbound bridge publishes is a [`Header`] of [`HEADER_LEN`] bytes, then
//! the record's bytes, unchanged. Integers are little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `IPZB` |
//! | 4 | 2 | version, 1 |
//! | 6 | 2 | header length in bytes (40 for version 1; a reader skips what it does not know) |
//! | 8 | 4 | the feed's publisher: its process id |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 8 | the feed's creation time, nanoseconds since the Unix epoch |
//! | 24 | 8 | the record's sequence number on its feed (the first record is 0) |
//! | 32 | 8 | records of that feed the bridge missed right before this one (it was lapped) |
//!
//! The pair (publisher's pid, creation time) names one run of the publisher, a
//! [`Source`]: a publisher restarted under the same name is another source, whose records
//! count from 0 again. Within one source, sequence numbers tell a receiver what it missed
//! on the way ([`Header::missed`] says how much of that the bridge itself missed).

use crate::Error;

/// Length of the header that starts every sample of a bridged feed (version 1).
pub const HEADER_LEN: usize = 40;

const MAGIC: [u8; 4] = *b"IPZB";
const VERSION: u16 = 1;

/// One run of a feed's publisher: a restarted publisher is another source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    /// The publisher's process id.
    pub pid: u32,
    /// When it made the feed, in nanoseconds since the Unix epoch.
    pub created_ns: u64,
}

impl Source {
    /// The source of the feed a subscriber reads.
    pub fn of(publisher: &ipclane::segment::CreatorInfo) -> Self {
        let created_ns = publisher
            .created_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self {
            pid: publisher.pid,
            created_ns,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "publisher pid {} (feed made at {} ns)",
            self.pid, self.created_ns
        )
    }
}

/// What a sample says of the record it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which run of the feed's publisher wrote the record.
    pub source: Source,
    /// The record's sequence number on its feed.
    pub seq: u64,
    /// Records of the feed the outbound bridge missed right before this one: it was
    /// lapped (the local `Lagged { missed }`, carried across), or it attached after
    /// they were published.
    pub missed: u64,
}

impl Header {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&VERSION.to_le_bytes());
        out[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out[8..12].copy_from_slice(&self.source.pid.to_le_bytes());
        out[16..24].copy_from_slice(&self.source.created_ns.to_le_bytes());
        out[24..32].copy_from_slice(&self.seq.to_le_bytes());
        out[32..40].copy_from_slice(&self.missed.to_le_bytes());
        out
    }

    /// A sample's bytes: this header, then `payload`.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&self.encode());
        out.extend_from_slice(payload);
        out
    }

    /// Splits a sample's bytes into its header and the record.
    ///
    /// # Errors
    ///
    /// [`Error::Frame`] when the bytes are not a bridged record: too short, another
    /// magic, a version this crate does not read, or a header length out of range.
    pub fn decode(sample: &[u8]) -> Result<(Self, &[u8]), Error> {
        let bad = |reason: String| Error::Frame {
            len: sample.len(),
            reason,
        };
        if sample.len() < HEADER_LEN {
            return Err(bad(format!("shorter than the {HEADER_LEN}-byte header")));
        }
        if sample[0..4] != MAGIC {
            return Err(bad(format!(
                "magic {:02x?}, not {:02x?} (`IPZB`)",
                &sample[0..4],
                MAGIC
            )));
        }
        let version = u16::from_le_bytes([sample[4], sample[5]]);
        if version != VERSION {
            return Err(bad(format!(
                "version {version}; this crate reads {VERSION}"
            )));
        }
        let header_len = usize::from(u16::from_le_bytes([sample[6], sample[7]]));
        if header_len < HEADER_LEN || header_len > sample.len() {
            return Err(bad(format!(
                "header length {header_len} outside {HEADER_LEN}..={}",
                sample.len()
            )));
        }
        let u64_at = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&sample[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let mut pid = [0; 4];
        pid.copy_from_slice(&sample[8..12]);
        let header = Self {
            source: Source {
                pid: u32::from_le_bytes(pid),
                created_ns: u64_at(16),
            },
            seq: u64_at(24),
            missed: u64_at(32),
        };
        Ok((header, &sample[header_len..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            source: Source {
                pid: 4242,
                created_ns: 1_700_000_000_123_456_789,
            },
            seq: 7,
            missed: 3,
        }
    }

    #[test]
    fn a_frame_decodes_to_its_header_and_record() {
        let frame = header().frame(b"EURUSD 1.0842");
        assert_eq!(frame.len(), HEADER_LEN + 13);
        let (decoded, record) = Header::decode(&frame).unwrap();
        assert_eq!(decoded, header());
        assert_eq!(record, b"EURUSD 1.0842");
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let bytes = header().encode();
        assert_eq!(&bytes[0..4], b"IPZB");
        assert_eq!(bytes[4..6], [1, 0]);
        assert_eq!(bytes[6..8], [40, 0]);
        assert_eq!(bytes[8..12], 4242u32.to_le_bytes());
        assert_eq!(bytes[12..16], [0; 4]);
        assert_eq!(bytes[16..24], 1_700_000_000_123_456_789u64.to_le_bytes());
        assert_eq!(bytes[24..32], 7u64.to_le_bytes());
        assert_eq!(bytes[32..40], 3u64.to_le_bytes());
    }

    #[test]
    fn a_longer_header_of_a_later_writer_is_skipped() {
        let mut frame = header().encode().to_vec();
        frame[6] = 48;
        frame.extend_from_slice(&[0xee; 8]);
        frame.extend_from_slice(b"rec");
        let (decoded, record) = Header::decode(&frame).unwrap();
        assert_eq!(decoded, header());
        assert_eq!(record, b"rec");
    }

    #[test]
    fn what_is_not_a_frame_is_refused_by_name() {
        let frame = header().frame(b"x");
        let cases: [(Vec<u8>, &str); 5] = [
            (frame[..39].to_vec(), "shorter than the 40-byte header"),
            ([b"XPZB".as_slice(), &frame[4..]].concat(), "magic"),
            ([&frame[..4], &[2, 0], &frame[6..]].concat(), "version 2"),
            (
                [&frame[..6], &[39, 0], &frame[8..]].concat(),
                "header length 39",
            ),
            (
                [&frame[..6], &[42, 0], &frame[8..]].concat(),
                "header length 42",
            ),
        ];
        for (bytes, expected) in cases {
            let err = Header::decode(&bytes).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} for {expected}");
        }
    }

    proptest::proptest! {
        /// Any bytes a remote side sends decode to a frame or an error, never a panic;
        /// what decodes is exactly the bytes (the record is the rest, after the header).
        #[test]
        fn any_bytes_decode_or_are_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128), magic: bool) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 8 {
                bytes[..6].copy_from_slice(&[b'I', b'P', b'Z', b'B', 1, 0]);
            }
            if let Ok((header, record)) = Header::decode(&bytes) {
                let header_len = usize::from(u16::from_le_bytes([bytes[6], bytes[7]]));
                proptest::prop_assert_eq!(record, &bytes[header_len..]);
                proptest::prop_assert_eq!(&header.encode()[24..40], &bytes[24..40]);
            }
        }

        /// Every header and record round-trips.
        #[test]
        fn every_frame_round_trips(pid: u32, created_ns: u64, seq: u64, missed: u64, record in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let header = Header { source: Source { pid, created_ns }, seq, missed };
            let frame = header.frame(&record);
            let (decoded, rest) = Header::decode(&frame).unwrap();
            proptest::prop_assert_eq!(decoded, header);
            proptest::prop_assert_eq!(rest, &record[..]);
        }
    }
}
