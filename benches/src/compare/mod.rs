//! The cross-process comparison: every ipclane transport beside the machine's floor, the
//! raw baselines and the libraries a user would pick instead, in one run
//! (`cargo run --release -p ipclane-bench`).
//!
//! - [`transport`]: the transports; [`link`]: a link between two processes over any of
//!   them; [`peers`]: iceoryx2 and ipc-channel as transports.
//! - [`drive`]: timed drivers (ping-pong, stream, sidecar) that stamp every byte sent and
//!   check every byte received; [`rows`]: one measurement of one transport at one size;
//!   [`fanout`] and [`proxy`]: the two scenarios (the fan-out's feeds and presets in
//!   [`feed`], its publisher paced by [`pacing`], its subscribers played by
//!   [`subscribe`]); [`machine`]: the floors.
//! - [`run`]: a whole run; [`pairs`]: ratios between rows measured back to back on
//!   one floor; [`targets`]: the layers' targets on them;
//!   [`results`]: what it measured; [`table`], [`report`], [`charts`]: how it shows,
//!   with the formatters of [`format`](mod@format).
//! - [`cli`]: the command line.

pub mod charts;
pub mod cli;
pub mod drive;
pub mod fanout;
pub mod feed;
pub mod format;
pub mod link;
pub mod machine;
pub mod pacing;
pub mod pairs;
pub mod peers;
pub mod proxy;
pub mod report;
pub mod results;
pub mod rows;
pub mod run;
pub mod subscribe;
pub mod table;
pub mod targets;
pub mod transport;

use std::process::ExitCode;

use crate::peer::{self, Launcher};

/// Plays the peer `role` of any measurement of the comparison; `false` for a role it
/// does not know.
pub fn play(role: &str, args: &[String]) -> bool {
    if role == subscribe::SUBSCRIBE {
        subscribe::subscribe(args);
        return true;
    }
    if role == peers::zenoh::BRIDGE_IN {
        peers::zenoh::bridge_in(args);
        return true;
    }
    rows::play(role, args) || proxy::play(role, args) || crate::queue_targets::play(role, args)
}

/// The comparison binary: a peer's role when started as one, else a run as `args` asks,
/// its table printed and its report written.
pub fn main(launcher: &Launcher) -> ExitCode {
    if let Some((role, args)) = peer::role() {
        assert!(play(&role, &args), "unknown peer role {role}");
        return ExitCode::SUCCESS;
    }
    let args = <cli::Args as clap::Parser>::parse();
    let results = match run::run(launcher, &args) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("ipclane-bench: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", table::render(&results));
    let written = report::write(&results, &args.out).and_then(|paths| {
        if let Some(json) = &args.json {
            report::write_json(&results, json)?;
        }
        Ok(paths)
    });
    match written {
        Ok(paths) => {
            println!("\nreport: {}", args.out.display());
            for p in paths {
                println!("  {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "ipclane-bench: write the report to {}: {e}",
                args.out.display()
            );
            ExitCode::FAILURE
        }
    }
}
