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

pub mod alloc;
pub mod netns;
pub mod rng;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const ROLE_VAR: &str = "IPCLANE_PEER_ROLE";
const ARGS_VAR: &str = "IPCLANE_PEER_ARGS";
const MARK: &str = "@peer ";
const SKIP_LOG_VAR: &str = "IPCLANE_SKIP_LOG";

/// A name no other test, process or run uses at the same time.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique name for a named segment (`/dev/shm/ipclane.<name>`), whose file is removed
/// when dropped, whatever the test did: even a failed test leaves nothing behind.
#[derive(Debug)]
pub struct ShmName(pub String);

impl ShmName {
    /// A new unique name (see [`unique`]).
    pub fn new(tag: &str) -> Self {
        Self(unique(tag))
    }
}

impl Drop for ShmName {
    /// Removes the segment and a feed's companions (its tables of latest values, of
    /// bells and its message type), which a killed publisher leaves.
    fn drop(&mut self) {
        for suffix in ["", ".last", ".bells", ".type"] {
            let _ = std::fs::remove_file(format!("/dev/shm/ipclane.{}{suffix}", self.0));
        }
    }
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

/// The lock names the suites share: `"gc"` is held by every test that runs a segment
/// gc (which removes every dead segment it finds, other tests' included) or that leaves a
/// dead segment for its own gc to find.
/// Holds the lock `name` shared by every test process of the suite (an `flock` on a file
/// in the temporary directory), so tests that must not overlap never do: under
/// `cargo nextest` each test is a process of its own, and a mutex in one binary would no
/// longer keep two of them apart. Released when dropped (or when the process dies).
///
/// # Panics
///
/// When the lock file cannot be opened or locked.
pub fn serial(name: &str) -> SerialGuard {
    let path = std::env::temp_dir().join(format!("ipclane-test-{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    SerialGuard(file)
}

/// The lock taken by [`serial`].
#[must_use = "the lock holds until the guard is dropped"]
#[derive(Debug)]
pub struct SerialGuard(#[allow(dead_code)] std::fs::File);

/// The number of cases a property test runs: `PROPTEST_CASES` when set (to run a
/// longer search by hand), else `default` (what the suite affords in CI).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

/// How long a test waits for a peer's next message, or for anything else that must
/// happen, before it fails naming what it waited for. Far above any legitimate wait here
/// (seconds on a loaded 2-vCPU machine), far below the runner's own limit.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// A running peer process; killed and reaped when dropped.
#[derive(Debug)]
pub struct Peer {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// The peer's messages, read from its stdout by a thread, so that waiting for one
    /// can have a deadline; `Err` once the peer closed its stdout.
    messages: Receiver<Result<String, String>>,
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
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || forward_messages(stdout, &tx));
        Peer {
            role: role.to_owned(),
            child,
            stdin,
            messages,
        }
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next message of the peer.
    ///
    /// # Panics
    ///
    /// When the peer exits first, or sends nothing within [`WAIT_LIMIT`]: the message
    /// names the peer's role.
    pub fn recv(&mut self) -> String {
        self.recv_within(WAIT_LIMIT)
    }

    /// Like [`recv`](Self::recv), waiting at most `limit`.
    ///
    /// # Panics
    ///
    /// As `recv`.
    pub fn recv_within(&mut self, limit: Duration) -> String {
        match self.messages.recv_timeout(limit) {
            Ok(Ok(msg)) => msg,
            Ok(Err(why)) => panic!("peer {} (pid {}) {why}", self.role, self.pid()),
            Err(RecvTimeoutError::Timeout) => panic!(
                "peer {} (pid {}) sent no message within {limit:?}",
                self.role,
                self.pid()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                panic!(
                    "peer {} (pid {}): its messages were lost",
                    self.role,
                    self.pid()
                )
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

    /// Stops the peer with SIGSTOP and waits until the kernel says it is stopped.
    ///
    /// # Panics
    ///
    /// When it is not stopped within half of [`WAIT_LIMIT`].
    pub fn stop(&self) {
        self.signal(rustix::process::Signal::STOP);
        let stat = format!("/proc/{}/stat", self.pid());
        let stopped = eventually(WAIT_LIMIT / 2, || {
            std::fs::read_to_string(&stat).is_ok_and(|s| {
                // The state follows the command's closing parenthesis.
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
            })
        });
        assert!(
            stopped,
            "peer {} (pid {}) did not stop",
            self.role,
            self.pid()
        );
    }

    /// Lets a stopped peer go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("a peer's pid");
        rustix::process::kill_process(pid, signal).expect("signal a peer");
    }

    /// Closes the peer's stdin (its cue to finish) and waits for it to exit.
    ///
    /// # Panics
    ///
    /// When it has not exited within [`WAIT_LIMIT`].
    pub fn finish(mut self) -> ExitStatus {
        self.stdin.take();
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait peer") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "peer {} (pid {}) did not exit within {WAIT_LIMIT:?} of being told to finish",
                self.role,
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Sends every `@peer` line of a peer's stdout to the test, then why the stream ended.
fn forward_messages(mut stdout: BufReader<ChildStdout>, tx: &mpsc::Sender<Result<String, String>>) {
    let mut line = String::new();
    loop {
        line.clear();
        let end = match stdout.read_line(&mut line) {
            Ok(0) => "exited before sending a message".to_owned(),
            Ok(_) => {
                let text = line.strip_suffix('\n').unwrap_or(&line);
                if let Some(msg) = text.strip_prefix(MARK)
                    && tx.send(Ok(msg.to_owned())).is_err()
                {
                    return; // the test dropped the peer
                }
                continue;
            }
            Err(e) => format!("stdout unreadable: {e}"),
        };
        let _ = tx.send(Err(end));
        return;
    }
}

/// Fails the whole test process, naming `what`, unless dropped within `limit`: the
/// deadline of a wait that has none of its own (a `*_blocking` call, `accept`).
///
/// A stuck call cannot be interrupted from another thread; the process is ended instead,
/// with exit status 101 (a failed test) and the message on stderr. Each test runs in a
/// process of its own under `cargo nextest` (`bash scripts/test.sh`), so only the stuck
/// test fails.
#[must_use = "the deadline holds until the guard is dropped"]
#[derive(Debug)]
pub struct Deadline {
    done: Option<mpsc::Sender<()>>,
}

impl Deadline {
    /// Starts the clock for `what`.
    pub fn new(limit: Duration, what: impl Into<String>) -> Self {
        let what = what.into();
        let (done, finished) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
                eprintln!("deadline: {what} did not finish within {limit:?}");
                std::process::exit(101);
            }
        });
        Self { done: Some(done) }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Runs `f`, failing the test process naming `what` if it takes longer than
/// [`WAIT_LIMIT`] (see [`Deadline`]).
pub fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let _deadline = Deadline::new(WAIT_LIMIT, what);
    f()
}

/// Says loudly that the calling test cannot run here, and why; the test should return
/// right after. The line goes to stderr and, when `IPCLANE_SKIP_LOG` names a file (as
/// `scripts/test.sh` sets it), into that file, which the script counts and lists in its
/// summary: a skipped test is never taken for a passed one.
pub fn skip(test: &str, why: &str) {
    let line = format!("skipped {test}: {why}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!(
                "could not record the skip in {}: {e}",
                Path::new(&path).display()
            );
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

/// Removes, when dropped, the `/dev/shm` records that ipclane subscribers of the
/// processes it holds left: a peer killed because its test failed leaves its record
/// (`ipclane gc`'s otherwise).
#[derive(Debug, Default)]
pub struct SubscriberRecords(pub Vec<u32>);

impl Drop for SubscriberRecords {
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir("/dev/shm") else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if self
                .0
                .iter()
                .any(|pid| name.starts_with(&format!("ipclane.subscriber-{pid}-")))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The descriptors a program run from this process starts with beyond stdin, stdout and
/// stderr, other than the one its listing opens: `ls -l /proc/self/fd` run with stdin from
/// /dev/null and stdout a pipe; each as `"<fd> -> <target>"`. What this process was itself
/// given without close-on-exec shows here too: compare with a listing taken before.
///
/// # Panics
///
/// When `ls` cannot be run.
pub fn descriptors_a_program_inherits() -> Vec<String> {
    let out = std::process::Command::new("ls")
        .args(["-l", "/proc/self/fd"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .expect("run ls");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .filter_map(|(left, target)| {
            let fd = left.split_whitespace().last()?;
            (fd.parse::<u32>().ok()? > 2).then(|| format!("{fd} -> {target}"))
        })
        .collect()
}
