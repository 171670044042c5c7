//! The shared-memory handshake refuses what it must, cleanly on both sides: a client of
//! another handshake version, a client that never says hello. (A client of another user:
//! `access.rs`, on every local transport.)

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipclane::{Error, Options};
use ipclane_testkit::{TempDir, bounded};

/// A hello of handshake `version`.
fn hello(version: u8) -> [u8; 8] {
    [b'I', b'P', b'C', b'L', version, 0, 0, 0]
}

/// A shm listener in a fresh directory, with a handshake timeout of `timeout`: the
/// directory (kept while the test runs), the socket's path, the listener.
fn shm_listener(tag: &str, timeout: Duration) -> (TempDir, std::path::PathBuf, ipclane::Listener) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("shm.sock");
    let listener = Options::default()
        .handshake_timeout(timeout)
        .listen(&format!("shm://{}", path.display()))
        .unwrap();
    (dir, path, listener)
}

#[test]
fn a_client_of_another_version_is_refused_on_both_sides() {
    let dir = TempDir::new("handshake-version");
    let path = dir.path().join("shm.sock");
    let listener = ipclane::listen(&format!("shm://{}", path.display())).unwrap();
    let client = std::thread::spawn(move || {
        let mut socket = UnixStream::connect(&path).unwrap();
        let hello = [
            b'I',
            b'P',
            b'C',
            b'L',
            ipclane::shm::HANDSHAKE_VERSION + 1,
            0,
            0,
            0,
        ];
        socket.write_all(&hello).unwrap();
        let mut reply = Vec::new();
        socket.read_to_end(&mut reply).unwrap();
        reply
    });
    match listener.accept() {
        Err(Error::Refused { reason, .. }) => assert!(reason.contains("version"), "{reason}"),
        other => panic!("accepted: {other:?}"),
    }
    let reply = client.join().unwrap();
    assert_eq!(
        reply,
        [
            b'I',
            b'P',
            b'C',
            b'L',
            ipclane::shm::HANDSHAKE_VERSION,
            1,
            0,
            0
        ],
        "the reply names the server's version and refuses"
    );
    // The listener goes on serving.
    let url = listener.url().to_string();
    let ok = std::thread::spawn(move || ipclane::connect(&url).map(drop));
    listener.accept().unwrap();
    ok.join().unwrap().unwrap();
}

#[test]
fn a_client_that_never_says_hello_is_dropped_after_the_handshake_timeout() {
    let (_dir, path, listener) = shm_listener("handshake-silent", Duration::from_millis(50));
    let _silent = UnixStream::connect(&path).unwrap();
    bounded("silent client", || match listener.accept() {
        Err(Error::Refused { reason, .. }) => assert!(reason.contains("no hello"), "{reason}"),
        other => panic!("{other:?}"),
    });
}

/// A client that takes the rings but never attaches to them (it died, or failed to map
/// them) is refused at the handshake timeout, instead of leaving the server a connection
/// whose peer can never be seen gone.
#[test]
fn a_client_that_never_attaches_is_refused_at_the_handshake_timeout() {
    let (_dir, path, listener) = shm_listener("handshake-unattached", Duration::from_millis(100));
    let client = std::thread::spawn(move || {
        let mut socket = UnixStream::connect(&path).unwrap();
        let hello = hello(ipclane::shm::HANDSHAKE_VERSION);
        socket.write_all(&hello).unwrap();
        let mut reply = [0u8; 8];
        let (n, fds) = ipclane::uds::recv_fds(&socket, &mut reply, 2).unwrap();
        assert_eq!((n, fds.len()), (8, 2), "the rings came");
        // ... and nothing more: hold the socket until the server gives up.
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest);
    });
    bounded("unattached client", || match listener.accept() {
        Err(Error::Refused { reason, .. }) => assert!(reason.contains("attached"), "{reason}"),
        other => panic!("{other:?}"),
    });
    client.join().unwrap();
}

/// A client that trickles its hello one byte at a time cannot stretch the handshake past
/// its timeout: the bound is on the whole handshake, not on each read.
#[test]
fn a_trickling_client_cannot_stretch_the_handshake() {
    let (_dir, path, listener) = shm_listener("handshake-trickle", Duration::from_millis(200));
    let client = std::thread::spawn(move || {
        let mut socket = UnixStream::connect(&path).unwrap();
        // A valid hello, a byte every 150 ms: each read would finish within a 200 ms
        // bound of its own, and the hello would arrive whole after 1.2 s.
        let hello = hello(ipclane::shm::HANDSHAKE_VERSION);
        for byte in hello {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    match bounded("trickling client", || listener.accept()) {
        Err(Error::Refused { reason, .. }) => {
            assert!(
                reason.contains("no hello"),
                "the hello itself timed out: {reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    client.join().unwrap();
}
