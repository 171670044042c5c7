//! The property the `decode` fuzz target checks, shared with the corpus replay test
//! (`tests/fuzz_corpus.rs`), so that ordinary `cargo test` runs every corpus input.
//!
//! Input: byte 0 chooses the format (length width, byte order), byte 1 the maximum frame
//! length, byte 2 the size of the pieces the stream is fed in; the rest is the stream.
//! Decoding must never panic or allocate beyond the maximum, and every frame decoded
//! must re-encode to exactly the bytes it was decoded from.

use bytes::BytesMut;
use ipclane_uds::{FrameCodec, LengthWidth, UdsError};

/// Runs the decoder over `data` and checks the property; panics if it does not hold.
pub(crate) fn check(data: &[u8]) {
    let [format, max, piece, wire @ ..] = data else {
        return;
    };
    let width = [
        LengthWidth::U8,
        LengthWidth::U16,
        LengthWidth::U32,
        LengthWidth::U64,
    ][usize::from(format & 3)];
    let mut builder = FrameCodec::builder();
    builder
        .length_width(width)
        .max_frame_length(usize::from(*max) * 64);
    if format & 4 != 0 {
        builder.little_endian();
    }
    let piece = usize::from(*piece).max(1);
    let mut codec = builder.new_codec();
    let mut buf = BytesMut::new();
    let mut consumed = 0usize;
    let mut fed = 0usize;
    let mut reencoded = BytesMut::new();
    loop {
        let frame = if fed < wire.len() {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    let end = (fed + piece).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                    continue;
                }
                Err(UdsError::TooLarge { len, max }) => {
                    assert!(len > max);
                    return;
                }
                Err(other) => panic!("unexpected decode error {other:?}"),
            }
        } else {
            match codec.decode_eof(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(UdsError::Truncated {
                    received, expected, ..
                }) => {
                    assert!(received < expected);
                    break;
                }
                Err(UdsError::TooLarge { len, max }) => {
                    assert!(len > max);
                    return;
                }
                Err(other) => panic!("unexpected decode error {other:?}"),
            }
        };
        assert!(frame.len() as u64 <= codec.max_frame_length());
        assert!(
            buf.capacity() <= wire.len() + usize::from(*max) * 64 + 64,
            "over-allocation"
        );
        let before = reencoded.len();
        codec
            .encode(&frame, &mut reencoded)
            .expect("a decoded frame re-encodes");
        consumed += reencoded.len() - before;
    }
    assert_eq!(
        &reencoded[..],
        &wire[..consumed],
        "re-encoding differs from the input"
    );
}
