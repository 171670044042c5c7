//! The `ipclane-bridge` command run as a process of its own, its log read line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use super::LIMIT;

/// The `ipclane-bridge` binary of this build.
pub const BRIDGE: &str = env!("CARGO_BIN_EXE_ipclane-bridge");

/// A running `ipclane-bridge`; killed when dropped.
pub struct BridgeProcess {
    child: Child,
    lines: Receiver<String>,
    /// What it logged so far.
    pub log: Vec<String>,
}

impl BridgeProcess {
    /// Starts `command` (an `ipclane-bridge`, maybe through `ip netns exec`), its log
    /// piped here.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ipclane-bridge");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a line of its log that contains `needle`, and returns it.
    ///
    /// # Panics
    ///
    /// After [`LIMIT`], or when the process ends first, with its log.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "ipclane-bridge never said {needle:?}; its log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Stops it with SIGTERM; its exit status and its whole log.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        self.log.extend(self.lines.try_iter());
        // The reader thread saw the end of its stderr once it exited.
        while let Ok(line) = self.lines.recv_timeout(LIMIT) {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }

    /// Waits for it to exit by itself: its status and its whole log.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(LIMIT) {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
