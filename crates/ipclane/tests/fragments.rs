//! Shared-memory messages at the edges of the ring's largest record: one byte short of
//! it (one record), exactly it and exact multiples of it (full records, then an empty one
//! that ends the message), one byte over; on seqpacket, at the edges of a packet.

use bytes::BytesMut;
use ipclane::queue::SpscRing;
use ipclane::{DEFAULT_RING_CAPACITY, Options};
use ipclane_testkit::{TempDir, bounded};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|k| (k % 251) as u8 ^ (len as u8)).collect()
}

fn round_trip_sizes(url: &str, sizes: &[usize]) {
    let listener = Options::default().listen(url).unwrap();
    let url = listener.url().to_string();
    let sizes = sizes.to_vec();
    let expected = sizes.clone();
    let sender = std::thread::spawn(move || {
        let mut conn = ipclane::connect(&url).unwrap();
        for len in sizes {
            conn.send(&pattern(len)).unwrap();
        }
        conn
    });
    let mut conn = listener.accept().unwrap();
    let mut into = BytesMut::new();
    for (i, len) in expected.iter().enumerate() {
        // Alternate the receiving calls: each must reassemble the same way.
        let got = match i % 3 {
            0 => conn.recv().unwrap().to_vec(),
            1 => {
                let n = conn.receiver().recv_into(&mut into).unwrap();
                into[..n].to_vec()
            }
            _ => {
                let mut buf = vec![0u8; len + 8];
                let n = conn.receiver().recv_into_slice(&mut buf).unwrap();
                buf.truncate(n);
                buf
            }
        };
        assert_eq!(
            got.len(),
            *len,
            "{url_kind}: message {i}",
            url_kind = conn.url().scheme()
        );
        assert!(
            got == pattern(*len),
            "message {i} of {len} bytes arrived changed"
        );
    }
    drop(sender.join().unwrap());
}

#[test]
fn shm_messages_at_the_edges_of_a_record_arrive_whole() {
    let dir = TempDir::new("fragments-shm");
    let room = SpscRing::max_record_len(DEFAULT_RING_CAPACITY);
    bounded("shm fragments", || {
        round_trip_sizes(
            &format!("shm://{}", dir.path().join("f.sock").display()),
            &[
                0,
                1,
                room - 1,
                room,
                room + 1,
                2 * room,
                2 * room + 1,
                3 * room - 1,
                room,
                0,
            ],
        );
    });
}

#[test]
fn seqpacket_messages_at_the_edges_of_a_packet_arrive_whole() {
    let dir = TempDir::new("fragments-seq");
    // A packet holds the send buffer less 32 bytes; the flag byte takes one of them.
    let packet = ipclane::uds::SeqpacketStream::pair()
        .unwrap()
        .0
        .max_send_len()
        .unwrap();
    let fragment = packet - 1;
    bounded("seqpacket fragments", || {
        round_trip_sizes(
            &format!("seqpacket://{}", dir.path().join("f.sock").display()),
            &[
                0,
                fragment - 1,
                fragment,
                fragment + 1,
                2 * fragment,
                2 * fragment + 1,
                0,
            ],
        );
    });
}
