//! A local proxy (sidecar): it accepts requests on a Unix socket and forwards each to a
//! backend over any URL (`unix:`, `shm:` or `tcp:`), routing the replies back. Clients,
//! proxy and backend are three processes; the clients time every request's round trip
//! through both hops and print the percentiles.
//!
//! ```text
//! cargo run --release -p ipclane --example local_proxy -- [--backend shm|unix|tcp] [--clients N] [--requests R] [--size B]
//! cargo run --release -p ipclane --example local_proxy -- proxy LISTEN_URL BACKEND_URL
//! cargo run --release -p ipclane --example local_proxy -- backend URL
//! ```
//!
//! The backend answers each request with its bytes reversed, so every reply is checked.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The next connection of `listener`, or `None` when that client was dropped (refused
/// by the access policy, a handshake that failed or timed out, no descriptor left): that
/// is the client's loss, logged, and the server goes on.
fn accept(listener: &ipclane::Listener) -> Option<ipclane::Connection> {
    listener
        .accept()
        .map_err(|e| eprintln!("a client was dropped: {e}"))
        .ok()
}

/// Serves each connection on a thread of its own with `answer`, until the peer leaves.
fn serve(
    url: &str,
    answer: impl Fn(&mut ipclane::Connection, &[u8]) -> Result<Vec<u8>> + Clone + Send + 'static,
) -> Result<()> {
    let listener = ipclane::listen(url)?;
    println!("ready");
    loop {
        let Some(mut conn) = accept(&listener) else {
            continue;
        };
        let answer = answer.clone();
        std::thread::spawn(move || {
            let mut buf = BytesMut::new();
            while conn.receiver().recv_into(&mut buf).is_ok() {
                match answer(&mut conn, &buf) {
                    Ok(reply) if conn.send(&reply).is_ok() => {}
                    _ => return,
                }
            }
        });
    }
}

fn backend(url: &str) -> Result<()> {
    serve(url, |_, request| {
        Ok(request.iter().rev().copied().collect())
    })
}

/// The sidecar: one backend connection per client connection, requests forwarded in order.
fn proxy(listen: &str, backend: &str) -> Result<()> {
    let listener = ipclane::listen(listen)?;
    println!("ready");
    loop {
        let Some(mut client) = accept(&listener) else {
            continue;
        };
        let mut upstream = match ipclane::connect(backend) {
            Ok(upstream) => upstream,
            Err(e) => {
                // The client learns at once (its connection closes), and the next may
                // find the backend back.
                eprintln!("proxy: no backend for a client: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            let mut buf = BytesMut::new();
            while client.receiver().recv_into(&mut buf).is_ok() {
                let forwarded = upstream
                    .send(&buf)
                    .and_then(|()| upstream.receiver().recv_into(&mut buf))
                    .and_then(|_| client.send(&buf));
                if forwarded.is_err() {
                    return;
                }
            }
        });
    }
}

/// Starts this example again as `role` with `args` and waits for its "ready".
fn start(role: &str, args: &[&str]) -> Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg(role)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("child stdout")?).read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("{role} said {line:?}").into());
    }
    Ok(child)
}

fn client(url: &str, requests: usize, size: usize, id: usize) -> Result<Histogram<u64>> {
    let mut conn = ipclane::connect(url)?;
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut request = vec![0u8; size];
    let mut reply = BytesMut::with_capacity(size);
    for i in 0..requests {
        for (k, b) in request.iter_mut().enumerate() {
            *b = (i + k * 7 + id) as u8;
        }
        let start = Instant::now();
        conn.send(&request)?;
        conn.receiver().recv_into(&mut reply)?;
        let took = start.elapsed();
        if !reply.iter().eq(request.iter().rev()) {
            return Err(format!("client {id}: reply {i} is not its request reversed").into());
        }
        histogram.record(took.as_nanos() as u64)?;
    }
    Ok(histogram)
}

fn option(args: &[String], flag: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or(format!("{flag} needs a value"))?
            .parse()?),
    }
}

fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("backend") => backend(args.get(1).ok_or("backend URL")?),
        Some("proxy") => proxy(
            args.get(1).ok_or("proxy LISTEN BACKEND")?,
            args.get(2).ok_or("proxy LISTEN BACKEND")?,
        ),
        _ => {
            let scheme = match args.iter().position(|a| a == "--backend") {
                Some(i) => args
                    .get(i + 1)
                    .ok_or("--backend needs shm, unix or tcp")?
                    .as_str(),
                None => "shm",
            };
            let (clients, requests, size) = (
                option(args, "--clients", 4)?,
                option(args, "--requests", 20_000)?,
                option(args, "--size", 256)?,
            );
            let dir =
                std::env::temp_dir().join(format!("ipclane-local-proxy-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let backend_url = match scheme {
                "tcp" => "tcp://127.0.0.1:17420".to_owned(),
                "shm" | "unix" => format!("{scheme}://{}", dir.join("backend.sock").display()),
                other => return Err(format!("unknown backend scheme {other}").into()),
            };
            let proxy_url = format!("unix://{}", dir.join("proxy.sock").display());
            let mut backend = start("backend", &[&backend_url])?;
            let mut proxy = start("proxy", &[&proxy_url, &backend_url])?;
            let threads: Vec<_> = (0..clients)
                .map(|id| {
                    let url = proxy_url.clone();
                    std::thread::spawn(move || client(&url, requests, size, id))
                })
                .collect();
            let mut all = Histogram::<u64>::new(3)?;
            let started = Instant::now();
            let mut failed = None;
            for t in threads {
                match t.join().map_err(|_| "a client panicked")? {
                    Ok(h) => all.add(h)?,
                    Err(e) => failed = Some(e),
                }
            }
            let elapsed = started.elapsed().max(Duration::from_nanos(1));
            for child in [&mut proxy, &mut backend] {
                child.kill()?;
                child.wait()?;
            }
            std::fs::remove_dir_all(&dir)?;
            if let Some(e) = failed {
                return Err(e);
            }
            let us = |q: f64| all.value_at_quantile(q) as f64 / 1e3;
            println!(
                "{clients} clients x {requests} requests of {size} B, client -unix-> proxy -{scheme}-> backend: \
                 {:.0} requests/s, round trip p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
                all.len() as f64 / elapsed.as_secs_f64(),
                us(0.5),
                us(0.9),
                us(0.99),
                us(0.999),
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local_proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
