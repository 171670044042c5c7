//! Test support for the ipclane crates (not published): unique names, temporary
//! directories and peer processes.
//!
//! A peer is the calling test binary started again with the filter `peer_entry`, an
//! `#[ignore]`d test whose body calls [`run_peer`] to dispatch on the role in
//! `IPCLANE_PEER_ROLE`. Peers talk back through lines on stdout that start with `@peer `;
//! they read stdin to learn when to go on (a line) or stop (end of input).
//!
//! IPC must be tested between real processes; this is how the test suites start them
//! without a second binary.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ROLE_VAR: &str = "IPCLANE_PEER_ROLE";
const ARGS_VAR: &str = "IPCLANE_PEER_ARGS";
const MARK: &str = "@peer ";

/// A name no other test, process or run uses at the same time.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary directory, removed with its contents when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory under the system temporary directory.
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("ipclane-{}", unique(tag)));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether the tests run as root (needed for mount namespaces and setuid).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// In a peer running as root: becomes the user and group `nobody` (65534) for the rest of
/// the process, to test what another user may do.
///
/// # Panics
///
/// When the switch fails.
pub fn become_nobody() {
    // SAFETY: a plain syscall wrapper on the calling process (glibc applies it to every
    // thread); the group goes first, while we still may change it.
    let group = unsafe { libc::setgid(65534) } == 0;
    // SAFETY: as above.
    let user = group && unsafe { libc::setuid(65534) } == 0;
    assert!(user, "drop privileges: {}", std::io::Error::last_os_error());
}

/// A running peer process; killed and reaped when dropped.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts this test binary again as a peer in `role`, with `args`.
    pub fn spawn(role: &str, args: &[&str]) -> Peer {
        let exe = std::env::current_exe().expect("current test binary");
        let mut child = Command::new(exe)
            .args(["peer_entry", "--exact", "--include-ignored", "--nocapture"])
            .args(["--test-threads=1", "-q"])
            .env(ROLE_VAR, role)
            .env(
                ARGS_VAR,
                args.iter()
                    .map(|a| format!("{a}\u{1f}"))
                    .collect::<String>(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn peer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("peer stdout"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next message of the peer; panics if it exits first.
    pub fn recv(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read peer stdout");
            assert!(n > 0, "peer exited before sending a message");
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if let Some(msg) = line.strip_prefix(MARK) {
                return msg.to_owned();
            }
        }
    }

    /// Tells the peer to go on.
    pub fn send(&mut self, msg: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin open");
        writeln!(stdin, "{msg}").expect("write peer stdin");
        stdin.flush().expect("flush peer stdin");
    }

    /// Kills the peer with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill peer");
        self.child.wait().expect("reap peer");
    }

    /// Closes the peer's stdin (its cue to finish) and waits for it to exit.
    pub fn finish(mut self) -> ExitStatus {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait peer") {
                return status;
            }
            assert!(Instant::now() < deadline, "peer did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// In a peer: sends a message to the test.
pub fn say(msg: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{msg}").expect("write stdout");
    out.flush().expect("flush stdout");
}

/// In a peer: waits for the test's next line; `None` at end of input.
pub fn listen() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_owned()),
    }
}

/// In a peer: waits until the test closes stdin (or dies).
pub fn hold() {
    while listen().is_some() {}
}

/// The body of `peer_entry`: runs the role this process was started for, if any.
pub fn run_peer(dispatch: fn(&str, &[String])) {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let args: Vec<String> = std::env::var(ARGS_VAR)
        .unwrap_or_default()
        .split_terminator('\u{1f}')
        .map(str::to_owned)
        .collect();
    dispatch(&role, &args);
}

/// Waits until `cond` holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
