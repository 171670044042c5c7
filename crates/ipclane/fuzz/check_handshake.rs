//! The property the `handshake` fuzz target checks, shared with the corpus replay test
//! (`tests/fuzz_corpus.rs`), so that ordinary `cargo test` runs every corpus input.
//!
//! It compiles the handshake's sans-IO code (`src/shm/wire.rs`) as it is and holds it
//! against a model written from the wire format (docs/wire-format.md) alone.
//!
//! Input: byte 0 chooses the size of the pieces the client's bytes are fed in (1 to 8),
//! byte 1 how many descriptors came with the reply (0 to 3); the rest is what a client
//! sends, and its first 8 bytes are also taken as a server's reply. Nothing may panic;
//! the server accepts exactly after the hello `IPCL 1 0 0 0`, connects exactly after the
//! hello then `IPCL 1 2 0 0`, and refuses anything else the moment the message it is in
//! is complete; a client takes exactly the reply `IPCL 1 0 0 0` with two descriptors.

#[allow(dead_code, unreachable_pub)]
#[path = "../src/shm/wire.rs"]
mod wire;

use wire::{Next, ServerHandshake, check_reply};

/// What the server must make of `stream` (a client's bytes), by the wire format: the
/// outcomes in order, `None` for a refusal, which ends them.
fn model(stream: &[u8]) -> Vec<Option<Next>> {
    let mut out = Vec::new();
    let Some(hello) = stream.get(..8) else {
        return out;
    };
    if &hello[..4] != b"IPCL" {
        out.push(None);
        return out;
    }
    if hello[4] != 1 {
        out.push(Some(Next::WrongVersion(hello[4])));
        return out;
    }
    if hello[5..] != [0, 0, 0] {
        out.push(None);
        return out;
    }
    out.push(Some(Next::Accept));
    if let Some(attached) = stream.get(8..16) {
        out.push((attached == b"IPCL\x01\x02\x00\x00").then_some(Next::Connected));
    }
    out
}

/// Runs the decoders over `data` and checks the property; panics if it does not hold.
pub(crate) fn check(data: &[u8]) {
    let [piece, fds, stream @ ..] = data else {
        return;
    };
    let piece = usize::from(piece % 8) + 1;
    let mut server = ServerHandshake::new();
    let mut seen = Vec::new();
    let mut fed = 0;
    while fed < stream.len() && server.wanted() > 0 {
        let n = piece.min(server.wanted()).min(stream.len() - fed);
        let before = server.wanted();
        match server.feed(&stream[fed..fed + n]) {
            Ok(Next::Read) => assert_eq!(server.wanted(), before - n, "a read takes its bytes"),
            Ok(next) => seen.push(Some(next)),
            Err(why) => {
                assert!(!why.is_empty());
                seen.push(None);
            }
        }
        fed += n;
        // Each message's outcome comes with its last byte, and nothing goes on after
        // the end (a version reply, a refusal, the connection).
        if matches!(
            seen.last(),
            Some(None | Some(Next::WrongVersion(_) | Next::Connected))
        ) {
            assert_eq!(server.wanted(), 0, "the handshake is over");
            break;
        }
    }
    assert_eq!(
        seen,
        model(stream),
        "the server's outcomes for {stream:02x?}"
    );
    if server.wanted() == 0 {
        assert!(
            server.feed(&[0]).is_err(),
            "a byte after the end is refused"
        );
    }

    let mut reply = [0u8; 8];
    let n = stream.len().min(8);
    reply[..n].copy_from_slice(&stream[..n]);
    let fds = usize::from(fds % 4);
    let good = reply == *b"IPCL\x01\x00\x00\x00" && fds == 2;
    match check_reply(&reply, fds, 1) {
        Ok(()) => assert!(good, "took the reply {reply:02x?} with {fds} descriptors"),
        Err(why) => assert!(!good && !why.is_empty(), "refused a good reply: {why}"),
    }
}
