//! `ipclane-bridge` (also `ipclane bridge`): a local feed to a Zenoh key, or a Zenoh key
//! expression into a local feed, until interrupted.
//!
//! ```text
//! ipclane-bridge --topic quotes --zenoh market/quotes --direction out --connect tcp/10.0.0.2:7447
//! ipclane-bridge --topic quotes --zenoh market/quotes --direction in --listen tcp/0.0.0.0:7447
//! ```
//!
//! The session is a Zenoh peer without multicast scouting unless `--config FILE` (Zenoh's
//! JSON5 configuration) or the flags say otherwise. The log goes to standard error
//! (`RUST_LOG` filters it; by default the bridge's information and Zenoh's warnings).
//! Exit codes: 0 stopped by SIGINT or SIGTERM, 1 failed (the message says what), 2 bad
//! usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ipclane::{PublishOptions, Start};
use ipclane_zenoh::{Bridge, Config, Error, InOptions, Mode, OutOptions};

/// Bridges an ipclane feed to Zenoh: out to a key, or in from a key expression.
#[derive(Debug, Parser)]
#[command(name = "ipclane-bridge", version, about)]
struct Cli {
    /// The local feed's name.
    #[arg(long)]
    topic: String,
    /// The Zenoh key (out) or key expression (in, wildcards allowed).
    #[arg(long = "zenoh", value_name = "KEYEXPR")]
    keyexpr: String,
    /// `out`: the local feed is published on Zenoh; `in`: Zenoh's records are published
    /// into a new local feed.
    #[arg(long, value_enum, default_value_t = Way::Out)]
    direction: Way,
    /// An endpoint to connect to, such as tcp/192.0.2.10:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    connect: Vec<String>,
    /// An endpoint to listen on, such as tcp/0.0.0.0:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    listen: Vec<String>,
    /// Zenoh's configuration file (JSON5); the flags override it where given.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The session's mode (peer unless the file says otherwise).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Discover peers by multicast scouting (off unless asked for).
    #[arg(long)]
    multicast_scouting: bool,
    /// Seconds to wait for the endpoints to connect to before failing.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Out: where to start on the feed first found (a restarted publisher's feed is read
    /// from its oldest record).
    #[arg(long, value_enum, default_value_t = StartArg::Newest)]
    start: StartArg,
    /// In: the local feed's slots.
    #[arg(long)]
    slots: Option<usize>,
    /// In: the local feed's largest record, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_message_len: Option<usize>,
    /// In: publish each sample whole, its 40-byte header first.
    #[arg(long)]
    framed: bool,
    /// Log the counts every so many seconds (0: only when stopping).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    stats_every: f64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Way {
    Out,
    In,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Peer,
    Client,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StartArg {
    Newest,
    Oldest,
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit with 2
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,zenoh=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipclane-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The session's configuration from the file and the flags.
fn config(cli: &Cli) -> Result<Config, Error> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::peer(),
    };
    for endpoint in &cli.connect {
        config = config.connect(endpoint)?;
    }
    for endpoint in &cli.listen {
        config = config.listen(endpoint)?;
    }
    if let Some(mode) = cli.mode {
        config = config.mode(match mode {
            ModeArg::Peer => Mode::Peer,
            ModeArg::Client => Mode::Client,
        });
    }
    if cli.multicast_scouting {
        config = config.multicast_scouting(true);
    }
    let timeout = seconds(cli.connect_timeout, "--connect-timeout")?;
    Ok(config.connect_timeout(timeout))
}

/// `value` seconds, refused when negative or not a number.
fn seconds(value: f64, flag: &str) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value).map_err(|e| Error::Config {
        at: None,
        reason: format!("{flag} {value}: {e}"),
    })
}

fn run(cli: &Cli) -> Result<(), Error> {
    let config = config(cli)?;
    let stats_every = seconds(cli.stats_every, "--stats-every")?;
    // Caught from now on: a signal while the session opens stops the bridge once open.
    let mut signals = Signals::new()?;
    let bridge = match cli.direction {
        Way::Out => {
            let start = match cli.start {
                StartArg::Newest => Start::Newest,
                StartArg::Oldest => Start::Oldest,
            };
            Bridge::out_with(
                &cli.topic,
                &cli.keyexpr,
                &config,
                OutOptions::default().start(start),
            )?
        }
        Way::In => {
            let mut publish = PublishOptions::default();
            if let Some(slots) = cli.slots {
                publish = publish.slots(slots);
            }
            if let Some(len) = cli.max_message_len {
                publish = publish.max_message_len(len);
            }
            let options = InOptions::default().publish(publish).framed(cli.framed);
            Bridge::inbound_with(&cli.topic, &cli.keyexpr, &config, options)?
        }
    };
    tracing::info!(
        topic = %cli.topic,
        key = %cli.keyexpr,
        "bridge {} running (SIGINT or SIGTERM stops it)",
        bridge.direction()
    );
    let stopped = signals.wait(&bridge, stats_every)?;
    let stats = bridge.stats();
    tracing::info!(topic = %cli.topic, key = %cli.keyexpr, "stopping: {stats:?}");
    let ended = bridge.stop();
    if !stopped {
        ended?;
        return Err(Error::Io {
            op: "bridging",
            source: std::io::Error::other("the bridge ended by itself"),
        });
    }
    ended
}

/// SIGINT and SIGTERM, caught (not the default action) from their creation on.
struct Signals {
    runtime: tokio::runtime::Runtime,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

/// An error of waiting for a signal.
fn signal_error(source: std::io::Error) -> Error {
    Error::Io {
        op: "waiting for a signal",
        source,
    }
}

impl Signals {
    /// Catches SIGINT and SIGTERM.
    fn new() -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(signal_error)?;
        let _context = runtime.enter();
        let interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        Ok(Self {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Waits for SIGINT or SIGTERM (`true`), or for the bridge to end by itself
    /// (`false`), logging its counts every `every` if not zero.
    fn wait(&mut self, bridge: &Bridge, every: Duration) -> Result<bool, Error> {
        let tick = if every.is_zero() {
            Duration::from_millis(100)
        } else {
            every.min(Duration::from_millis(100))
        };
        let Self {
            runtime,
            interrupt,
            terminate,
        } = self;
        runtime.block_on(async {
            let mut logged = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = interrupt.recv() => return Ok(true),
                    _ = terminate.recv() => return Ok(true),
                    () = tokio::time::sleep(tick) => {}
                }
                if !bridge.is_running() {
                    return Ok(false);
                }
                if !every.is_zero() && logged.elapsed() >= every {
                    logged = tokio::time::Instant::now();
                    tracing::info!(topic = %bridge.topic(), key = %bridge.keyexpr(), "{:?}", bridge.stats());
                }
            }
        })
    }
}
