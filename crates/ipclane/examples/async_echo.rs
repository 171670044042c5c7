//! Echo over any ipclane URL, async: a tokio server that answers every connection from a
//! task of its own, and a tokio client that times round trips, each bounded by a
//! timeout (cancel-safe: a receive that times out loses nothing).
//!
//! ```text
//! cargo run --release -p ipclane --features tokio --example async_echo -- shm:///tmp/aecho.sock
//! cargo run --release -p ipclane --features tokio --example async_echo -- server unix:///tmp/aecho.sock
//! cargo run --release -p ipclane --features tokio --example async_echo -- client unix:///tmp/aecho.sock [COUNT] [SIZE]
//! ```
//!
//! With only a URL, it starts the server as a second process itself, runs the client
//! (10,000 round trips of 64 bytes unless told otherwise) and stops the server. The
//! server is as happy with the blocking `echo` example's client, and this client with
//! its server: blocking and async peers mix on every transport.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

async fn serve(url: &str) -> Result<(), ipclane::Error> {
    let listener = ipclane::tokio::listen(url).await?;
    println!("async echo server on {}", listener.url());
    loop {
        // A client refused, or whose handshake failed, is that client's loss only.
        let mut conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("async echo server: a client was dropped: {e}");
                continue;
            }
        };
        tokio::spawn(async move {
            while let Ok(msg) = conn.recv().await {
                if conn.send(&msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Connects, retrying while the server is still starting.
async fn connect(url: &str) -> Result<ipclane::tokio::Connection, ipclane::Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ipclane::tokio::connect(url).await {
            Err(ipclane::Error::Uds(_) | ipclane::Error::Refused { .. })
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

async fn client(url: &str, count: usize, size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = connect(url).await?;
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut msg = vec![0u8; size];
    let mut timeouts = 0u64;
    for i in 0..count + count / 10 {
        // Every message differs, and every byte of every answer is checked.
        let stamp = (i as u64).to_le_bytes();
        for (k, b) in msg.iter_mut().enumerate() {
            *b = stamp[k % 8] ^ k as u8;
        }
        let start = Instant::now();
        conn.send(&msg).await?;
        // A bounded wait: the receive is cancel-safe, so one that times out is begun
        // again and takes the answer when it comes, whole.
        let answer = loop {
            match tokio::time::timeout(Duration::from_millis(100), conn.recv()).await {
                Ok(answer) => break answer?,
                Err(_) => timeouts += 1,
            }
        };
        let took = start.elapsed();
        if answer[..] != msg[..] {
            return Err(format!("answer {i} differs from what was sent").into());
        }
        if i >= count / 10 {
            // The first tenth warms up.
            histogram.record(took.as_nanos() as u64)?;
        }
    }
    println!(
        "{url}: {count} async round trips of {size} B: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us ({timeouts} receives timed out and were begun again)",
        histogram.value_at_quantile(0.5) as f64 / 1e3,
        histogram.value_at_quantile(0.9) as f64 / 1e3,
        histogram.value_at_quantile(0.99) as f64 / 1e3,
        histogram.value_at_quantile(0.999) as f64 / 1e3,
        histogram.max() as f64 / 1e3,
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let result: Result<(), Box<dyn std::error::Error>> = match args.first().map(String::as_str) {
        Some("server") if args.len() == 2 => serve(&args[1]).await.map_err(Into::into),
        Some("client") if args.len() >= 2 => {
            client(&args[1], number(2, 10_000), number(3, 64)).await
        }
        Some(url) if args.len() <= 3 && url.contains(':') => {
            match std::env::current_exe()
                .and_then(|me| Command::new(me).args(["server", url]).spawn())
            {
                Ok(mut server) => {
                    let ran = client(url, number(1, 10_000), number(2, 64)).await;
                    let _ = server.kill();
                    let _ = server.wait();
                    // Killed, the server could not remove its socket file.
                    if let Ok(
                        ipclane::Url::Unix(path)
                        | ipclane::Url::SeqPacket(path)
                        | ipclane::Url::Shm(path),
                    ) = url.parse::<ipclane::Url>()
                    {
                        let _ = std::fs::remove_file(path);
                    }
                    ran
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => {
            eprintln!(
                "usage: async_echo URL [COUNT] [SIZE] | async_echo server URL | async_echo client URL [COUNT] [SIZE]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
