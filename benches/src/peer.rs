//! Peer processes: a measurement starts its own binary again in a named role, pinned to a
//! CPU, and collects what the peer prints.
//!
//! The role, its arguments and its CPU travel in environment variables, so the same code
//! serves a bench binary (whose `main` calls [`role`] first) and a test binary (whose
//! peer is one test, started by name: [`Launcher::test_entry`]).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::cpu;

/// The role a peer process plays.
pub const ROLE_VAR: &str = "IPCLANE_BENCH_ROLE";
/// Its arguments, separated by spaces.
pub const ARGS_VAR: &str = "IPCLANE_BENCH_ARGS";
/// The CPU it pins itself to, if any.
pub const CPU_VAR: &str = "IPCLANE_BENCH_CPU";

/// How long a peer may take to finish before it is killed and the measurement fails.
pub const PEER_LIMIT: Duration = Duration::from_secs(120);

/// How long the measuring side may take to collect a peer that exited: past this, it is
/// stuck (waiting for a message the peer never sent) and the run stops.
pub const COLLECT_LIMIT: Duration = Duration::from_secs(60);

/// The role this process was started in, with its arguments, after pinning to the CPU
/// it was given; `None` in the process a user started.
///
/// # Panics
///
/// When the CPU it was given cannot be pinned.
pub fn role() -> Option<(String, Vec<String>)> {
    let role = std::env::var(ROLE_VAR).ok()?;
    // A peer whose measuring process was killed must not spin on a CPU forever.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Some(cpu) = std::env::var(CPU_VAR).ok().and_then(|c| c.parse().ok()) {
        cpu::pin(cpu).unwrap_or_else(|e| panic!("peer {role}: pin to CPU {cpu}: {e}"));
    }
    let args = std::env::var(ARGS_VAR)
        .map(|a| {
            a.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some((role, args))
}

/// How to start this binary as a peer.
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    args: Vec<String>,
}

impl Launcher {
    /// For a binary whose `main` dispatches [`role`] first.
    pub fn binary() -> Self {
        Self::default()
    }

    /// For a test binary: the peer runs the test named `entry`, which dispatches
    /// [`role`].
    pub fn test_entry(entry: &str) -> Self {
        Self {
            args: [
                entry,
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }

    /// Starts a peer in `role` with `args` (no spaces inside one), pinned to `cpu`.
    ///
    /// # Panics
    ///
    /// When the binary cannot be started.
    pub fn spawn(&self, role: &str, args: &[&str], cpu: Option<usize>) -> Peer {
        self.spawn_in(None, role, args, cpu)
    }

    /// Like [`spawn`](Self::spawn), in the network namespace `netns` when given (through
    /// `ip netns exec`, which then runs the peer in place).
    ///
    /// # Panics
    ///
    /// When the binary cannot be started.
    pub fn spawn_in(
        &self,
        netns: Option<&str>,
        role: &str,
        args: &[&str],
        cpu: Option<usize>,
    ) -> Peer {
        let exe = std::env::current_exe().expect("the running binary");
        let mut command = match netns {
            Some(ns) => {
                let mut ip = Command::new("ip");
                ip.args(["netns", "exec", ns]).arg(exe);
                ip
            }
            None => Command::new(exe),
        };
        command
            .args(&self.args)
            .env(ROLE_VAR, role)
            .env(ARGS_VAR, args.join(" "))
            .env_remove(CPU_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(cpu) = cpu {
            command.env(CPU_VAR, cpu.to_string());
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start peer {role}: {e}"));
        // Read as it comes: a peer that prints more than a pipe holds must not block.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let output = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let child = Arc::new(Mutex::new(child));
        let collected = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (role, child, collected) = (role.to_owned(), child.clone(), collected.clone());
            std::thread::spawn(move || watch(&role, &child, &collected))
        };
        Peer {
            role: role.to_owned(),
            child,
            output: Some(output),
            collected,
            watchdog: Some(watchdog),
        }
    }
}

/// The state of `child`, or `None` when it cannot be asked.
fn status(child: &Mutex<Child>) -> Option<Option<ExitStatus>> {
    child
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .try_wait()
        .ok()
}

/// Watches a peer until it is collected. The measuring side blocks on its peer (in an
/// accept, or waiting for a message), so a peer that fails, never ends, or ends while
/// the measuring side still waits, would leave the run hanging: the watchdog stops the
/// whole process instead, saying why (the peer's own panic is on stderr above it).
fn watch(role: &str, child: &Mutex<Child>, collected: &AtomicBool) {
    let start = Instant::now();
    let mut exited: Option<Instant> = None;
    while !collected.load(Ordering::Acquire) {
        let stuck = match status(child) {
            None => return,
            Some(Some(status)) if !status.success() => Some(format!("failed ({status})")),
            Some(Some(_)) => {
                let at = *exited.get_or_insert_with(Instant::now);
                (at.elapsed() > COLLECT_LIMIT).then(|| {
                    format!("exited, and the measurement still waits after {COLLECT_LIMIT:?}")
                })
            }
            Some(None) => (start.elapsed() > PEER_LIMIT).then(|| {
                let mut child = child.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = (child.kill(), child.wait());
                format!("did not finish within {PEER_LIMIT:?} (killed)")
            }),
        };
        if let Some(why) = stuck
            && !collected.load(Ordering::Acquire)
        {
            eprintln!("ipclane-bench: peer {role} {why}: the measurement cannot end; stopping");
            std::process::exit(2);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A running peer process, watched: if it fails or never ends while this process waits
/// on it, the process stops with a message (exit status 2) rather than hang.
#[derive(Debug)]
pub struct Peer {
    role: String,
    child: Arc<Mutex<Child>>,
    output: Option<std::thread::JoinHandle<String>>,
    collected: Arc<AtomicBool>,
    watchdog: Option<std::thread::JoinHandle<()>>,
}

impl Peer {
    /// Waits for the peer to exit (at most [`PEER_LIMIT`]) and returns the lines it
    /// printed that start with `result `, without that prefix.
    ///
    /// # Panics
    ///
    /// When the peer fails, is killed, or outlives the limit (it is killed then): a
    /// measurement whose peer failed has no result.
    pub fn finish(mut self) -> Vec<String> {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = status(&self.child).expect("wait for a peer") {
                break status;
            }
            if start.elapsed() > PEER_LIMIT {
                self.stop();
                panic!("peer {} did not finish within {PEER_LIMIT:?}", self.role);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        self.stop();
        let out = self
            .output
            .take()
            .map(|o| o.join().unwrap_or_default())
            .unwrap_or_default();
        assert!(
            status.success(),
            "peer {} failed ({status}): {out}",
            self.role
        );
        out.lines()
            .filter_map(|l| l.strip_prefix("result "))
            .map(str::to_owned)
            .collect()
    }
}

impl Peer {
    /// Marks the peer collected (its watchdog ends), and kills it if it still runs: a
    /// peer left behind by a failed measurement must not spin on a CPU forever.
    fn stop(&mut self) {
        self.collected.store(true, Ordering::Release);
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
        if matches!(status(&self.child), Some(None)) {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = (child.kill(), child.wait());
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Prints a result line for [`Peer::finish`]. It starts a line of its own, whatever was
/// printed before (a test harness prints its test's name without ending the line).
pub fn report(line: impl std::fmt::Display) {
    println!("\nresult {line}");
}
