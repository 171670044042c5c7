//! One conformance suite for every transport: each test runs against every URL scheme
//! (`unix:` with a path and an abstract name, `seqpacket:`, `tcp:` over loopback, `shm:`)
//! and names the scheme that failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ipclane::{Connection, Error, Listener, Options};
use ipclane_testkit::{Peer, TempDir, WAIT_LIMIT, bounded, hold, say};

const SCHEMES: [&str; 5] = ["unix", "unix-abstract", "seqpacket", "tcp", "shm"];

/// A fresh address of `scheme` (socket files under `dir`).
fn url(scheme: &str, dir: &TempDir) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.path().join(format!("{scheme}-{n}.sock"));
    match scheme {
        "unix-abstract" => format!("unix:@ipclane-conformance-{}-{n}", std::process::id()),
        "tcp" => "tcp://127.0.0.1:0".into(),
        other => format!("{other}://{}", path.display()),
    }
}

/// A listener on a fresh address of `scheme`, and the URL clients connect to.
fn listen(scheme: &str, dir: &TempDir, options: &Options) -> (Listener, String) {
    let listener = options
        .listen(&url(scheme, dir))
        .unwrap_or_else(|e| panic!("{scheme}: listen: {e}"));
    let url = listener.url().to_string();
    (listener, url)
}

/// A connected pair: (the accepted side, the connecting side).
fn pair(scheme: &str, dir: &TempDir, options: &Options) -> (Connection, Connection) {
    let (listener, url) = listen(scheme, dir, options);
    let client = std::thread::spawn({
        let options = options.clone();
        move || options.connect(&url)
    });
    let server = listener
        .accept()
        .unwrap_or_else(|e| panic!("{scheme}: accept: {e}"));
    let client = client
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{scheme}: connect: {e}"));
    (server, client)
}

/// Message `i` of a stream seeded `seed`: a length from 0 to 1999 bytes and contents
/// that name both, so a lost, duplicated, reordered or torn message is caught.
fn message(seed: u64, i: u64) -> Vec<u8> {
    let len = ((i * 37 + seed * 11) % 2000) as usize;
    (0..len)
        .map(|k| (seed as usize * 31 + i as usize * 7 + k) as u8)
        .collect()
}

#[test]
fn messages_keep_order_and_boundaries_both_ways_at_once() {
    const COUNT: u64 = 10_000;
    let dir = TempDir::new("conformance-order");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (server, client) = pair(scheme, &dir, &Options::default());
            let (mut s_tx, mut s_rx) = server.split();
            let (mut c_tx, mut c_rx) = client.split();
            let sends = [
                std::thread::spawn(move || {
                    for i in 0..COUNT {
                        c_tx.send(&message(1, i)).unwrap();
                    }
                }),
                std::thread::spawn(move || {
                    for i in 0..COUNT {
                        s_tx.send(&message(2, i)).unwrap();
                    }
                }),
            ];
            let receive = std::thread::spawn(move || {
                let mut buf = BytesMut::new();
                for i in 0..COUNT {
                    let len = c_rx.recv_into(&mut buf).unwrap();
                    assert_eq!(&buf[..len], &message(2, i)[..], "{scheme}: client got {i}");
                }
            });
            for i in 0..COUNT {
                let got = s_rx.recv().unwrap();
                assert_eq!(&got[..], &message(1, i)[..], "{scheme}: server got {i}");
            }
            receive.join().unwrap();
            for s in sends {
                s.join().unwrap();
            }
        });
    }
}

#[test]
fn empty_and_maximum_size_messages_arrive_whole() {
    let dir = TempDir::new("conformance-sizes");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, client) = pair(scheme, &dir, &Options::default());
            let (mut tx, _rx) = client.split();
            let max = tx.max_message_len();
            assert_eq!(max, ipclane::DEFAULT_MAX_MESSAGE_LEN, "{scheme}");
            let big: Vec<u8> = (0..max).map(|k| (k * 7 + k / 4096) as u8).collect();
            let sender = std::thread::spawn(move || {
                tx.send(b"").unwrap();
                tx.send(&big).unwrap();
                let over = vec![0u8; max + 1];
                assert!(
                    matches!(tx.send(&over), Err(Error::MessageTooLarge { len, max: m }) if len == max + 1 && m == max),
                    "{scheme}: over the maximum"
                );
                tx.send(b"after").unwrap();
                tx
            });
            assert_eq!(server.recv().unwrap().len(), 0, "{scheme}: empty");
            let got = server.recv().unwrap();
            assert_eq!(got.len(), max, "{scheme}: maximum");
            assert!(
                got.iter()
                    .enumerate()
                    .all(|(k, &b)| b == (k * 7 + k / 4096) as u8),
                "{scheme}: the maximum-size message arrived changed"
            );
            assert_eq!(
                server.recv().unwrap(),
                &b"after"[..],
                "{scheme}: nothing of the refused one was sent"
            );
            drop(sender.join().unwrap());
        });
    }
}

#[test]
fn timeouts_and_non_blocking_calls_lose_nothing() {
    let dir = TempDir::new("conformance-timeouts");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, mut client) = pair(scheme, &dir, &Options::default());
            let rx = server.receiver();
            let late = rx.recv_timeout(Duration::from_millis(20)).unwrap_err();
            assert!(
                matches!(late, Error::Timeout { at: Some(_) }),
                "{scheme}: {late}"
            );
            assert!(
                matches!(rx.recv_timeout(Duration::ZERO), Err(Error::Timeout { .. })),
                "{scheme}"
            );
            assert_eq!(rx.try_recv().unwrap(), None, "{scheme}");
            assert!(
                client.sender().try_send(b"one").unwrap(),
                "{scheme}: room for one"
            );
            client
                .sender()
                .send_timeout(b"two", Duration::from_secs(10))
                .unwrap();
            let rx = server.receiver();
            assert_eq!(
                rx.recv_timeout(WAIT_LIMIT).unwrap(),
                &b"one"[..],
                "{scheme}"
            );
            let deadline = Instant::now() + WAIT_LIMIT;
            let two = loop {
                if let Some(msg) = rx.try_recv().unwrap() {
                    break msg;
                }
                assert!(Instant::now() < deadline, "{scheme}: try_recv never saw it");
                std::thread::yield_now();
            };
            assert_eq!(two, &b"two"[..], "{scheme}");
        });
    }
}

/// A peer that is not reading fills the transport: `try_send` then says so without
/// sending, `send_timeout` gives up, and everything sent before arrives.
#[test]
fn a_full_transport_refuses_without_losing_what_was_sent() {
    let dir = TempDir::new("conformance-full");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let options = Options::default().ring_capacity(64 << 10);
            let (mut server, mut client) = pair(scheme, &dir, &options);
            let record = vec![7u8; 1000];
            let mut sent = 0u64;
            while client.sender().try_send(&record).unwrap() {
                sent += 1;
                assert!(sent < 1_000_000, "{scheme}: never full");
            }
            assert!(
                matches!(
                    client
                        .sender()
                        .send_timeout(&record, Duration::from_millis(20)),
                    Err(Error::Timeout { .. })
                ),
                "{scheme}"
            );
            for i in 0..sent {
                assert_eq!(
                    server.recv().unwrap(),
                    &record[..],
                    "{scheme}: message {i} of {sent}"
                );
            }
            assert_eq!(
                server.receiver().try_recv().unwrap(),
                None,
                "{scheme}: nothing more"
            );
        });
    }
}

#[test]
fn a_dropped_peer_is_disconnected_after_its_last_message() {
    let dir = TempDir::new("conformance-drop");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, mut client) = pair(scheme, &dir, &Options::default());
            for i in 0..3u8 {
                client.send(&[i]).unwrap();
            }
            drop(client);
            for i in 0..3u8 {
                assert_eq!(server.recv().unwrap(), &[i][..], "{scheme}");
            }
            let gone = server.recv().unwrap_err();
            assert!(matches!(gone, Error::Disconnected { .. }), "{scheme}");
            let url = server.url().to_string();
            assert!(
                gone.to_string().contains(&url),
                "{scheme}: {gone} names {url}"
            );
            assert!(
                matches!(
                    server.receiver().try_recv(),
                    Err(Error::Disconnected { .. })
                ),
                "{scheme}"
            );
            let mut refused = false;
            for _ in 0..1000 {
                // A socket may take a send or two before it reports the peer gone.
                if matches!(server.send(b"x"), Err(Error::Disconnected { .. })) {
                    refused = true;
                    break;
                }
            }
            assert!(refused, "{scheme}: sending to a dropped peer");
        });
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "client" => {
            let mut conn = ipclane::connect(&args[0]).unwrap();
            conn.send(b"hello").unwrap();
            say("connected");
            hold();
        }
        "listener" => {
            let listener = ipclane::listen(&args[0]).unwrap();
            say(listener.url());
            hold();
        }
        other => panic!("unknown role {other}"),
    });
}

/// A connection accepted from a client process (which sent `hello` and holds).
fn client_process(scheme: &str, dir: &TempDir) -> (Connection, Peer) {
    let (listener, url) = listen(scheme, dir, &Options::default());
    let mut peer = Peer::spawn("client", &[&url]);
    let conn = listener.accept().unwrap();
    assert_eq!(peer.recv(), "connected");
    (conn, peer)
}

/// A peer killed with SIGKILL is `Disconnected` on the other side, which was blocked in
/// `recv`, after what it sent. The bound: at once on sockets (the kernel closes them),
/// within the wait strategy's liveness period (10 ms) on shared memory.
#[test]
fn a_killed_peer_is_disconnected() {
    let dir = TempDir::new("conformance-kill");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut conn, mut peer) = client_process(scheme, &dir);
            assert_eq!(conn.recv().unwrap(), &b"hello"[..], "{scheme}");
            let (_tx, mut rx) = conn.split();
            let waiting = std::thread::spawn(move || {
                let result = rx.recv();
                (result, Instant::now())
            });
            std::thread::sleep(Duration::from_millis(50));
            let killed = Instant::now();
            peer.kill();
            let (result, at) = waiting.join().unwrap();
            assert!(
                matches!(result, Err(Error::Disconnected { .. })),
                "{scheme}: {result:?}"
            );
            println!(
                "{scheme}: Disconnected {:?} after the SIGKILL",
                at.saturating_duration_since(killed)
            );
        });
    }
}

/// Calls that never wait see a SIGKILLed peer too: `try_recv` becomes `Disconnected`
/// (after what it sent), and so does `try_send` once the peer's side is full. On shared
/// memory, where a killed peer never closes its side, they ask its claim once per
/// liveness period.
#[test]
fn calls_that_never_wait_see_a_killed_peer() {
    let dir = TempDir::new("conformance-kill-try");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut conn, mut peer) = client_process(scheme, &dir);
            peer.kill();
            let mut got_hello = false;
            loop {
                match conn.receiver().try_recv() {
                    Ok(Some(msg)) => {
                        assert_eq!(msg, &b"hello"[..], "{scheme}");
                        got_hello = true;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("{scheme}: try_recv: {e}"),
                }
            }
            assert!(got_hello, "{scheme}: what it sent before dying came first");
            loop {
                match conn.sender().try_send(&[0; 1000]) {
                    Ok(_) => std::thread::sleep(Duration::from_micros(100)),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("{scheme}: try_send: {e}"),
                }
            }
        });
    }
}

/// A listener killed with SIGKILL leaves its socket file; a new listener on the same
/// address takes it over (nobody listens there any more) and serves.
#[test]
fn a_server_restarts_on_its_address_after_a_crash() {
    let dir = TempDir::new("conformance-restart");
    for scheme in ["unix", "seqpacket", "shm"] {
        bounded(scheme, || {
            let url = url(scheme, &dir);
            let mut peer = Peer::spawn("listener", &[&url]);
            assert_eq!(peer.recv(), url);
            peer.kill();
            let (listener, url) = (ipclane::listen(&url).unwrap(), url);
            let client = std::thread::spawn(move || ipclane::connect(&url).unwrap().send(b"back"));
            assert_eq!(
                listener.accept().unwrap().recv().unwrap(),
                &b"back"[..],
                "{scheme}"
            );
            client.join().unwrap().unwrap();
        });
    }
}

/// Descriptors open in this process, counted in /proc/self/fd.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Connections close every descriptor they opened. (Alone in its binary's tests that
/// make connections at the time it counts: it runs its schemes one after another and
/// counts around each.)
#[test]
fn connections_leave_no_descriptor_open() {
    let _serial = ipclane_testkit::serial("ipclane-conformance-fds");
    let dir = TempDir::new("conformance-fds");
    for scheme in SCHEMES {
        // Warm up what opens descriptors once (thread pools, the resolver).
        drop(pair(scheme, &dir, &Options::default()));
        let before = open_fds();
        for _ in 0..5 {
            let (mut server, mut client) = pair(scheme, &dir, &Options::default());
            client.send(b"x").unwrap();
            assert_eq!(server.recv().unwrap(), &b"x"[..]);
        }
        assert_eq!(open_fds(), before, "{scheme}: descriptors left open");
    }
}

#[test]
fn local_connections_know_their_peer() {
    let dir = TempDir::new("conformance-peer");
    for scheme in SCHEMES {
        let (server, client) = pair(scheme, &dir, &Options::default());
        for (side, conn) in [("server", &server), ("client", &client)] {
            match (scheme, conn.peer_credentials()) {
                ("tcp", None) => {}
                ("tcp", Some(c)) => panic!("tcp {side}: credentials {c:?}"),
                (_, Some(c)) => {
                    assert_eq!(c.pid, std::process::id(), "{scheme} {side}");
                    assert_eq!(c.uid, rustix::process::getuid().as_raw(), "{scheme} {side}");
                }
                (_, None) => panic!("{scheme} {side}: no credentials"),
            }
        }
    }
}

#[test]
fn addresses_that_cannot_be_used_are_clear_errors() {
    for url in ["http://x:1", "unix://relative", "tcp://[::1:1"] {
        assert!(
            matches!(ipclane::connect(url), Err(Error::InvalidUrl { .. })),
            "{url}"
        );
        assert!(
            matches!(ipclane::listen(url), Err(Error::InvalidUrl { .. })),
            "{url}"
        );
    }
    let dir = TempDir::new("conformance-nobody");
    for scheme in ["unix", "seqpacket", "shm"] {
        let url = url(scheme, &dir);
        let err = ipclane::connect(&url).unwrap_err();
        assert!(err.to_string().contains("listen"), "{scheme}: {err}");
    }
}

/// `send_with` has the message written in place; a message left short, or written past
/// its length, sends nothing; large ones (fragments on shared memory) go too.
#[test]
fn messages_written_in_place_arrive_and_broken_ones_are_not_sent() {
    use std::io::Write;
    let dir = TempDir::new("conformance-send-with");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, client) = pair(scheme, &dir, &Options::default());
            let (mut tx, _rx) = client.split();
            let big = 3 << 20;
            // Another thread: a message larger than the transport holds waits for the reader.
            let sender = std::thread::spawn(move || {
                tx.send_with(11, |w| write!(w, "tick {:>6}", 42)).unwrap();
                assert!(
                    matches!(
                        tx.send_with(8, |w| w.write_all(b"short")),
                        Err(Error::Io { .. })
                    ),
                    "{scheme}"
                );
                assert!(
                    matches!(
                        tx.send_with(2, |w| w.write_all(b"long")),
                        Err(Error::Io { .. })
                    ),
                    "{scheme}"
                );
                tx.send_with(big, |w| {
                    for k in 0..big / 4096 {
                        w.write_all(&[k as u8; 4096])?;
                    }
                    Ok(())
                })
                .unwrap();
                tx.send_with(0, |_| Ok(())).unwrap();
                tx
            });
            assert_eq!(server.recv().unwrap(), &b"tick     42"[..], "{scheme}");
            let got = server.recv().unwrap();
            assert_eq!(
                got.len(),
                big,
                "{scheme}: nothing of the broken ones came before"
            );
            assert!(
                got.chunks(4096)
                    .enumerate()
                    .all(|(k, c)| c.iter().all(|&b| b == k as u8)),
                "{scheme}"
            );
            assert_eq!(server.recv().unwrap().len(), 0, "{scheme}");
            drop(sender.join().unwrap());
        });
    }
}

/// `recv_into_slice` takes a message into the caller's buffer; one longer than the
/// buffer stays next, whole, for a larger buffer or `recv`, and the messages after it
/// follow in order (large ones are fragments on shm and seqpacket).
#[test]
fn a_message_longer_than_the_buffer_stays_next_whole() {
    let dir = TempDir::new("conformance-slice");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, client) = pair(scheme, &dir, &Options::default());
            let (mut tx, _rx) = client.split();
            let big: Vec<u8> = (0..(1usize << 20)).map(|k| (k / 7) as u8).collect();
            let sent = big.clone();
            let sender = std::thread::spawn(move || {
                for msg in [
                    &b"small"[..],
                    &sent,
                    &b"twelve bytes"[..],
                    &sent,
                    &b"after"[..],
                ] {
                    tx.send(msg).unwrap();
                }
                tx
            });
            let rx = server.receiver();
            let mut buf = vec![0u8; 8];
            assert_eq!(rx.recv_into_slice(&mut buf).unwrap(), 5, "{scheme}");
            assert_eq!(&buf[..5], b"small");
            assert!(
                matches!(
                    rx.recv_into_slice(&mut buf),
                    Err(Error::BufferTooSmall { capacity: 8, .. })
                ),
                "{scheme}: 1 MiB into 8 bytes"
            );
            assert_eq!(
                rx.recv().unwrap(),
                &big[..],
                "{scheme}: kept whole for recv"
            );
            assert!(
                matches!(
                    rx.recv_into_slice(&mut buf),
                    Err(Error::BufferTooSmall { .. })
                ),
                "{scheme}"
            );
            let mut twelve = vec![0u8; 12];
            assert_eq!(
                rx.recv_into_slice(&mut twelve).unwrap(),
                12,
                "{scheme}: a larger buffer"
            );
            assert_eq!(&twelve, b"twelve bytes");
            let mut large = vec![0u8; 1 << 21];
            assert_eq!(
                rx.recv_into_slice(&mut large).unwrap(),
                big.len(),
                "{scheme}"
            );
            assert_eq!(&large[..big.len()], &big[..]);
            let mut into = BytesMut::new();
            assert_eq!(rx.recv_into(&mut into).unwrap(), 5, "{scheme}");
            assert_eq!(&into[..], b"after");
            drop(sender.join().unwrap());
        });
    }
}

/// Dropping one half of a split connection acts on the peer as on shared memory: the
/// sending half gone, the peer's receive ends (after what was sent); the receiving half
/// gone, a local peer's sends fail.
#[test]
fn dropping_one_half_tells_the_peer() {
    let dir = TempDir::new("conformance-halves");
    for scheme in SCHEMES {
        bounded(scheme, || {
            let (mut server, client) = pair(scheme, &dir, &Options::default());
            let (mut tx, rx) = client.split();
            tx.send(b"last").unwrap();
            drop(tx);
            assert_eq!(server.recv().unwrap(), &b"last"[..], "{scheme}");
            assert!(
                matches!(server.recv(), Err(Error::Disconnected { .. })),
                "{scheme}: the sender half is gone"
            );
            if scheme == "tcp" {
                return; // TCP does not tell a peer that nobody reads any more.
            }
            drop(rx);
            let mut refused = false;
            for _ in 0..100_000 {
                if matches!(
                    server.sender().try_send(&[0; 256]),
                    Err(Error::Disconnected { .. })
                ) {
                    refused = true;
                    break;
                }
            }
            assert!(refused, "{scheme}: sending to a dropped receiving half");
        });
    }
}

#[test]
fn options_that_cannot_work_are_refused_before_any_socket_exists() {
    let dir = TempDir::new("conformance-options");
    let shm = format!("shm://{}", dir.path().join("o.sock").display());
    for options in [
        Options::default().ring_capacity(1000),
        Options::default().ring_capacity(128),
        Options::default().handshake_timeout(Duration::ZERO),
    ] {
        assert!(
            matches!(options.listen(&shm), Err(Error::InvalidOptions { .. })),
            "{options:?}"
        );
        assert!(!dir.path().join("o.sock").exists(), "nothing was bound");
    }
    let err = Options::default()
        .connect_timeout(Duration::ZERO)
        .connect("tcp://127.0.0.1:1")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
}

/// A process with every facility open — a listener and a connection of each scheme
/// (sockets, the shm rings' memfds), a feed with its keyed table and a subscriber
/// (named segments and their claims), descriptors received over SCM_RIGHTS — runs a
/// program: the program sees only its stdin, stdout and stderr, and what this test
/// process itself inherited without close-on-exec (a harness's jobserver pipe, a shell's
/// descriptor), which it sees before anything is opened too. Segments used to leak their
/// directory descriptor here: `dup(2)` drops close-on-exec.
#[test]
fn a_program_run_by_a_process_holding_every_facility_sees_none_of_them() {
    use std::os::fd::AsFd;

    let _serial = ipclane_testkit::serial("ipclane-conformance-fds");
    let inherited = ipclane_testkit::descriptors_a_program_inherits();
    let dir = TempDir::new("conformance-exec");
    let mut held = Vec::new();
    for scheme in SCHEMES {
        let (listener, _) = listen(scheme, &dir, &Options::default());
        let (mut server, mut client) = pair(scheme, &dir, &Options::default());
        client.send(b"x").unwrap();
        assert_eq!(server.recv().unwrap(), &b"x"[..]);
        held.push((listener, server, client));
    }
    let feed = format!("conformance-exec-{}", std::process::id());
    let mut publisher =
        ipclane::Publisher::create(&feed, ipclane::PublishOptions::default().keys(4)).unwrap();
    let mut subscriber = ipclane::Subscriber::open(&feed).unwrap();
    publisher.publish_keyed(1, b"quote").unwrap();
    assert_eq!(subscriber.recv().unwrap(), &b"quote"[..]);
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    ipclane::uds::send_fds(&a, b"fd", &[file.as_fd()]).unwrap();
    let (n, received) = ipclane::uds::recv_fds(&b, &mut [0u8; 2], 4).unwrap();
    assert_eq!((n, received.len()), (2, 1));

    let seen = ipclane_testkit::descriptors_a_program_inherits();
    assert_eq!(
        seen, inherited,
        "a program run now inherits more than this process was given"
    );
    drop((held, publisher, subscriber, received));
}
