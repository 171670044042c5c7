//! `ipclane`: the named shared-memory segments of ipclane on this machine, what they
//! hold, and cleaning up after dead owners.
//!
//! ```text
//! ipclane ls [--json]              every segment and listener: kind, size, owner alive, attached handles
//! ipclane inspect NAME [--json]    a ring's capacity, fill level, positions and sides
//! ipclane gc [--dry-run] [--json]  remove the segments whose owners are dead
//! ipclane bridge --topic NAME --zenoh KEYEXPR [--direction out|in] [--connect E] [--listen E]
//!                                  a feed to or from Zenoh (runs `ipclane-bridge`, of ipclane-zenoh)
//! ```
//!
//! Exit codes: 0 done, 1 failed (the message says what and where), 2 bad usage.

mod bridge;
mod gc;
mod inspect;
mod kind;
mod ls;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The named shared-memory segments of ipclane on this machine.
#[derive(Debug, Parser)]
#[command(name = "ipclane", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists every named segment (/dev/shm/ipclane.*) and every listener: kind, size,
    /// whether its owner is alive, how many handles are attached, a listener's URL.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows what one segment holds: for a ring, its capacity, fill level, positions and
    /// who holds each side.
    Inspect {
        /// The segment's name, without the `ipclane.` prefix.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Removes the segments whose owners are dead (never a live one, never another
    /// user's, never a persistent one).
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Bridges a feed to or from Zenoh, beyond this machine: runs `ipclane-bridge` (of the
    /// crate ipclane-zenoh, found beside this program or on PATH) with these arguments;
    /// `ipclane bridge --help` says which.
    #[command(disable_help_flag = true)]
    Bridge {
        /// The arguments of `ipclane-bridge`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit with 2
    let done = match cli.command {
        Command::Ls { json } => ls::run(json),
        Command::Inspect { name, json } => inspect::run(&name, json),
        Command::Gc { dry_run, json } => gc::run(dry_run, json),
        Command::Bridge { args } => bridge::run(&args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipclane: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<(), ipclane::Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ipclane::Error::Io {
        op: "write JSON",
        source: e.into(),
    })?;
    println!("{text}");
    Ok(())
}
