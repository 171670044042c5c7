//! The frame codec against its documented format and against hostile input.

use bytes::{Bytes, BytesMut};
use ipclane_uds::{DECODE_RESERVE, FrameCodec, LengthWidth, UdsError};
use proptest::prelude::*;

/// Decodes `wire` fed in pieces that end at the offsets `cuts`, then ends the stream.
fn decode_in_pieces(
    codec: &mut FrameCodec,
    wire: &[u8],
    cuts: &[usize],
) -> Result<Vec<Bytes>, UdsError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        let end = end.clamp(start, wire.len());
        buf.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(frame) = codec.decode(&mut buf)? {
            out.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        out.push(frame);
    }
    Ok(out)
}

fn encode_all(codec: &mut FrameCodec, frames: &[Vec<u8>]) -> BytesMut {
    let mut wire = BytesMut::new();
    for f in frames {
        codec.encode(f, &mut wire).unwrap();
    }
    wire
}

#[test]
fn hand_built_frames_decode() {
    // Built from docs/wire-format.md, not from the encoder.
    let wire = b"\x00\x00\x00\x03abc\x00\x00\x00\x00\x00\x00\x01\x00";
    let mut wire = wire.to_vec();
    wire.extend(std::iter::repeat_n(b'z', 256));
    let frames = decode_in_pieces(&mut FrameCodec::new(), &wire, &[]).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(&frames[0][..], b"abc");
    assert!(frames[1].is_empty());
    assert_eq!(frames[2].len(), 256);
}

#[test]
fn round_trips_of_size_zero_one_and_the_maximum() {
    let max = ipclane_uds::DEFAULT_MAX_FRAME_LENGTH;
    let frames = vec![vec![], vec![7], vec![0xab; max]];
    let mut codec = FrameCodec::new();
    let wire = encode_all(&mut codec, &frames);
    assert_eq!(wire.len(), 3 * 4 + 1 + max);
    let decoded = decode_in_pieces(&mut codec, &wire, &[1, 5, 100, max / 2]).unwrap();
    assert_eq!(decoded.len(), 3);
    for (d, f) in decoded.iter().zip(&frames) {
        assert_eq!(&d[..], &f[..]);
    }
    let mut too_big = BytesMut::new();
    assert!(matches!(
        codec.encode(&vec![0; max + 1], &mut too_big),
        Err(UdsError::TooLarge { len, max: m }) if len == max as u64 + 1 && m == max as u64
    ));
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    for header in [
        &b"\xff\xff\xff\xff"[..],
        b"\x00\x80\x00\x01",
        b"\x7f\xff\xff\xff",
    ] {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::from(header);
        let before = buf.capacity();
        match codec.decode(&mut buf) {
            Err(UdsError::TooLarge { len, max }) => {
                assert!(len > max);
                assert_eq!(max, 8 * 1024 * 1024);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(buf.capacity(), before);
    }
    let mut codec = FrameCodec::builder()
        .length_width(LengthWidth::U64)
        .new_codec();
    let mut buf = BytesMut::from(&u64::MAX.to_be_bytes()[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(UdsError::TooLarge { .. })
    ));
}

#[test]
fn truncated_headers_and_bodies_are_typed_errors() {
    for (wire, part) in [
        (&b"\x00"[..], "length header"),
        (b"\x00\x00\x00", "length header"),
        (b"\x00\x00\x00\x02a", "payload"),
        (b"\x00\x00\x00\x01a\x00\x00\x00\x09abc", "payload"),
    ] {
        match decode_in_pieces(&mut FrameCodec::new(), wire, &[]) {
            Err(UdsError::Truncated { part: p, .. }) => assert_eq!(p, part),
            other => panic!("{wire:?}: expected Truncated, got {other:?}"),
        }
    }
}

fn frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..12)
}

proptest! {
    #[test]
    fn whole_equals_byte_by_byte_equals_any_split(frames in frames(), cuts in proptest::collection::vec(0usize..4000, 0..20)) {
        let mut codec = FrameCodec::new();
        let wire = encode_all(&mut codec, &frames);
        let whole = decode_in_pieces(&mut FrameCodec::new(), &wire, &[]).unwrap();
        let every_byte: Vec<usize> = (1..wire.len()).collect();
        let bytewise = decode_in_pieces(&mut FrameCodec::new(), &wire, &every_byte).unwrap();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let split = decode_in_pieces(&mut FrameCodec::new(), &wire, &cuts).unwrap();
        let expected: Vec<Bytes> = frames.iter().map(|f| Bytes::copy_from_slice(f)).collect();
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(&bytewise, &expected);
        prop_assert_eq!(&split, &expected);
    }

    #[test]
    fn a_stream_split_at_any_single_offset_decodes_the_same(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5)) {
        let wire = encode_all(&mut FrameCodec::new(), &frames);
        let expected = decode_in_pieces(&mut FrameCodec::new(), &wire, &[]).unwrap();
        for at in 0..=wire.len() {
            prop_assert_eq!(&decode_in_pieces(&mut FrameCodec::new(), &wire, &[at]).unwrap(), &expected);
        }
    }

    #[test]
    fn configured_codecs_round_trip(frames in frames(), width in prop_oneof![Just(LengthWidth::U16), Just(LengthWidth::U32), Just(LengthWidth::U64)], little in any::<bool>()) {
        let mut b = FrameCodec::builder();
        b.length_width(width).max_frame_length(1000);
        if little { b.little_endian(); }
        let wire = encode_all(&mut b.new_codec(), &frames);
        let decoded = decode_in_pieces(&mut b.new_codec(), &wire, &[3, 7]).unwrap();
        let expected: Vec<Bytes> = frames.iter().map(|f| Bytes::copy_from_slice(f)).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn random_bytes_never_panic_or_overallocate(wire in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut codec = FrameCodec::builder().max_frame_length(4096).new_codec();
        let mut buf = BytesMut::from(&wire[..]);
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(UdsError::Truncated { .. } | UdsError::TooLarge { .. }) => break,
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        prop_assert!(buf.capacity() <= 2000 + 4096 + 64);
    }
}

/// Feeds `wire` to `codec` the way a reader does, into the spare room the codec left (at
/// least one byte, `step` at most), checking after every decode that the buffer stays
/// within twice what arrived plus one reserve step, and within the frame plus one step.
fn feed_into_spare_room(
    codec: &mut FrameCodec,
    wire: &[u8],
    frame_len: usize,
    step: usize,
) -> Bytes {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    loop {
        if let Some(frame) = codec.decode(&mut buf).unwrap() {
            return frame;
        }
        let capacity = buf.capacity();
        assert!(
            capacity <= 2 * fed + DECODE_RESERVE && capacity <= frame_len + DECODE_RESERVE,
            "capacity {capacity} after {fed} of {} bytes",
            wire.len()
        );
        let room = (capacity - buf.len()).clamp(1, step);
        let end = (fed + room).min(wire.len());
        buf.extend_from_slice(&wire[fed..end]);
        fed = end;
    }
}

#[test]
fn a_header_alone_reserves_one_step_not_the_announced_length() {
    // 4-byte field, 4 GiB maximum: a header announcing 4 GiB - 1.
    let mut codec = FrameCodec::builder()
        .max_frame_length(u32::MAX as usize)
        .new_codec();
    let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= DECODE_RESERVE,
        "capacity {}",
        buf.capacity()
    );
    // One step, as documented: 64 KiB, not a few bytes at a time.
    assert_eq!(DECODE_RESERVE, 64 << 10);
    assert!(
        buf.capacity() >= DECODE_RESERVE - 8,
        "capacity {}",
        buf.capacity()
    );
}

/// Every setter of the builder returns the builder it set, so settings chain.
#[test]
fn builder_settings_chain() {
    let codec = FrameCodec::builder()
        .length_width(LengthWidth::U16)
        .little_endian()
        .big_endian()
        .max_frame_length(100)
        .new_codec();
    assert_eq!(codec.header_len(), 2);
    let mut wire = BytesMut::new();
    FrameCodec::builder()
        .length_width(LengthWidth::U16)
        .big_endian()
        .new_codec()
        .encode(b"abc", &mut wire)
        .unwrap();
    assert_eq!(&wire[..], b"\x00\x03abc");
}

#[test]
fn a_header_announcing_2_pow_62_bytes_does_not_abort() {
    // 8-byte field, no maximum: the header is a frame that has not arrived yet, not an
    // allocation failure.
    let mut codec = FrameCodec::builder()
        .length_width(LengthWidth::U64)
        .max_frame_length(usize::MAX)
        .new_codec();
    let mut buf = BytesMut::from(&(1u64 << 62).to_be_bytes()[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= DECODE_RESERVE,
        "capacity {}",
        buf.capacity()
    );
    buf.extend_from_slice(&[1; 1000]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(
        buf.capacity() <= 2 * DECODE_RESERVE,
        "capacity {}",
        buf.capacity()
    );
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(UdsError::Truncated { part: "payload", received: 1000, expected }) if expected == 1 << 62
    ));
}

#[test]
fn memory_grows_with_the_bytes_that_arrive() {
    for (len, step) in [(3 << 20, 4096), (3 << 20, 1 << 20), (100_000, 7), (10, 3)] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut codec = FrameCodec::builder()
            .max_frame_length(usize::MAX)
            .new_codec();
        let wire = encode_all(&mut codec, std::slice::from_ref(&payload));
        let frame = feed_into_spare_room(&mut codec, &wire, len, step);
        assert_eq!(frame, payload, "frame of {len} fed {step} at a time");
    }
}
