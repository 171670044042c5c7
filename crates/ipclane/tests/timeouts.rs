//! A receive timeout bounds the whole wait: a peer that trickles a message in, each byte
//! well within the timeout, cannot stretch it; and what arrived is kept for the next call.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipclane::Error;
use ipclane_testkit::{TempDir, bounded};

#[test]
fn a_trickled_frame_does_not_stretch_a_receive_timeout_and_arrives_whole_after() {
    let dir = TempDir::new("timeouts-trickle");
    let path = dir.path().join("t.sock");
    let listener = ipclane::listen(&format!("unix://{}", path.display())).unwrap();
    let payload = b"a frame that trickles in";
    let peer = std::thread::spawn(move || {
        let mut socket = UnixStream::connect(&path).unwrap();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        // A byte every 30 ms: each read would finish within a 100 ms bound of its own.
        for byte in frame {
            socket.write_all(&[byte]).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        socket
    });
    let mut conn = listener.accept().unwrap();
    bounded("trickled frame", || {
        let late = conn.receiver().recv_timeout(Duration::from_millis(100));
        assert!(matches!(late, Err(Error::Timeout { .. })), "{late:?}");
        assert_eq!(conn.recv().unwrap(), &payload[..], "nothing of it was lost");
    });
    drop(peer.join().unwrap());
}
