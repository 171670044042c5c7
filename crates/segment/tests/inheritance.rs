//! No descriptor of a segment leaks into a child process the application starts: every
//! file the crate opens (a named segment, created or opened, its directory, and a memfd)
//! is close-on-exec. A segment is passed to another process on purpose only
//! (`SCM_RIGHTS`, `from_fd`).

use ipclane_segment::Segment;
use ipclane_testkit::{ShmName, descriptors_a_program_inherits};

/// A child started while segments are held inherits nothing more than one started
/// before. (An earlier form of this test looked only for targets under `/dev/shm/` and
/// missed the directory descriptor `/dev/shm` itself, which a created named segment
/// kept without close-on-exec: `dup(2)` drops the flag.)
#[test]
fn no_segment_descriptor_is_inherited_by_a_child_process() {
    let inherited = descriptors_a_program_inherits();
    let name = ShmName::new("inherit");
    let created = Segment::named(&name.0).size(4096).create().unwrap();
    let opened = Segment::named(&name.0).open().unwrap();
    let anonymous = Segment::anonymous("ipclane-inherit")
        .size(4096)
        .create()
        .unwrap();
    assert_eq!(
        descriptors_a_program_inherits(),
        inherited,
        "a child started now inherits a segment's descriptor"
    );
    drop((created, opened, anonymous));
}
