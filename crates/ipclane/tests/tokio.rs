//! The async front end (`ipclane::tokio`, feature `tokio`): every connection scheme through
//! the async API, against blocking and async peers in other processes, cancel-safety
//! under `select!`, and tokio-util's `Framed` (an independent implementation of the wire
//! format) as a peer.

use std::sync::atomic::{AtomicU64, Ordering};

use async_support::{run, runtime, timer};
use futures_util::{SinkExt, StreamExt};
use ipclane::Error;
use ipclane_testkit::{Peer, TempDir, hold, say};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

mod async_support;

const SCHEMES: [&str; 5] = ["unix", "unix-abstract", "seqpacket", "tcp", "shm"];

/// A fresh address of `scheme` (socket files under `dir`).
fn url(scheme: &str, dir: &TempDir) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match scheme {
        "unix-abstract" => format!("unix:@ipclane-tokio-{}-{n}", std::process::id()),
        "tcp" => "tcp://127.0.0.1:0".into(),
        other => format!(
            "{other}://{}",
            dir.path().join(format!("{other}-{n}.sock")).display()
        ),
    }
}

/// Message `i` of a stream: a length from 0 to 1999 bytes, and among the first 3,000
/// every 97th of 300 KiB (more than a socket buffer holds, so sends leave tails and
/// receives see parts),
/// with contents that name `i`, so a lost, duplicated, reordered or torn message is
/// caught.
fn message(i: u64) -> Vec<u8> {
    let len = if i % 97 == 13 && i < 3000 {
        300 * 1024
    } else {
        ((i * 37) % 2000) as usize
    };
    (0..len).map(|k| (i as usize * 7 + k * 13) as u8).collect()
}

#[test]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // A blocking ipclane peer: echoes every message until the other side is gone.
        "echo" => {
            let mut conn = ipclane::connect(&args[0]).unwrap();
            say("connected");
            loop {
                match conn.recv() {
                    Ok(msg) => conn.send(&msg).unwrap(),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("echo: {e}"),
                }
            }
        }
        // A blocking echo that never sleeps: its replies land within a few hundred
        // nanoseconds of the request, in the async receiver's race window.
        "echo-busy" => {
            let options = ipclane::Options::default()
                .wait_strategy(ipclane::queue::WaitStrategy::busy_poll());
            let mut conn = options.connect(&args[0]).unwrap();
            say("connected");
            loop {
                match conn.recv() {
                    Ok(msg) => conn.send(&msg).unwrap(),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("echo: {e}"),
                }
            }
        }
        // An async ipclane peer, the same.
        "async-echo" => runtime().block_on(async {
            let mut conn = ipclane::tokio::connect(&args[0]).await.unwrap();
            say("connected");
            loop {
                match conn.recv().await {
                    Ok(msg) => conn.send(&msg).await.unwrap(),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("async echo: {e}"),
                }
            }
            conn.sender().flush().await.unwrap();
        }),
        // An async peer that sends one message and holds (to be killed).
        "async-hold" => runtime().block_on(async {
            let mut conn = ipclane::tokio::connect(&args[0]).await.unwrap();
            conn.send(b"last words").await.unwrap();
            say("connected");
            hold();
        }),
        other => panic!("unknown role {other}"),
    });
}

/// Sends messages 0..count through `conn` to an echoing peer and checks each echo,
/// with up to 8 messages in flight.
async fn echo_through(scheme: &str, conn: &mut ipclane::tokio::Connection, count: u64) {
    let mut next_echo = 0;
    for i in 0..count {
        conn.send(&message(i))
            .await
            .unwrap_or_else(|e| panic!("{scheme}: send {i}: {e}"));
        if i >= 8 {
            let got = conn.recv().await.unwrap();
            assert!(
                got == message(next_echo),
                "{scheme}: echo {next_echo} differs"
            );
            next_echo += 1;
        }
    }
    conn.sender().flush().await.unwrap();
    while next_echo < count {
        let got = conn.recv().await.unwrap();
        assert!(
            got == message(next_echo),
            "{scheme}: echo {next_echo} differs"
        );
        next_echo += 1;
    }
}

/// An async listener and an async connection talk to blocking ipclane peer processes on
/// every socket scheme: messages from 0 bytes to 300 KiB, in order, checked.
#[test]
fn the_async_api_talks_to_blocking_peers_on_every_scheme() {
    let dir = TempDir::new("tokio-blocking-peers");
    run(async {
        for scheme in SCHEMES {
            let listener = ipclane::tokio::listen(&url(scheme, &dir)).await.unwrap();
            let mut peer = Peer::spawn("echo", &[&listener.url().to_string()]);
            let mut conn = listener.accept().await.unwrap();
            assert_eq!(peer.recv(), "connected");
            assert!(scheme == "tcp" || conn.peer_credentials().is_some());
            echo_through(scheme, &mut conn, 300).await;
            drop(conn);
            assert!(peer.finish().success(), "{scheme}: the echo peer failed");
        }
    });
}

/// An async peer process connects to a blocking listener and echoes: the mix the other
/// way round.
#[test]
fn an_async_peer_talks_to_a_blocking_listener_on_every_scheme() {
    let dir = TempDir::new("tokio-async-peers");
    for scheme in SCHEMES {
        let listener = ipclane::listen(&url(scheme, &dir)).unwrap();
        let mut peer = Peer::spawn("async-echo", &[&listener.url().to_string()]);
        let mut conn = listener.accept().unwrap();
        assert_eq!(peer.recv(), "connected");
        for i in 0..300 {
            conn.send(&message(i)).unwrap();
            assert!(conn.recv().unwrap() == message(i), "{scheme}: echo {i}");
        }
        drop(conn);
        assert!(
            peer.finish().success(),
            "{scheme}: the async echo peer failed"
        );
    }
}

/// The cancel-safety test: 100,000 messages, every `send` and every `recv` in a
/// `select!` against a timer (a zero or short sleep, or a few polls), retried when the
/// timer wins. Nothing may be lost, duplicated, reordered or torn; the count of
/// cancellations proves the races happened.
#[test]
fn send_and_recv_cancelled_by_a_timer_lose_and_duplicate_nothing() {
    const COUNT: u64 = 100_000;
    let dir = TempDir::new("tokio-cancel");
    run(async {
        for scheme in SCHEMES {
            let listener = ipclane::tokio::listen(&url(scheme, &dir)).await.unwrap();
            let url = listener.url().to_string();
            let client = tokio::spawn(async move { ipclane::tokio::connect(&url).await });
            let server = listener.accept().await.unwrap();
            let client = client.await.unwrap().unwrap();
            let (mut tx, _) = client.split();
            let (_, mut rx) = server.split();
            let sending = tokio::spawn(async move {
                let mut cancelled = 0u64;
                for i in 0..COUNT {
                    let msg = message(i);
                    loop {
                        tokio::select! {
                            sent = tx.send(&msg) => { sent.unwrap(); break; }
                            () = timer(i + cancelled) => cancelled += 1,
                        }
                    }
                }
                tx.flush().await.unwrap();
                (cancelled, tx)
            });
            let mut cancelled = 0u64;
            for i in 0..COUNT {
                let got = loop {
                    tokio::select! {
                        got = rx.recv() => break got.unwrap(),
                        () = timer(i * 3 + cancelled) => cancelled += 1,
                    }
                };
                assert!(
                    got == message(i),
                    "{scheme}: message {i} differs ({} bytes, {} expected)",
                    got.len(),
                    message(i).len()
                );
            }
            let (send_cancelled, tx) = sending.await.unwrap();
            drop(tx);
            assert!(
                matches!(rx.recv().await, Err(Error::Disconnected { .. })),
                "{scheme}: a message after the last"
            );
            println!(
                "{scheme}: {COUNT} messages; sends cancelled {send_cancelled} times, receives {cancelled}"
            );
            assert!(
                cancelled > 1000,
                "{scheme}: only {cancelled} receives were cancelled: the test did not race"
            );
            assert!(
                send_cancelled > 10,
                "{scheme}: only {send_cancelled} sends were cancelled: the test did not race"
            );
        }
    });
}

/// tokio-util's `Framed` with `LengthDelimitedCodec::new()`, a peer written without
/// ipclane, talks to the async front end both ways, on `unix:` and `tcp:`, messages of 0
/// bytes to 300 KiB.
#[test]
fn a_tokio_util_framed_peer_interoperates() {
    let dir = TempDir::new("tokio-framed");
    run(async {
        for scheme in ["unix", "tcp"] {
            // ipclane listens, Framed connects.
            let listener = ipclane::tokio::listen(&url(scheme, &dir)).await.unwrap();
            let at = listener.url().to_string();
            let framed = tokio::spawn(async move {
                match at.split_once("://") {
                    Some(("unix", path)) => {
                        let s = tokio::net::UnixStream::connect(path).await.unwrap();
                        framed_echo(Framed::new(s, LengthDelimitedCodec::new())).await;
                    }
                    Some(("tcp", addr)) => {
                        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                        framed_echo(Framed::new(s, LengthDelimitedCodec::new())).await;
                    }
                    _ => unreachable!("{at}"),
                }
            });
            let mut conn = listener.accept().await.unwrap();
            echo_through(scheme, &mut conn, 200).await;
            drop(conn);
            framed.await.unwrap();
        }
        // Framed listens, ipclane connects (unix).
        let path = dir.path().join("framed-server.sock");
        let server = tokio::net::UnixListener::bind(&path).unwrap();
        let framed = tokio::spawn(async move {
            let (s, _) = server.accept().await.unwrap();
            framed_echo(Framed::new(s, LengthDelimitedCodec::new())).await;
        });
        let mut conn = ipclane::tokio::connect(&format!("unix://{}", path.display()))
            .await
            .unwrap();
        echo_through("unix (Framed server)", &mut conn, 200).await;
        drop(conn);
        framed.await.unwrap();
    });
}

/// Echoes every frame until the stream ends.
async fn framed_echo<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut framed: Framed<T, LengthDelimitedCodec>,
) {
    while let Some(frame) = framed.next().await {
        framed.send(frame.unwrap().freeze()).await.unwrap();
    }
}

/// A peer process killed with SIGKILL: the async receiver gets what it sent, then
/// `Disconnected` (the kernel closes its sockets), and a send then fails `Disconnected`
/// rather than waiting.
#[test]
fn a_killed_peer_is_disconnected_for_async_receivers_and_senders() {
    let dir = TempDir::new("tokio-killed");
    run(async {
        for scheme in SCHEMES {
            let listener = ipclane::tokio::listen(&url(scheme, &dir)).await.unwrap();
            let mut peer = Peer::spawn("async-hold", &[&listener.url().to_string()]);
            let mut conn = listener.accept().await.unwrap();
            assert_eq!(peer.recv(), "connected");
            assert_eq!(conn.recv().await.unwrap(), &b"last words"[..]);
            peer.kill();
            let got = conn.recv().await;
            assert!(
                matches!(got, Err(Error::Disconnected { .. })),
                "{scheme}: {got:?}"
            );
            let mut sent = Ok(());
            for _ in 0..1000 {
                sent = conn.send(&message(13)).await;
                if sent.is_err() {
                    break;
                }
            }
            if scheme != "tcp" {
                // Over TCP, the first sends after a reset may still be taken.
                assert!(
                    matches!(sent, Err(Error::Disconnected { .. })),
                    "{scheme}: {sent:?}"
                );
            }
        }
    });
}

/// `try_send` to a peer that does not read fills the socket, then says `false` with
/// nothing sent; once the peer reads, every message taken arrives once, in order,
/// including the tail of the one that did not fit whole.
#[test]
fn try_send_says_full_and_loses_nothing() {
    let dir = TempDir::new("tokio-full");
    run(async {
        for scheme in SCHEMES {
            let listener = ipclane::tokio::listen(&url(scheme, &dir)).await.unwrap();
            let url = listener.url().to_string();
            let client = tokio::spawn(async move { ipclane::tokio::connect(&url).await });
            let mut server = listener.accept().await.unwrap();
            let mut client = client.await.unwrap().unwrap();
            let mut taken = 0u64;
            while client.sender().try_send(&message(taken)).unwrap() {
                taken += 1;
                assert!(taken < 1_000_000, "{scheme}: the socket never filled");
            }
            assert!(taken > 0);
            let reader = tokio::spawn(async move {
                for i in 0..taken {
                    assert!(server.recv().await.unwrap() == message(i), "message {i}");
                }
                assert!(matches!(
                    server.recv().await,
                    Err(Error::Disconnected { .. })
                ));
            });
            client.sender().flush().await.unwrap();
            drop(client);
            reader.await.unwrap();
        }
    });
}

/// Strict ping-pong over `shm:`, the async side never spinning: every receive arms its
/// wait and awaits the doorbell, with the peer's reply landing around the moment it
/// arms. A notification lost in that race (the look after arming left out, the flag
/// not re-armed) leaves a reply unheard, which no later message rescues: the test hangs
/// and fails at the wait limit. Both directions wait: the replies are 300 KiB now and
/// then, more than the ring holds, so the peer's sender waits for room too.
#[test]
fn async_shm_ping_pong_never_loses_a_wake_up() {
    let dir = TempDir::new("tokio-shm-ping-pong");
    run(async {
        let options =
            ipclane::Options::default().wait_strategy(ipclane::queue::WaitStrategy::efficient());
        let listener = ipclane::tokio::listen_with(&url("shm", &dir), &options)
            .await
            .unwrap();
        let mut peer = Peer::spawn("echo-busy", &[&listener.url().to_string()]);
        let mut conn = listener.accept().await.unwrap();
        assert_eq!(peer.recv(), "connected");
        for i in 0..20_000u64 {
            let msg = if i % 1000 == 7 {
                message(13)
            } else {
                message(i % 64)
            };
            conn.send(&msg).await.unwrap();
            assert!(conn.recv().await.unwrap() == msg, "round trip {i}");
        }
        drop(conn);
        assert!(peer.finish().success(), "the echo peer failed");
    });
}
