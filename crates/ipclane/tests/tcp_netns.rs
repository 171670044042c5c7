//! `tcp:` across a real interface: two network namespaces joined by a veth pair, the
//! server's thread in one, the client's in the other (root only; skipped with the reason
//! otherwise). Loopback is covered by the conformance suite.

use ipclane_testkit::netns::Namespaces;
use ipclane_testkit::{bounded, skip};

#[test]
fn tcp_connections_cross_a_veth_pair_between_two_namespaces() {
    const TEST: &str = "tcp_connections_cross_a_veth_pair_between_two_namespaces";
    if !ipclane_testkit::is_root() {
        skip(TEST, "needs root to make network namespaces");
        return;
    }
    let namespaces = match Namespaces::new("tcp") {
        Ok(n) => n,
        Err(why) => {
            skip(TEST, &format!("cannot make the namespaces here: {why}"));
            return;
        }
    };
    bounded("tcp across namespaces", || {
        let url = format!("tcp://{}:0", namespaces.addr(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let namespaces = &namespaces;
        std::thread::scope(|s| {
            s.spawn(move || {
                namespaces.enter(0);
                let listener = ipclane::listen(&url).unwrap();
                tx.send(listener.url().to_string()).unwrap();
                let mut conn = listener.accept().unwrap();
                assert!(conn.peer_credentials().is_none(), "no credentials over TCP");
                while let Ok(msg) = conn.recv() {
                    conn.send(&msg).unwrap();
                }
            });
            let url = rx.recv().unwrap();
            s.spawn(move || {
                namespaces.enter(1);
                // The server's address is not local here: this goes over the veth pair.
                assert!(std::net::TcpListener::bind(format!("{}:0", namespaces.addr(0))).is_err());
                let mut conn = ipclane::connect(&url).unwrap();
                for len in [0usize, 1, 1400, 1500, 64 << 10, 1 << 20] {
                    let msg: Vec<u8> = (0..len).map(|k| (k * 13 + len) as u8).collect();
                    conn.send(&msg).unwrap();
                    assert_eq!(conn.recv().unwrap(), &msg[..], "{len} bytes back");
                }
            });
        });
    });
}
