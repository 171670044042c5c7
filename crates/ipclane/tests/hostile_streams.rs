//! A peer that breaks the framing of a stream connection (`unix:`, `tcp:`): a header
//! announcing more than the connection's maximum is `Error::Protocol` at once, before
//! anything is buffered for it, never an allocation of what it announced.

use std::io::Write;

use ipclane::{Error, Options};
use ipclane_testkit::{TempDir, bounded};

#[test]
fn a_frame_header_over_the_maximum_is_a_protocol_error() {
    let dir = TempDir::new("hostile-streams");
    for scheme in ["unix", "tcp"] {
        let url = match scheme {
            "tcp" => "tcp://127.0.0.1:0".to_owned(),
            _ => format!("unix://{}", dir.path().join("s.sock").display()),
        };
        let listener = Options::default()
            .max_message_len(1 << 20)
            .listen(&url)
            .unwrap();
        let url = listener.url().clone();
        // A raw peer: one good frame (a 4-byte big-endian length, as tokio-util's
        // `LengthDelimitedCodec`), then a header announcing 3 GiB.
        let peer = std::thread::spawn(move || {
            let mut socket: Box<dyn Write + Send> = match url {
                ipclane::Url::Tcp { host, port } => {
                    Box::new(std::net::TcpStream::connect((host.as_str(), port)).unwrap())
                }
                ipclane::Url::Unix(path) => {
                    Box::new(std::os::unix::net::UnixStream::connect(path).unwrap())
                }
                other => panic!("{other}"),
            };
            socket.write_all(&[0, 0, 0, 2, b'h', b'i']).unwrap();
            socket.write_all(&(3u32 << 30).to_be_bytes()).unwrap();
            socket.flush().unwrap();
            socket
        });
        let mut conn = bounded(scheme, || listener.accept()).unwrap();
        assert_eq!(conn.recv().unwrap(), &b"hi"[..], "{scheme}");
        match bounded(scheme, || conn.recv()) {
            Err(Error::Protocol { reason }) => {
                assert!(reason.contains("3221225472"), "{scheme}: {reason}")
            }
            other => panic!("{scheme}: {other:?}"),
        }
        drop(peer.join().unwrap());
    }
}
