//! A sans-IO length-prefixed frame codec.
//!
//! # Wire format
//!
//! Each frame is a length field followed by exactly that many payload bytes. The length
//! counts the payload only, never the field itself:
//!
//! ```text
//! +------------------------+--------------------------------+
//! | length (N bytes)       | payload (length bytes)         |
//! +------------------------+--------------------------------+
//!
//! default: N = 4, big-endian, length <= 8 MiB (8_388_608)
//!
//! "hello" ->  00 00 00 05  68 65 6c 6c 6f
//! ""      ->  00 00 00 00
//! ```
//!
//! The default is byte for byte the default of tokio-util's `LengthDelimitedCodec`
//! (length field of 4 bytes, big-endian, at offset 0, no adjustment, header stripped,
//! 8 MiB maximum), so peers written with it, or in any language, interoperate. The field
//! width (1, 2, 4 or 8 bytes), its byte order and the maximum frame length can be changed
//! with [`FrameCodec::builder`]; both ends must agree.
//!
//! # Errors and limits
//!
//! The maximum is enforced when encoding and when decoding, from the header alone, before
//! any byte of the payload is buffered or allocated. Below the maximum, memory follows
//! the bytes that actually arrive, not the length a header announces: while a payload is
//! incomplete, `decode` makes room for at most the next 64 KiB of it
//! ([`DECODE_RESERVE`]), so with a maximum of 4 GiB a 4-byte header announcing 4 GiB
//! costs 64 KiB, and a header announcing 2^62 bytes under `max_frame_length(usize::MAX)`
//! is a frame that never completes, not an allocation failure. After a decoding error the
//! stream is out of step and must be closed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::UdsError;
use crate::buffer;

/// Most room [`FrameCodec::decode`] reserves at a time for the rest of an incomplete
/// payload: 64 KiB.
pub const DECODE_RESERVE: usize = 64 * 1024;

/// Width of the length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthWidth {
    /// 1 byte: frames of at most 255 bytes.
    U8,
    /// 2 bytes: frames of at most 65 535 bytes.
    U16,
    /// 4 bytes (the default).
    U32,
    /// 8 bytes.
    U64,
}

impl LengthWidth {
    /// Number of bytes of the field.
    pub const fn bytes(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 => 4,
            Self::U64 => 8,
        }
    }

    /// Largest length the field can hold.
    pub const fn max_value(self) -> u64 {
        match self {
            Self::U8 => u8::MAX as u64,
            Self::U16 => u16::MAX as u64,
            Self::U32 => u32::MAX as u64,
            Self::U64 => u64::MAX,
        }
    }
}

/// The default maximum frame length: 8 MiB, as tokio-util's `LengthDelimitedCodec`.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// Configuration of a [`FrameCodec`]; reusable (`&mut self` setters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodecBuilder {
    width: LengthWidth,
    big_endian: bool,
    max_frame_length: usize,
}

impl Default for FrameCodecBuilder {
    fn default() -> Self {
        Self {
            width: LengthWidth::U32,
            big_endian: true,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }
}

impl FrameCodecBuilder {
    /// Width of the length field (default [`LengthWidth::U32`]).
    pub fn length_width(&mut self, width: LengthWidth) -> &mut Self {
        self.width = width;
        self
    }

    /// Big-endian length field (the default).
    pub fn big_endian(&mut self) -> &mut Self {
        self.big_endian = true;
        self
    }

    /// Little-endian length field.
    pub fn little_endian(&mut self) -> &mut Self {
        self.big_endian = false;
        self
    }

    /// Largest payload accepted (default 8 MiB). The field width may lower it further.
    pub fn max_frame_length(&mut self, max: usize) -> &mut Self {
        self.max_frame_length = max;
        self
    }

    /// A codec with this configuration.
    pub fn new_codec(&self) -> FrameCodec {
        FrameCodec {
            config: *self,
            state: DecodeState::Head,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// Waiting for a length field.
    Head,
    /// Waiting for a payload of this many bytes (its header already consumed).
    Data(usize),
}

/// Encodes and decodes length-prefixed frames (see the module docs for the format).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use ipclane_uds::FrameCodec;
///
/// let mut codec = FrameCodec::new();
/// let mut wire = BytesMut::new();
/// codec.encode(b"hello", &mut wire)?;
/// assert_eq!(&wire[..], b"\x00\x00\x00\x05hello");
///
/// let mut partial = wire.split_to(6);
/// assert_eq!(codec.decode(&mut partial)?, None); // needs more bytes
/// partial.unsplit(wire);
/// assert_eq!(codec.decode(&mut partial)?.as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), ipclane_uds::UdsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameCodec {
    config: FrameCodecBuilder,
    state: DecodeState,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with the default format: 4-byte big-endian length, 8 MiB maximum.
    pub fn new() -> Self {
        FrameCodecBuilder::default().new_codec()
    }

    /// A builder to configure the format.
    pub fn builder() -> FrameCodecBuilder {
        FrameCodecBuilder::default()
    }

    /// Bytes of the length field.
    pub fn header_len(&self) -> usize {
        self.config.width.bytes()
    }

    /// Largest payload this codec encodes or decodes: the configured maximum, capped by
    /// what the length field can hold.
    pub fn max_frame_length(&self) -> u64 {
        (self.config.max_frame_length as u64).min(self.config.width.max_value())
    }

    /// Checks that a payload of `len` bytes may be sent.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`].
    pub fn check_len(&self, len: usize) -> Result<(), UdsError> {
        let max = self.max_frame_length();
        if len as u64 > max {
            return Err(UdsError::TooLarge {
                len: len as u64,
                max,
            });
        }
        Ok(())
    }

    /// Writes the length field for a payload of `len` bytes into `dst`.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`]; nothing is written then.
    pub fn encode_header(&self, len: usize, dst: &mut impl BufMut) -> Result<(), UdsError> {
        self.check_len(len)?;
        let n = self.header_len();
        if self.config.big_endian {
            dst.put_uint(len as u64, n);
        } else {
            dst.put_uint_le(len as u64, n);
        }
        Ok(())
    }

    /// Appends a frame carrying `payload` to `dst`.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`]; `dst` is unchanged then.
    pub fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), UdsError> {
        self.check_len(payload.len())?;
        dst.reserve(self.header_len() + payload.len());
        self.encode_header(payload.len(), dst)?;
        dst.put_slice(payload);
        Ok(())
    }

    /// Takes the next whole frame's payload from the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not hold a whole frame yet; the bytes are kept
    /// (the header may be consumed and remembered) and `src` may have reserved room for
    /// the next bytes of the payload: at most [`DECODE_RESERVE`] more than it holds, and
    /// never more than the rest of the frame, so memory grows with the bytes that arrive
    /// rather than with the announced length. The payload is split off `src` without
    /// copying.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`] when a header announces more than the maximum,
    /// [`UdsError::OutOfMemory`] when `src` cannot grow for the rest of the frame.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, UdsError> {
        let frame = self.decode_unreserved(src)?;
        if frame.is_none() && matches!(self.state, DecodeState::Data(_)) {
            let need = self.pending(src);
            buffer::reserve(src, need.min(DECODE_RESERVE), need)?;
        }
        Ok(frame)
    }

    /// Bytes the frame in progress still lacks beyond those in `src`: the rest of its
    /// header, or of its payload once the header was consumed. Zero when `src` holds a
    /// whole frame.
    pub(crate) fn pending(&self, src: &BytesMut) -> usize {
        let wanted = match self.state {
            DecodeState::Head => self.header_len(),
            DecodeState::Data(len) => len,
        };
        wanted.saturating_sub(src.len())
    }

    /// [`decode`](Self::decode) without reserving anything: for readers with their own
    /// buffer policy.
    pub(crate) fn decode_unreserved(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<Bytes>, UdsError> {
        let Some(len) = self.decode_header(src)? else {
            return Ok(None);
        };
        if src.len() < len {
            return Ok(None);
        }
        self.finish_payload();
        Ok(Some(src.split_to(len).freeze()))
    }

    /// The payload length of the frame in progress, consuming its header from `src`
    /// first if it was not yet; `None` while the header is incomplete.
    pub(crate) fn decode_header(&mut self, src: &mut BytesMut) -> Result<Option<usize>, UdsError> {
        if let DecodeState::Data(len) = self.state {
            return Ok(Some(len));
        }
        let n = self.header_len();
        if src.len() < n {
            return Ok(None);
        }
        let mut field = &src[..n];
        let len = if self.config.big_endian {
            field.get_uint(n)
        } else {
            field.get_uint_le(n)
        };
        let max = self.max_frame_length();
        if len > max {
            return Err(UdsError::TooLarge { len, max });
        }
        src.advance(n);
        // len <= max <= usize::MAX: the maximum was configured as a usize.
        let len = len as usize;
        self.state = DecodeState::Data(len);
        Ok(Some(len))
    }

    /// Marks the payload of the frame in progress as taken: the next bytes are a header.
    pub(crate) fn finish_payload(&mut self) {
        self.state = DecodeState::Head;
    }

    /// Like [`decode`](Self::decode), at the end of the stream: a clean end between
    /// frames is `Ok(None)`, anything left over is an error.
    ///
    /// # Errors
    ///
    /// [`UdsError::Truncated`] when the stream ended inside a frame, or those of `decode`.
    pub fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, UdsError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.state {
            DecodeState::Head if src.is_empty() => Ok(None),
            DecodeState::Head => Err(UdsError::Truncated {
                part: "length header",
                received: src.len() as u64,
                expected: self.header_len() as u64,
            }),
            DecodeState::Data(len) => Err(UdsError::Truncated {
                part: "payload",
                received: src.len() as u64,
                expected: len as u64,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, wire: &[u8]) -> Result<Vec<Bytes>, UdsError> {
        let mut buf = BytesMut::from(wire);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode_eof(&mut buf)? {
            out.push(frame);
        }
        Ok(out)
    }

    #[test]
    fn default_format_is_pinned() {
        let mut codec = FrameCodec::new();
        let mut wire = BytesMut::new();
        codec.encode(b"hello", &mut wire).unwrap();
        codec.encode(b"", &mut wire).unwrap();
        assert_eq!(&wire[..], b"\x00\x00\x00\x05hello\x00\x00\x00\x00");
        assert_eq!(codec.max_frame_length(), 8 * 1024 * 1024);
    }

    #[test]
    fn configured_formats_are_pinned() {
        let cases: [(LengthWidth, bool, &[u8]); 5] = [
            (LengthWidth::U8, true, b"\x03abc"),
            (LengthWidth::U16, true, b"\x00\x03abc"),
            (LengthWidth::U16, false, b"\x03\x00abc"),
            (
                LengthWidth::U64,
                true,
                b"\x00\x00\x00\x00\x00\x00\x00\x03abc",
            ),
            (LengthWidth::U32, false, b"\x03\x00\x00\x00abc"),
        ];
        for (width, big, expected) in cases {
            let mut b = FrameCodec::builder();
            b.length_width(width);
            if big {
                b.big_endian();
            } else {
                b.little_endian();
            }
            let mut codec = b.new_codec();
            let mut wire = BytesMut::new();
            codec.encode(b"abc", &mut wire).unwrap();
            assert_eq!(&wire[..], expected, "{width:?} big={big}");
            assert_eq!(
                decode_all(&mut codec, expected).unwrap(),
                vec![Bytes::from_static(b"abc")]
            );
        }
    }

    #[test]
    fn the_width_caps_the_maximum() {
        let codec = FrameCodec::builder()
            .length_width(LengthWidth::U8)
            .new_codec();
        assert_eq!(codec.max_frame_length(), 255);
        assert!(matches!(
            codec.check_len(256),
            Err(UdsError::TooLarge { len: 256, max: 255 })
        ));
    }

    #[test]
    fn oversized_frames_are_refused_both_ways_without_allocating() {
        let mut codec = FrameCodec::builder().max_frame_length(10).new_codec();
        let mut wire = BytesMut::new();
        assert!(matches!(
            codec.encode(&[0; 11], &mut wire),
            Err(UdsError::TooLarge { len: 11, max: 10 })
        ));
        assert!(wire.is_empty());
        let mut codec = FrameCodec::new();
        let mut hostile = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        let cap = hostile.capacity();
        assert!(matches!(
            codec.decode(&mut hostile),
            Err(UdsError::TooLarge {
                len: 0xffff_ffff,
                max: 8_388_608
            })
        ));
        assert_eq!(
            hostile.capacity(),
            cap,
            "nothing reserved for a refused frame"
        );
    }

    #[test]
    fn end_of_stream_inside_a_frame_is_truncated() {
        let mut codec = FrameCodec::new();
        assert!(matches!(
            decode_all(&mut codec, b"\x00\x00"),
            Err(UdsError::Truncated {
                part: "length header",
                received: 2,
                expected: 4
            })
        ));
        let mut codec = FrameCodec::new();
        assert!(matches!(
            decode_all(&mut codec, b"\x00\x00\x00\x05hel"),
            Err(UdsError::Truncated {
                part: "payload",
                received: 3,
                expected: 5
            })
        ));
        assert_eq!(
            decode_all(&mut FrameCodec::new(), b"").unwrap(),
            Vec::<Bytes>::new()
        );
    }
}
