//! No descriptor of a segment leaks into a child process the application starts: every
//! file the crate opens (a named segment, created or opened, and a memfd) is close-on-exec.
//! A segment is passed to another process on purpose only (`SCM_RIGHTS`, `from_fd`).

use std::process::Command;

use ipclane_segment::Segment;
use ipclane_testkit::ShmName;

/// The targets of the descriptors a fresh child process holds.
fn child_descriptors() -> Vec<String> {
    let out = Command::new("sh")
        .args(["-c", "for f in /proc/$$/fd/*; do readlink \"$f\"; done"])
        .output()
        .expect("run sh");
    assert!(out.status.success(), "sh failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_segment_descriptor_is_inherited_by_a_child_process() {
    let name = ShmName::new("inherit");
    let created = Segment::named(&name.0).size(4096).create().unwrap();
    let opened = Segment::named(&name.0).open().unwrap();
    let anonymous = Segment::anonymous("ipclane-inherit")
        .size(4096)
        .create()
        .unwrap();
    let leaked: Vec<String> = child_descriptors()
        .into_iter()
        // A file made with O_TMPFILE and linked later still reads as `/dev/shm/#<inode>`.
        .filter(|target| target.starts_with("/dev/shm/") || target.contains("ipclane-inherit"))
        .collect();
    assert!(leaked.is_empty(), "inherited by a child: {leaked:?}");
    drop((created, opened, anonymous));
}
