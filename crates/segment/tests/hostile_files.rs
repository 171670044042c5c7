//! Descriptors and names that are not segment files: a terminal, a FIFO, a directory. Each
//! is a typed error, and nothing is opened for real before its type is known, so a
//! terminal never becomes the controlling terminal of a process without one.

mod common;

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use common::{Peer, TempDir, say};
use ipclane_segment::{Segment, SegmentError};

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    common::run_peer(|role, _args| match role {
        "pty_without_ctty" => pty_without_ctty(),
        other => panic!("unknown peer role {other}"),
    });
}

/// The reason of a [`SegmentError::Corrupted`], or a description of what came instead.
fn corrupt_reason(result: Result<Segment, SegmentError>) -> String {
    match result {
        Err(SegmentError::Corrupted { reason, .. }) => reason,
        other => format!("unexpected {other:?}"),
    }
}

/// The `tty_nr` field of `/proc/self/stat`: the controlling terminal, 0 for none.
fn tty_nr() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')').expect("comm field") + 2..];
    after
        .split(' ')
        .nth(4) // state, ppid, pgrp, session, tty_nr
        .and_then(|f| f.parse().ok())
        .expect("tty_nr field")
}

/// A new pseudo-terminal pair opened with `O_NOCTTY`: (master, slave, slave path).
fn open_pty() -> (OwnedFd, OwnedFd, String) {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt takes flags and returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(flags) };
    assert!(
        master >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: master is a descriptor we own, from the successful call above.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&master);
    // SAFETY: raw is an open pty master for both calls.
    assert_eq!(unsafe { libc::grantpt(raw) }, 0, "grantpt");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::unlockpt(raw) }, 0, "unlockpt");
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is writable for buf.len() bytes, and raw is an open pty master.
    let named = unsafe { libc::ptsname_r(raw, buf.as_mut_ptr(), buf.len()) };
    assert_eq!(named, 0, "ptsname_r");
    // SAFETY: ptsname_r succeeded, so buf holds a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(buf.as_ptr()) };
    // SAFETY: path is a valid NUL-terminated string for the call.
    let slave = unsafe { libc::open(path.as_ptr(), flags) };
    assert!(
        slave >= 0,
        "open slave: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: slave is a descriptor we own, from the successful call above.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    (master, slave, path.to_string_lossy().into_owned())
}

/// In a new session (so without a controlling terminal): hands the slave side of a pty
/// to `Segment::from_fd` and its path to `Segment::at_path`, and reports the errors and
/// whether this process got a controlling terminal.
fn pty_without_ctty() {
    rustix::process::setsid().expect("setsid");
    assert_eq!(tty_nr(), 0, "a new session has no controlling terminal");
    let (_master, slave, path) = open_pty();

    // After each call: still no controlling terminal (tty_nr 0, and /dev/tty, the
    // controlling terminal, cannot be opened: ENXIO).
    let ctty = || {
        let dev_tty = std::fs::File::open("/dev/tty").map_err(|e| e.raw_os_error());
        format!("tty_nr {} /dev/tty {:?}", tty_nr(), dev_tty.err().flatten())
    };
    let from_fd = corrupt_reason(Segment::from_fd(slave).open());
    say(format!("from_fd: {from_fd}; {}", ctty()));
    let at_path = corrupt_reason(Segment::at_path(Path::new(&path)).open());
    say(format!("at_path: {at_path}; {}", ctty()));
}

#[test]
fn a_pty_is_refused_and_never_becomes_the_controlling_terminal() {
    let mut peer = Peer::spawn("pty_without_ctty", &[]);
    let no_ctty = format!("; tty_nr 0 /dev/tty Some({})", libc::ENXIO);
    let from_fd = peer.recv();
    let expected = "from_fd: the descriptor is a character device, not a regular file";
    assert!(from_fd.starts_with(expected), "{from_fd}");
    assert!(from_fd.ends_with(&no_ctty), "{from_fd}");
    let at_path = peer.recv();
    let expected = "at_path: the name is a character device, not a regular file";
    assert!(at_path.starts_with(expected), "{at_path}");
    assert!(at_path.ends_with(&no_ctty), "{at_path}");
    // A peer whose controlling terminal the pty had become would get SIGHUP when it
    // closes the master.
    let status = peer.finish();
    assert!(status.success(), "peer: {status}");
}

#[test]
fn a_fifo_descriptor_is_refused_without_blocking() {
    let (read, write) = std::io::pipe().unwrap();
    for fd in [OwnedFd::from(read), OwnedFd::from(write)] {
        let reason = corrupt_reason(Segment::from_fd(fd).open());
        assert!(reason.contains("is a FIFO, not a regular file"), "{reason}");
    }
}

#[test]
fn a_directory_is_refused_by_descriptor_and_by_name() {
    let dir = TempDir::new("dir-as-segment");
    let fd = std::fs::File::open(dir.path()).unwrap();
    let reason = corrupt_reason(Segment::from_fd(fd.into()).open());
    assert!(reason.contains("a directory"), "{reason}");
    let reason = corrupt_reason(Segment::at_path(dir.path()).open());
    assert!(reason.contains("a directory"), "{reason}");
}

/// A sender that could only read a segment, or only name it, must not get a receiver to
/// write it: `from_fd` reopens through /proc with the receiver's own rights, so it takes
/// only a descriptor opened for reading and writing.
#[test]
fn a_descriptor_its_sender_could_not_write_is_refused() {
    let segment = Segment::anonymous("ro").size(4096).create().unwrap();
    let path = format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&segment))
    );
    use rustix::fs::{Mode, OFlags};
    for (what, flags) in [
        ("read-only", OFlags::RDONLY),
        ("O_PATH", OFlags::PATH),
        ("write-only", OFlags::WRONLY),
    ] {
        let fd = rustix::fs::open(&path, flags | OFlags::CLOEXEC, Mode::empty()).unwrap();
        match Segment::from_fd(fd).open() {
            Err(SegmentError::PermissionDenied { .. }) => {}
            other => panic!("a {what} descriptor: {other:?}"),
        }
    }
    let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).unwrap();
    Segment::from_fd(fd)
        .open()
        .expect("a read-write descriptor is taken");
}

/// A memfd holding a valid segment, but not sealed against shrinking and growing: its
/// sender could truncate it under us, so `from_fd` refuses it unless told not to require
/// seals (then it is a plain file backing, not a sealed memfd).
#[test]
fn an_unsealed_memfd_is_refused_unless_seals_are_not_required() {
    let sealed = Segment::anonymous("sealed").size(4096).create().unwrap();
    let bytes = std::fs::read(format!("/proc/self/fd/{}", sealed.as_fd().as_raw_fd())).unwrap();
    let copy = |flags| {
        let fd = rustix::fs::memfd_create("unsealed", flags).unwrap();
        rustix::io::write(&fd, &bytes).unwrap();
        fd
    };
    for flags in [
        rustix::fs::MemfdFlags::ALLOW_SEALING,
        rustix::fs::MemfdFlags::empty(),
    ] {
        let reason = corrupt_reason(Segment::from_fd(copy(flags)).open());
        assert!(reason.contains("not sealed"), "{flags:?}: {reason}");
        let opened = Segment::from_fd(copy(flags))
            .require_seals(false)
            .open()
            .unwrap();
        assert_eq!(
            opened.backing(),
            ipclane_segment::Backing::File,
            "{flags:?}"
        );
    }
}
