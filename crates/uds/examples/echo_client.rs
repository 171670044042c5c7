//! Sends frames to an echo server, checks every echo, and prints round-trip times.
//!
//! ```text
//! cargo run -p ipclane-uds --example echo_client -- /tmp/echo.sock [FRAMES] [BYTES]
//! ```
//!
//! Defaults: 1000 frames of 64 bytes; at most 1 000 000 frames of 8 MiB. Bad arguments
//! print the usage and exit with status 2. Start `echo_server` first.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ipclane_uds::{DEFAULT_MAX_FRAME_LENGTH, FramedStream, UdsAddr, connect};

type Error = Box<dyn std::error::Error>;

const USAGE: &str = "usage: echo_client SOCKET_PATH|@ABSTRACT_NAME [FRAMES] [BYTES]";

/// Most frames one run sends (every round trip time is kept for the percentiles).
const MAX_FRAMES: usize = 1_000_000;

/// What to do, from the command line.
struct Args {
    addr: UdsAddr,
    frames: usize,
    bytes: usize,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1).collect()) {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("echo_client: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the arguments; a message saying what is wrong otherwise.
fn parse(args: Vec<String>) -> Result<Args, String> {
    let [addr, rest @ ..] = &args[..] else {
        return Err("missing SOCKET_PATH".into());
    };
    if rest.len() > 2 {
        return Err(format!("unexpected argument {:?}", rest[2]));
    }
    let addr = addr
        .parse()
        .map_err(|e| format!("bad socket address: {e}"))?;
    let number = |i: usize, name: &str, default: usize, max: usize| match rest.get(i) {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "{name} must be a number from 0 to {max}, not {s:?}"
            )),
        },
    };
    Ok(Args {
        addr,
        frames: number(0, "FRAMES", 1000, MAX_FRAMES)?,
        bytes: number(1, "BYTES", 64, DEFAULT_MAX_FRAME_LENGTH)?,
    })
}

fn run(args: &Args) -> Result<(), Error> {
    let Args {
        ref addr,
        frames,
        bytes,
    } = *args;
    let mut framed = FramedStream::new(connect(addr)?);
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
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .expect("valid histogram bounds");
    for rtt in &rtts {
        histogram.saturating_record(rtt.as_nanos().try_into().unwrap_or(u64::MAX));
    }
    let pct = |p: f64| Duration::from_nanos(histogram.value_at_quantile(p));
    println!(
        "{frames} frames of {bytes} bytes echoed by {addr}; round trip p50 {:?} p99 {:?} max {:?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
