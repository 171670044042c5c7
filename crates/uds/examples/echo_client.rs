//! Sends frames to an echo server, checks every echo, and prints round-trip times.
//!
//! ```text
//! cargo run -p ipclane-uds --example echo_client -- /tmp/echo.sock [FRAMES] [BYTES]
//! ```
//!
//! Defaults: 1000 frames of 64 bytes. Start `echo_server` first.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ipclane_uds::{FramedStream, UdsAddr, connect};

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: echo_client SOCKET_PATH|@ABSTRACT_NAME [FRAMES] [BYTES]");
        return ExitCode::FAILURE;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Error> {
    let addr: UdsAddr = args[1].parse()?;
    let frames: usize = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let bytes: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    let mut framed = FramedStream::new(connect(&addr)?);
    let mut rtts = Vec::with_capacity(frames);
    let mut payload = vec![0u8; bytes];
    for i in 0..frames {
        payload
            .iter_mut()
            .enumerate()
            .for_each(|(j, b)| *b = (i + j) as u8);
        let t0 = Instant::now();
        framed.write_frame(&payload)?;
        let echo = framed
            .read_frame()?
            .ok_or("the server closed the connection")?;
        rtts.push(t0.elapsed());
        if echo[..] != payload[..] {
            return Err(format!("frame {i}: the echo differs").into());
        }
    }
    rtts.sort_unstable();
    let pct = |p: f64| {
        rtts.get(((rtts.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(Duration::ZERO)
    };
    println!(
        "{frames} frames of {bytes} bytes echoed by {addr}; round trip p50 {:?} p99 {:?} max {:?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
