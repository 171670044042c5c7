//! The shipped example runs, and answers bad arguments with a usage message and exit
//! status 2, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The example binary cargo built next to this test binary.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn run(exe: &PathBuf, args: &[&str]) -> Output {
    Command::new(exe).args(args).output().expect("run example")
}

#[test]
fn exchange_rejects_bad_arguments_with_usage() {
    let _deadline = ipclane_testkit::Deadline::new(
        ipclane_testkit::WAIT_LIMIT,
        "exchange_rejects_bad_arguments_with_usage: the example processes",
    );
    let Some(exe) = example("exchange") else {
        ipclane_testkit::skip(
            "exchange_rejects_bad_arguments_with_usage",
            "example not built (cargo builds the examples with the test targets)",
        );
        return;
    };
    for args in [
        &["0"][..],
        &["--child"],
        &["--child", "a", "b"],
        &["99999999999999999999"],
        &["18446744073709551615"],
        &["10000001"],
        &["-5"],
        &["many"],
        &["1", "2"],
    ] {
        let out = run(&exe, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: exchange"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn exchange_runs_between_two_processes() {
    let _deadline = ipclane_testkit::Deadline::new(
        ipclane_testkit::WAIT_LIMIT,
        "exchange_runs_between_two_processes: the example processes",
    );
    let Some(exe) = example("exchange") else {
        ipclane_testkit::skip(
            "exchange_runs_between_two_processes",
            "example not built (cargo builds the examples with the test targets)",
        );
        return;
    };
    let out = run(&exe, &["50"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("50 round trips"), "{stdout}");
    assert!(stdout.contains("all answers verified"), "{stdout}");
}
