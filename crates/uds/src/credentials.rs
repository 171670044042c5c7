//! Who is at the other end of a socket, and who may connect.

use std::os::fd::AsFd;

use crate::UdsError;

/// The identity of a connected peer, as the kernel recorded it when the connection was
/// made (`SO_PEERCRED`): it cannot be forged by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCredentials {
    /// Process id of the peer when it connected (or created the socket pair).
    pub pid: u32,
    /// Effective user id of the peer.
    pub uid: u32,
    /// Effective group id of the peer.
    pub gid: u32,
}

/// The credentials of the peer of a connected Unix socket (stream or seqpacket).
///
/// # Errors
///
/// [`UdsError::Io`] when the descriptor is not a connected Unix socket.
#[doc(alias = "SO_PEERCRED")]
pub fn peer_credentials(socket: impl AsFd) -> Result<PeerCredentials, UdsError> {
    let cred = rustix::net::sockopt::socket_peercred(socket).map_err(|e| UdsError::Io {
        op: "getsockopt(SO_PEERCRED)",
        source: e.into(),
    })?;
    Ok(PeerCredentials {
        pid: cred.pid.as_raw_nonzero().get().unsigned_abs(),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// Which peers a listener accepts.
///
/// The default accepts peers running as the same effective user as this process;
/// [`allow_uid`](Self::allow_uid) and [`allow_gid`](Self::allow_gid) add others, and
/// [`any`](Self::any) accepts everyone (for sockets protected otherwise, or public
/// services).
///
/// ```
/// use ipclane_uds::{AccessPolicy, PeerCredentials};
///
/// let policy = AccessPolicy::same_user().allow_gid(1234);
/// let me = rustix::process::geteuid().as_raw();
/// assert!(policy.permits(&PeerCredentials { pid: 1, uid: me, gid: 0 }));
/// assert!(policy.permits(&PeerCredentials { pid: 1, uid: me.wrapping_add(1), gid: 1234 }));
/// assert!(!policy.permits(&PeerCredentials { pid: 1, uid: me.wrapping_add(1), gid: 0 }));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    any: bool,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl AccessPolicy {
    /// Accept peers whose effective uid is this process's (the default).
    pub fn same_user() -> Self {
        Self::default()
    }

    /// Accept every peer.
    pub fn any() -> Self {
        Self {
            any: true,
            ..Self::default()
        }
    }

    /// Also accept peers with effective uid `uid`.
    pub fn allow_uid(mut self, uid: u32) -> Self {
        self.uids.push(uid);
        self
    }

    /// Also accept peers with effective gid `gid`.
    pub fn allow_gid(mut self, gid: u32) -> Self {
        self.gids.push(gid);
        self
    }

    /// Whether a peer with these credentials is accepted.
    pub fn permits(&self, peer: &PeerCredentials) -> bool {
        self.any
            || peer.uid == rustix::process::geteuid().as_raw()
            || self.uids.contains(&peer.uid)
            || self.gids.contains(&peer.gid)
    }

    /// Checks the peer of `socket`.
    ///
    /// # Errors
    ///
    /// [`UdsError::PeerRejected`] when the policy refuses it.
    pub(crate) fn check(&self, socket: impl AsFd) -> Result<PeerCredentials, UdsError> {
        let credentials = peer_credentials(socket)?;
        if self.permits(&credentials) {
            Ok(credentials)
        } else {
            Err(UdsError::PeerRejected { credentials })
        }
    }
}
