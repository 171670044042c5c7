//! Echo over any ipclane URL: a server that sends every message back, and a client that
//! times round trips and prints their percentiles.
//!
//! ```text
//! cargo run --release -p ipclane --example echo -- shm:///tmp/echo.sock          # both, two processes
//! cargo run --release -p ipclane --example echo -- server unix:///tmp/echo.sock  # a server
//! cargo run --release -p ipclane --example echo -- client unix:///tmp/echo.sock [COUNT] [SIZE]
//! ```
//!
//! With only a URL, it starts the server as a second process itself, runs the client
//! (10,000 round trips of 64 bytes unless told otherwise) and stops the server.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;

fn serve(url: &str) -> Result<(), ipclane::Error> {
    let listener = ipclane::listen(url)?;
    println!("echo server on {}", listener.url());
    loop {
        // A client refused (by the access policy, or a handshake that failed or timed
        // out) or a lack of descriptors is that client's loss, not the server's.
        let mut conn = match listener.accept() {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("echo server: a client was dropped: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            let mut buf = BytesMut::new();
            loop {
                match conn.receiver().recv_into(&mut buf) {
                    Ok(_) => {
                        if conn.send(&buf).is_err() {
                            return;
                        }
                    }
                    Err(_) => return, // the client left
                }
            }
        });
    }
}

/// Connects, retrying while the server is still starting.
fn connect(url: &str) -> Result<ipclane::Connection, ipclane::Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ipclane::connect(url) {
            Err(ipclane::Error::Uds(_) | ipclane::Error::Refused { .. })
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn client(url: &str, count: usize, size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = connect(url)?;
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut msg = vec![0u8; size];
    let mut buf = BytesMut::with_capacity(size);
    for i in 0..count + count / 10 {
        // Every message differs, and every byte of every answer is checked.
        let stamp = (i as u64).to_le_bytes();
        for (k, b) in msg.iter_mut().enumerate() {
            *b = stamp[k % 8] ^ k as u8;
        }
        let start = Instant::now();
        conn.send(&msg)?;
        let len = conn.receiver().recv_into(&mut buf)?;
        let took = start.elapsed();
        if buf[..len] != msg[..] {
            return Err(format!("answer {i} differs from what was sent").into());
        }
        if i >= count / 10 {
            // The first tenth warms up.
            histogram.record(took.as_nanos() as u64)?;
        }
    }
    println!(
        "{url}: {count} round trips of {size} B: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        histogram.value_at_quantile(0.5) as f64 / 1e3,
        histogram.value_at_quantile(0.9) as f64 / 1e3,
        histogram.value_at_quantile(0.99) as f64 / 1e3,
        histogram.value_at_quantile(0.999) as f64 / 1e3,
        histogram.max() as f64 / 1e3,
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let result: Result<(), Box<dyn std::error::Error>> = match args.first().map(String::as_str) {
        Some("server") if args.len() == 2 => serve(&args[1]).map_err(Into::into),
        Some("client") if args.len() >= 2 => client(&args[1], number(2, 10_000), number(3, 64)),
        Some(url) if args.len() <= 3 && url.contains(':') => (|| {
            let mut server = Command::new(std::env::current_exe()?)
                .args(["server", url])
                .spawn()?;
            let ran = client(url, number(1, 10_000), number(2, 64));
            server.kill()?;
            server.wait()?;
            // Killed, the server could not remove its socket file.
            if let Ok(
                ipclane::Url::Unix(path) | ipclane::Url::SeqPacket(path) | ipclane::Url::Shm(path),
            ) = url.parse::<ipclane::Url>()
            {
                let _ = std::fs::remove_file(path);
            }
            ran
        })(),
        _ => {
            eprintln!(
                "usage: echo URL [COUNT] [SIZE] | echo server URL | echo client URL [COUNT] [SIZE]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
