//! Segments on hugetlbfs: sizes round up to the huge page, the mapping is backed by huge
//! pages, and a second handle sees the first one's bytes.
//!
//! Needs root: the test reserves a few 2 MiB pages (`/proc/sys/vm/nr_hugepages`, restored
//! afterwards), and a peer process mounts hugetlbfs in a private mount namespace. Without
//! root, or where huge pages cannot be had, the test says why and skips.

mod common;

use std::path::Path;

use common::{Peer, TempDir, say};
use ipclane_segment::Segment;

const HUGE: u64 = 2 << 20;
const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    common::run_peer(|role, args| match role {
        "segment_on_hugetlbfs" => segment_on_hugetlbfs(Path::new(&args[0])),
        other => panic!("unknown peer role {other}"),
    });
}

/// Free huge pages of the default size, from /proc/meminfo.
fn free_huge_pages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Page size the kernel uses for the mapping that contains `addr`, from /proc/self/smaps.
fn kernel_page_size_kb(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ')
            && let Some((lo, hi)) = range.split_once('-')
            && let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
        {
            inside = (lo..hi).contains(&addr);
            continue;
        }
        if inside && let Some(kb) = line.strip_prefix("KernelPageSize:") {
            return kb.trim().trim_end_matches("kB").trim().parse().ok();
        }
    }
    None
}

/// In a private mount namespace: mounts hugetlbfs at `dir`, creates a segment there and
/// checks its size, its pages and what a second handle sees.
fn segment_on_hugetlbfs(dir: &Path) {
    use rustix::mount::{MountFlags, mount};

    if let Err(reason) = common::enter_private_mount_namespace() {
        say(format!("skip: {reason}"));
        return;
    }
    if let Err(e) = mount(
        "none",
        dir,
        "hugetlbfs",
        MountFlags::empty(),
        c"pagesize=2M",
    ) {
        say(format!("skip: cannot mount hugetlbfs: {e}"));
        return;
    }

    let path = dir.join("feed");
    let free_before = free_huge_pages();
    let segment = Segment::at_path(&path)
        .size(100 << 10)
        .create()
        .expect("a segment on hugetlbfs");
    let file_len = std::fs::metadata(&path).unwrap().len();
    assert!(
        file_len.is_multiple_of(HUGE) && file_len >= (100 << 10),
        "file of {file_len} bytes is whole huge pages"
    );
    assert!(segment.len() >= 100 << 10);
    assert_eq!(
        kernel_page_size_kb(segment.as_ptr() as usize),
        Some(HUGE >> 10),
        "the mapping is backed by huge pages"
    );
    assert!(
        free_huge_pages() < free_before,
        "creation reserved huge pages up front"
    );
    let len = segment.len();
    segment.region().fill(0, len, 0x5a).unwrap();

    let other = Segment::at_path(&path).open().expect("a second handle");
    let mut bytes = vec![0u8; len];
    other.region().read(0, &mut bytes).unwrap();
    assert!(
        bytes.iter().all(|&b| b == 0x5a),
        "the second handle sees the bytes"
    );
    drop(other);
    drop(segment);
    assert!(!path.exists(), "the owner removed the file");
    assert_eq!(
        free_huge_pages(),
        free_before,
        "the huge pages are free again"
    );
    say("ok");
}

/// Reserves `extra` more huge pages while it lives.
struct HugePages {
    before: String,
}

impl HugePages {
    fn reserve(extra: u64) -> Result<Self, String> {
        let before = std::fs::read_to_string(NR_HUGEPAGES).map_err(|e| e.to_string())?;
        let want = before.trim().parse::<u64>().map_err(|e| e.to_string())? + extra;
        std::fs::write(NR_HUGEPAGES, want.to_string()).map_err(|e| e.to_string())?;
        let reserved = Self { before };
        if free_huge_pages() < extra {
            return Err(format!("the kernel gave fewer than {extra} huge pages"));
        }
        Ok(reserved)
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        let _ = std::fs::write(NR_HUGEPAGES, self.before.trim());
    }
}

#[test]
fn a_segment_on_hugetlbfs_uses_huge_pages() {
    if !common::is_root() {
        ipclane_testkit::skip(
            "a_segment_on_hugetlbfs_uses_huge_pages",
            "needs root for huge pages",
        );
        return;
    }
    let _pages = match HugePages::reserve(4) {
        Ok(pages) => pages,
        Err(reason) => {
            ipclane_testkit::skip("a_segment_on_hugetlbfs_uses_huge_pages", &reason);
            return;
        }
    };
    let dir = TempDir::new("hugetlbfs");
    let mut peer = Peer::spawn("segment_on_hugetlbfs", &[dir.path().to_str().unwrap()]);
    let verdict = peer.recv();
    if let Some(reason) = verdict.strip_prefix("skip: ") {
        ipclane_testkit::skip("a_segment_on_hugetlbfs_uses_huge_pages", reason);
    } else {
        assert_eq!(verdict, "ok");
    }
    assert!(peer.finish().success());
}
