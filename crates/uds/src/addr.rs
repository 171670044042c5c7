//! Unix socket addresses: a filesystem path or a name in the Linux abstract namespace.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::net::SocketAddrUnix;

use crate::UdsError;

/// Longest path (or abstract name) a Unix socket address holds (`sun_path` less the NUL).
const MAX_PATH: usize = 107;

/// Where a Unix socket lives.
///
/// Written as a string, `@name` is the abstract name `name` and anything else is a path.
///
/// ```
/// use ipclane_uds::UdsAddr;
///
/// assert_eq!("@feed".parse::<UdsAddr>()?, UdsAddr::Abstract(b"feed".to_vec()));
/// assert_eq!("/run/feed.sock".parse::<UdsAddr>()?.to_string(), "/run/feed.sock");
/// # Ok::<(), ipclane_uds::UdsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UdsAddr {
    /// A socket file at this path. Listeners create it (mode 0600 by default) and remove
    /// it on drop.
    Path(PathBuf),
    /// A name in the Linux abstract namespace: no file, no permissions (use an access
    /// policy), gone when the last socket bound to it closes.
    Abstract(Vec<u8>),
}

impl UdsAddr {
    /// The address as the kernel takes it.
    ///
    /// # Errors
    ///
    /// [`UdsError::InvalidAddress`] when it is empty or too long.
    pub(crate) fn to_socket_addr(&self) -> Result<SocketAddrUnix, UdsError> {
        let invalid = |reason| UdsError::InvalidAddress {
            addr: self.to_string(),
            reason,
        };
        match self {
            Self::Path(path) => {
                let bytes = path.as_os_str().as_bytes();
                if bytes.is_empty() {
                    return Err(invalid("the path is empty"));
                }
                if bytes.len() > MAX_PATH {
                    return Err(invalid("the path is longer than 107 bytes"));
                }
                SocketAddrUnix::new(path.as_path())
                    .map_err(|_| invalid("the path contains a NUL byte"))
            }
            Self::Abstract(name) => {
                if name.len() > MAX_PATH {
                    return Err(invalid("the abstract name is longer than 107 bytes"));
                }
                SocketAddrUnix::new_abstract_name(name)
                    .map_err(|_| invalid("the abstract name is too long"))
            }
        }
    }

    /// The path, for a filesystem address.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Path(p) => Some(p),
            Self::Abstract(_) => None,
        }
    }
}

impl std::str::FromStr for UdsAddr {
    type Err = UdsError;

    fn from_str(s: &str) -> Result<Self, UdsError> {
        let addr = match s.strip_prefix('@') {
            Some(name) => Self::Abstract(name.as_bytes().to_vec()),
            None => Self::Path(PathBuf::from(s)),
        };
        addr.to_socket_addr()?;
        Ok(addr)
    }
}

impl From<&Path> for UdsAddr {
    fn from(path: &Path) -> Self {
        Self::Path(path.to_path_buf())
    }
}

impl From<PathBuf> for UdsAddr {
    fn from(path: PathBuf) -> Self {
        Self::Path(path)
    }
}

impl fmt::Display for UdsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => write!(f, "{}", p.display()),
            Self::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_validate() {
        assert!(matches!(
            "".parse::<UdsAddr>(),
            Err(UdsError::InvalidAddress { .. })
        ));
        assert!(matches!(
            "a\0b".parse::<UdsAddr>(),
            Err(UdsError::InvalidAddress { .. })
        ));
        let long = "x".repeat(108);
        assert!(matches!(
            long.parse::<UdsAddr>(),
            Err(UdsError::InvalidAddress { .. })
        ));
        assert!(format!("@{long}").parse::<UdsAddr>().is_err());
        assert!("x".repeat(107).parse::<UdsAddr>().is_ok());
        assert_eq!("@".parse::<UdsAddr>().unwrap(), UdsAddr::Abstract(vec![]));
    }
}
