//! Binding a socket to an address with a safe lifecycle.
//!
//! For a path:
//! - creates the socket file with its exact mode in the `bind` call itself (see
//!   [`bind_with_mode`]) and listens at once. The path is never resolved again to change the
//!   file: a `chmod` after `bind` would follow whatever a local attacker swapped in at the
//!   path meanwhile (a symbolic link to any file) in a directory others can write;
//! - never follows or removes what is not a socket: a regular file, a directory or a
//!   symbolic link at the path is [`UdsError::NotASocket`];
//! - reclaims a socket file left by a crashed server only after a connection attempt is
//!   refused (nobody listens). When somebody does listen, that probe is a real connection:
//!   the live server accepts it and sees it closed at once, like any client that gives up;
//! - does all of this under an exclusive `flock` of the directory, so that two ipclane
//!   servers racing for one path cannot remove each other's fresh socket: exactly one
//!   binds, the other gets [`UdsError::AddrInUse`];
//! - remembers the socket file's inode, and removes the path on drop only if it is still
//!   that file.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::thread::UnshareFlags;

use crate::{UdsAddr, UdsError};

/// A new Unix socket of `kind`, close-on-exec.
pub(crate) fn socket(kind: SocketType) -> Result<OwnedFd, UdsError> {
    rustix::net::socket_with(AddressFamily::UNIX, kind, SocketFlags::CLOEXEC, None).map_err(|e| {
        UdsError::Io {
            op: "socket",
            source: e.into(),
        }
    })
}

/// Two connected sockets of `kind`, close-on-exec (`socketpair`).
pub(crate) fn pair(kind: SocketType) -> Result<(OwnedFd, OwnedFd), UdsError> {
    rustix::net::socketpair(AddressFamily::UNIX, kind, SocketFlags::CLOEXEC, None).map_err(|e| {
        UdsError::Io {
            op: "socketpair",
            source: e.into(),
        }
    })
}

/// Connects a new socket of `kind` to `addr`.
pub(crate) fn connect(kind: SocketType, addr: &UdsAddr) -> Result<OwnedFd, UdsError> {
    let sockaddr = addr.to_socket_addr()?;
    let fd = socket(kind)?;
    loop {
        match rustix::net::connect(&fd, &sockaddr) {
            Ok(()) | Err(Errno::ISCONN) => return Ok(fd),
            Err(Errno::INTR | Errno::ALREADY) => continue,
            Err(e) => return Err(UdsError::connecting(&addr.to_string(), e)),
        }
    }
}

/// A socket bound to an address.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) fd: OwnedFd,
    pub(crate) addr: UdsAddr,
    /// The socket file, for a path: removed on drop.
    pub(crate) file: Option<SocketFile>,
}

/// The socket file a bind created; removes it on drop if the path still names it.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
}

/// Binds a new socket of `kind` to `addr` with permissions `mode` (paths only), and
/// listens with `backlog` when given.
pub(crate) fn bind(
    kind: SocketType,
    addr: &UdsAddr,
    mode: u32,
    backlog: Option<i32>,
) -> Result<Bound, UdsError> {
    let sockaddr = addr.to_socket_addr()?;
    let shown = addr.to_string();
    let fd = socket(kind)?;
    let listen = |fd: &OwnedFd| match backlog {
        Some(n) => rustix::net::listen(fd, n).map_err(|e| UdsError::at(&shown, "listen", e)),
        None => Ok(()),
    };
    let Some(path) = addr.path() else {
        rustix::net::bind(&fd, &sockaddr).map_err(|e| UdsError::at(&shown, "bind", e))?;
        listen(&fd)?;
        return Ok(Bound {
            fd,
            addr: addr.clone(),
            file: None,
        });
    };
    let _dir_lock = lock_parent(path, &shown)?;
    let mode = Mode::from_bits_truncate(mode & 0o777);
    let bind_and_listen = |fd: &OwnedFd| {
        bind_with_mode(fd, &sockaddr, mode, backlog).map_err(|(op, e)| UdsError::at(&shown, op, e))
    };
    match bind_and_listen(&fd) {
        Ok(()) => {}
        Err(UdsError::AddrInUse { .. }) => {
            reclaim_stale(kind, path, &sockaddr, &shown)?;
            bind_and_listen(&fd)?;
        }
        Err(e) => return Err(e),
    }
    // Only read from here on: what is at the path now is recorded (to remove it on drop if
    // it is still that file) and checked, never changed.
    let md = std::fs::symlink_metadata(path).map_err(|e| UdsError::at(&shown, "stat", e))?;
    if !md.file_type().is_socket() {
        // Somebody replaced the fresh socket file; theirs is left alone.
        return Err(UdsError::NotASocket {
            path: path.to_path_buf(),
            found: describe_file_type(md.file_type()),
        });
    }
    let bound = Bound {
        fd,
        addr: addr.clone(),
        file: Some(SocketFile {
            path: path.to_path_buf(),
            dev: md.dev(),
            ino: md.ino(),
        }),
    };
    let actual = md.mode() & 0o777;
    if actual != mode.bits() {
        // Dropping `bound` removes the socket file just created (and closes the socket,
        // resetting anyone who connected meanwhile: the mode was narrower, never wider).
        return Err(UdsError::ModeNotApplied {
            path: path.to_path_buf(),
            requested: mode.bits(),
            actual,
        });
    }
    Ok(bound)
}

/// Binds `fd` to the path in `sockaddr` so that the kernel creates the socket file with
/// permissions `mode`, without ever resolving the path a second time.
///
/// Linux creates the file of a binding `AF_UNIX` socket with the permission bits of the
/// socket's own (sockfs) inode, minus the umask of the binding thread
/// (`net/unix/af_unix.c`: `S_IFSOCK | (SOCK_INODE(sock)->i_mode & ~current_umask())`).
/// So:
///
/// 1. `fchmod` on the unbound socket descriptor sets those bits to `mode`. This alone
///    guarantees the file is never more permissive than `mode`, whatever the umask or a
///    default ACL of the directory (both can only remove bits).
/// 2. The bind runs on a short-lived helper thread that has unshared its filesystem
///    context (`unshare(CLONE_FS)`: its own umask, cwd and root; descriptors stay shared)
///    and set its umask to 0, so the file gets `mode` exactly. The process umask, which
///    other threads may be using, is never touched.
///
/// If the helper thread cannot be started or `unshare` is refused (a seccomp filter, as in
/// Docker's default profile), the bind runs under the process umask and the file may miss
/// bits of `mode`; the caller checks the result and reports
/// [`UdsError::ModeNotApplied`] instead of widening it with a path-based `chmod`.
///
/// Nothing is ever done through the path after the bind, so a symbolic link or another
/// file swapped in at the path can neither be followed nor have its mode changed.
///
/// With a `backlog`, it also listens right after binding, so that the socket file refuses
/// connections for as short a time as possible. Errors name the failed operation.
fn bind_with_mode(
    fd: &OwnedFd,
    sockaddr: &SocketAddrUnix,
    mode: Mode,
    backlog: Option<i32>,
) -> Result<(), (&'static str, Errno)> {
    rustix::fs::fchmod(fd, mode).map_err(|e| ("fchmod", e))?;
    let bind = || {
        rustix::net::bind(fd, sockaddr).map_err(|e| ("bind", e))?;
        match backlog {
            Some(n) => rustix::net::listen(fd, n).map_err(|e| ("listen", e)),
            None => Ok(()),
        }
    };
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("ipclane-uds-bind".into())
            .spawn_scoped(scope, || {
                // SAFETY: only CLONE_FS is unshared: this thread gets a private copy of the
                // cwd, root and umask. The descriptor table (CLONE_FILES), which Rust's
                // ownership of file descriptors depends on, stays shared, and the thread
                // ends right after the bind, so nothing else runs with the private umask.
                if unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }.is_ok() {
                    rustix::process::umask(Mode::empty());
                }
                bind()
            });
        match helper {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread: bind here, under the process umask (checked by the caller).
            Err(_) => bind(),
        }
    })
}

/// Takes an exclusive `flock` on the directory holding `path`; released when dropped.
fn lock_parent(path: &Path, shown: &str) -> Result<OwnedFd, UdsError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UdsError::at(shown, "open directory", e))?;
    loop {
        match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(fd),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(UdsError::at(shown, "flock directory", e)),
        }
    }
}

/// Removes the socket file at `path` if nobody listens on it; anything else at the path
/// is an error and stays untouched. Called with the directory locked.
fn reclaim_stale(
    kind: SocketType,
    path: &Path,
    sockaddr: &SocketAddrUnix,
    shown: &str,
) -> Result<(), UdsError> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(UdsError::at(shown, "stat", e)),
    };
    if !md.file_type().is_socket() {
        return Err(UdsError::NotASocket {
            path: path.to_path_buf(),
            found: describe_file_type(md.file_type()),
        });
    }
    let probe = socket(kind)?;
    match rustix::net::connect(&probe, sockaddr) {
        Err(Errno::CONNREFUSED) => {}
        Err(Errno::NOENT) => return Ok(()),
        // Connected, or a socket of another type is bound there: somebody is alive.
        _ => {
            return Err(UdsError::AddrInUse {
                addr: shown.to_owned(),
            });
        }
    }
    // Still the same dead socket file? (The directory lock keeps ipclane binders out.)
    match std::fs::symlink_metadata(path) {
        Ok(now) if now.dev() == md.dev() && now.ino() == md.ino() => {
            std::fs::remove_file(path).map_err(|e| UdsError::at(shown, "unlink stale socket", e))
        }
        _ => Ok(()),
    }
}

/// What a file that is not a socket is, for [`UdsError::NotASocket`].
fn describe_file_type(ft: std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(md) = std::fs::symlink_metadata(&self.path)
            && md.dev() == self.dev
            && md.ino() == self.ino
        {
            // Errors cannot be reported from drop; a leftover file is reclaimed by the
            // next bind.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl AsFd for Bound {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
