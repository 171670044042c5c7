//! Listeners announce themselves, so that `ipclane ls` lists sockets beside segments:
//! each listener holds a small named segment of kind [`LISTENER_KIND`] that records its
//! URL. The segment's owner lock is the listener's liveness, like any segment's: the
//! record goes with the listener, and a listener killed before it could remove it leaves
//! a record that `ipclane gc` removes, or that the next listener on the same URL takes
//! over.

use crate::segment::{Kind, Segment};
use crate::{Error, Url};

/// The kind of a listener's record.
pub const LISTENER_KIND: Kind = Kind::from_names("ipclane/listener", "v1: the URL, NUL-padded");

/// Bytes of a record: room for any URL (a TCP host name is at most 253 bytes, a socket
/// path 107).
const RECORD: usize = 512;

/// A listener's record, removed when dropped.
#[derive(Debug)]
pub(crate) struct Announcement {
    _record: Segment,
}

/// The record's name: `listener-` and a hash of the URL, so that a listener on the same
/// URL after a crash takes the dead one's record over.
fn record_name(url: &str) -> String {
    // FNV-1a, 64 bits: stable across builds and processes, which `std`'s hasher is not
    // promised to be.
    let hash = url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("listener-{hash:016x}")
}

/// Records that a listener serves `url`.
///
/// # Errors
///
/// The segment's: another live listener's record under the name, no space.
pub(crate) fn announce(url: &Url) -> Result<Announcement, Error> {
    let text = url.to_string();
    let record = Segment::named(&record_name(&text))
        .size(RECORD)
        .kind(LISTENER_KIND)
        // A dead listener's record is removed and replaced; a live one's is an error.
        .exclusive(false)
        .initialize_with(move |region| Ok(region.write(0, text.as_bytes())?))
        .create()?;
    Ok(Announcement { _record: record })
}

/// The URL a listener's record holds (for `ipclane ls`).
pub fn announced_url(record: &Segment) -> Option<String> {
    let mut bytes = vec![0u8; record.len().min(RECORD)];
    record.region().read(0, &mut bytes).ok()?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_announced_while_it_lives() {
        let dir = std::env::temp_dir().join(format!("ipclane-announce-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url: Url = format!("unix://{}", dir.join("a.sock").display())
            .parse()
            .unwrap();
        let name = record_name(&url.to_string());
        let announcement = announce(&url).unwrap();
        let record = Segment::named(&name).kind(LISTENER_KIND).open().unwrap();
        assert_eq!(
            announced_url(&record).as_deref(),
            Some(url.to_string().as_str())
        );
        assert!(announce(&url).is_err(), "one live record per URL");
        drop((record, announcement));
        assert!(
            Segment::named(&name).open().is_err(),
            "removed with the listener"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
