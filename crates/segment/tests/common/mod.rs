//! Segment-specific test support; the rest comes from `ipclane-testkit`.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::PathBuf;

pub use ipclane_testkit::*;

/// The file of the named segment `name`.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/ipclane.{name}"))
}

/// Removes `/dev/shm/ipclane.<name>` when dropped, so a failing test leaks nothing.
pub struct ShmName(pub String);

impl ShmName {
    pub fn new(tag: &str) -> Self {
        Self(unique(tag))
    }
    pub fn path(&self) -> PathBuf {
        shm_path(&self.0)
    }
    pub fn exists(&self) -> bool {
        self.path().symlink_metadata().is_ok()
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// Leaves a stale segment under the name `name` of 64 bytes: a valid, ready segment whose
/// owner is gone and which is not persistent, as a crashed owner leaves it. Take
/// [`gc_lock`] first, so that no other test's `gc()` removes it.
pub fn make_stale(name: &str) {
    use ipclane_segment::Segment;
    drop(
        Segment::named(name)
            .size(64)
            .persist(true)
            .create()
            .unwrap(),
    );
    let mut reopened = Segment::named(name).open().unwrap();
    reopened.set_persistent(false);
}

/// Serialises the tests that call `gc()` or deliberately leave stale segments, in every
/// test process, so that one test's `gc()` cannot remove another test's stale fixture.
pub fn gc_lock() -> ipclane_testkit::SerialGuard {
    ipclane_testkit::serial("segment-gc")
}

/// Moves this process into a private mount namespace: what it mounts is invisible outside
/// and goes away with it. `Err` says why not (no root, namespaces not allowed).
///
/// # Panics
///
/// When the new namespace's mounts cannot be made private.
pub fn enter_private_mount_namespace() -> Result<(), String> {
    use rustix::mount::{MountPropagationFlags, mount_change};
    use rustix::thread::UnshareFlags;

    // SAFETY: NEWNS does not unshare the descriptor table, the only hazard of unshare.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }
        .map_err(|e| format!("cannot enter a mount namespace: {e}"))?;
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .expect("make mounts private");
    Ok(())
}
