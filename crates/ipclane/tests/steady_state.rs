//! The steady-state send and receive paths allocate nothing per message, on every
//! transport: `send`, and `recv_into` or `recv` (whose messages the caller drops), once
//! the buffers have grown (counted per thread, by the testkit's counting allocator).

use bytes::BytesMut;
use ipclane::{Connection, Options};
use ipclane_testkit::TempDir;
use ipclane_testkit::alloc::allocations;

#[global_allocator]
static GLOBAL: ipclane_testkit::alloc::Counting = ipclane_testkit::alloc::Counting;

const MESSAGES: usize = 5_000;

fn pair(url: &str) -> (Connection, Connection) {
    let listener = ipclane::listen(url).unwrap();
    let url = listener.url().to_string();
    let client = std::thread::spawn(move || Options::default().connect(&url).unwrap());
    let server = listener.accept().unwrap();
    (server, client.join().unwrap())
}

/// How the receiver takes each message.
#[derive(Clone, Copy, Debug)]
enum Receive {
    /// Into one buffer, reused.
    Into,
    /// As `Bytes`, dropped before the next: the buffer it came from is taken back.
    Dropped,
}

#[test]
fn sending_and_receiving_into_a_buffer_allocate_nothing_per_message() {
    steady(Receive::Into);
}

/// Found when receiving grew its buffers fallibly (issue 13): a fresh allocation for each
/// message, where the buffer's own could be taken back.
#[test]
fn receiving_messages_that_are_dropped_allocates_nothing_per_message() {
    steady(Receive::Dropped);
}

fn steady(receive: Receive) {
    let dir = TempDir::new("steady-state");
    for scheme in ["unix", "seqpacket", "tcp", "shm"] {
        let url = match scheme {
            "tcp" => "tcp://127.0.0.1:0".to_owned(),
            other => format!(
                "{other}://{}",
                dir.path().join(format!("{other}.sock")).display()
            ),
        };
        let (server, client) = pair(&url);
        let (mut tx, _client_rx) = client.split();
        let (_server_tx, mut rx) = server.split();
        let sender = std::thread::spawn(move || {
            let msg = [7u8; 64];
            // Warm up: the first messages grow the buffers.
            for _ in 0..100 {
                tx.send(&msg).unwrap();
            }
            let before = allocations();
            for _ in 0..MESSAGES {
                tx.send(&msg).unwrap();
            }
            (allocations() - before, tx)
        });
        let mut buf = BytesMut::with_capacity(1024);
        let mut take = |rx: &mut ipclane::Receiver| match receive {
            Receive::Into => {
                let len = rx.recv_into(&mut buf).unwrap();
                assert_eq!(&buf[..len], &[7u8; 64]);
            }
            Receive::Dropped => assert_eq!(&rx.recv().unwrap()[..], &[7u8; 64]),
        };
        for _ in 0..100 {
            take(&mut rx);
        }
        let before = allocations();
        for _ in 0..MESSAGES {
            take(&mut rx);
        }
        let received = allocations() - before;
        let (sent, _tx) = sender.join().unwrap();
        assert_eq!(
            (sent, received),
            (0, 0),
            "{scheme}: allocations while sending and receiving ({receive:?}) {MESSAGES} messages"
        );
    }
}
