//! Echoes every frame back to its sender; serves many clients at once (a thread each).
//!
//! ```text
//! cargo run -p ipclane-uds --example echo_server -- /tmp/echo.sock
//! cargo run -p ipclane-uds --example echo_client -- /tmp/echo.sock
//! ```
//!
//! The socket file is created with mode 0600 and removed when the server exits; if the
//! server is killed, the next start finds the file stale and reclaims it. An address
//! starting with `@` is in the abstract namespace (no file).

use std::process::ExitCode;

use ipclane_uds::{FramedStream, Listener, UdsAddr, UdsError};

const USAGE: &str = "usage: echo_server SOCKET_PATH|@ABSTRACT_NAME";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = match &args[..] {
        [addr] => addr
            .parse::<UdsAddr>()
            .map_err(|e| format!("bad socket address: {e}")),
        [] => Err("missing SOCKET_PATH".to_owned()),
        [_, extra, ..] => Err(format!("unexpected argument {extra:?}")),
    };
    let addr = match addr {
        Ok(addr) => addr,
        Err(problem) => {
            eprintln!("echo_server: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(addr: &UdsAddr) -> Result<(), UdsError> {
    let listener = Listener::bind(addr)?;
    eprintln!("echo_server: listening on {addr}");
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                std::thread::spawn(move || {
                    let mut framed = FramedStream::new(stream);
                    let mut frames = 0u64;
                    let result = loop {
                        match framed.read_frame() {
                            Ok(Some(frame)) => {
                                if let Err(e) = framed.write_frame(&frame) {
                                    break Err(e);
                                }
                                frames += 1;
                            }
                            Ok(None) => break Ok(()),
                            Err(e) => break Err(e),
                        }
                    };
                    match result {
                        Ok(()) => {
                            eprintln!("echo_server: pid {} done after {frames} frames", peer.pid)
                        }
                        Err(e) => eprintln!("echo_server: pid {}: {e}", peer.pid),
                    }
                });
            }
            // A refused peer does not stop the server.
            Err(e @ UdsError::PeerRejected { .. }) => eprintln!("echo_server: {e}"),
            Err(e) => return Err(e),
        }
    }
}
