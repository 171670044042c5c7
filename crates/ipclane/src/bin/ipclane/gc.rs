//! `ipclane gc`.

use ipclane::segment::GcOptions;
use serde::Serialize;

/// What a run did, as printed.
#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    /// Removed (in a dry run: would be).
    removed: Vec<String>,
    /// Left: a live owner, or persistent.
    kept: Vec<String>,
    /// Left alone, with why: not proven to be a segment gc may remove.
    skipped: Vec<(String, String)>,
    /// Could not be examined or removed, with the error.
    failed: Vec<(String, String)>,
}

pub(crate) fn run(dry_run: bool, json: bool) -> Result<(), ipclane::Error> {
    let done = GcOptions::new().dry_run(dry_run).run()?;
    let report = Report {
        dry_run,
        removed: done.removed,
        kept: done.kept,
        skipped: done.skipped,
        failed: done
            .failed
            .into_iter()
            .map(|(n, e)| (n, e.to_string()))
            .collect(),
    };
    if json {
        super::print_json(&report)?;
    } else {
        let verb = if dry_run { "would remove" } else { "removed" };
        for name in &report.removed {
            println!("{verb} {name}");
        }
        for (name, why) in &report.skipped {
            println!("skipped {name}: {why}");
        }
        for (name, why) in &report.failed {
            eprintln!("failed {name}: {why}");
        }
        println!(
            "{} {verb}, {} kept (live owner or persistent), {} skipped, {} failed",
            report.removed.len(),
            report.kept.len(),
            report.skipped.len(),
            report.failed.len()
        );
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(ipclane::Error::Io {
            op: "gc",
            source: std::io::Error::other(format!(
                "{} segments could not be removed",
                report.failed.len()
            )),
        })
    }
}
