//! What creating and opening share: taking a handle slot on the file, and mapping it.

use std::os::fd::{AsFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};

use crate::config::Config;
use crate::{SegmentError, locks};

/// Takes a handle slot for the open file description of `fd`.
pub(crate) fn attach(fd: &OwnedFd, display: &str) -> Result<(), SegmentError> {
    match locks::attach(fd.as_fd()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(SegmentError::Io {
            name: display.to_owned(),
            op: "attach",
            source: std::io::Error::other(format!(
                "all {} handle slots are taken",
                locks::MAX_HANDLES
            )),
        }),
        Err(e) => Err(SegmentError::os(display, "lock", e)),
    }
}

/// Maps `len` bytes of `fd` read-write and shared, honouring `prefault` and `mlock`.
pub(crate) fn map(
    fd: &OwnedFd,
    len: u64,
    config: &Config,
    display: &str,
) -> Result<MmapRaw, SegmentError> {
    let len = usize::try_from(len)
        .map_err(|_| SegmentError::corrupt(display, "larger than the address space"))?;
    let mut options = MmapOptions::new();
    options.len(len);
    if config.prefault {
        options.populate();
    }
    let map = options
        .map_raw(fd)
        .map_err(SegmentError::os_fn(display, "mmap"))?;
    if config.mlock {
        // The whole mapping, until it is unmapped (munmap also unlocks it).
        map.lock().map_err(SegmentError::os_fn(display, "mlock"))?;
    }
    Ok(map)
}
