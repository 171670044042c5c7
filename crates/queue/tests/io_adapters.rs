//! The SPSC guards as `io::Write` and `io::Read`: a serializer writes straight into the
//! ring and a parser reads straight from it, with no `unsafe` in user code.

use std::io::{ErrorKind, Read, Write};

use ipclane_queue::SpscRing;

#[test]
fn a_write_guard_takes_writes_in_pieces_and_refuses_past_its_end() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    let mut record = tx.try_reserve(10).unwrap();
    record.write_all(b"abc").unwrap();
    record.write_all(b"defg").unwrap();
    // Three bytes left: a write of five takes three, the next takes none.
    assert_eq!(record.write(b"hijkl").unwrap(), 3);
    assert_eq!(record.write(b"x").unwrap(), 0);
    let err = record.write_all(b"y").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WriteZero);
    record.flush().unwrap();
    record.commit();
    assert_eq!(rx.try_pop().unwrap(), &b"abcdefghij"[..]);
}

#[test]
fn a_read_guard_reads_in_pieces_to_its_end() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    tx.try_push(&payload).unwrap();
    tx.try_push(b"next").unwrap();
    let mut record = rx.try_read().unwrap();
    let mut got = Vec::new();
    let mut piece = [0u8; 33];
    loop {
        let n = record.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&piece[..n]);
    }
    assert_eq!(got, payload);
    assert_eq!(record.read(&mut piece).unwrap(), 0, "still at its end");
    record.release();
    let mut next = rx.try_read().unwrap();
    let mut rest = Vec::new();
    next.read_to_end(&mut rest).unwrap();
    next.release();
    assert_eq!(rest, b"next");
}

#[test]
fn a_record_written_with_a_formatter_is_read_back_by_a_parser() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    let text = "price=101.25 qty=7";
    let mut record = tx.try_reserve(text.len()).unwrap();
    write!(record, "price={:.2} qty={}", 101.25, 7).unwrap();
    record.commit();
    let mut record = rx.try_read().unwrap();
    let mut parsed = String::new();
    record.read_to_string(&mut parsed).unwrap();
    record.release();
    assert_eq!(parsed, text);
}
