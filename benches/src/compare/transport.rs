//! The transports the comparison measures: ipclane's URLs, the raw baselines beside them,
//! and the libraries a user would pick instead.

use super::results::Family;

/// One measured transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `shm://`, both sides busy-polling.
    ShmBusy,
    /// `shm://`, the default wait: an adaptive spin, then a futex sleep.
    ShmBlocking,
    /// `unix://`: framed Unix stream socket.
    Unix,
    /// `seqpacket://`: one message per packet.
    Seqpacket,
    /// `tcp://` on the loopback.
    Tcp,
    /// A single-slot mailbox in shared memory, both sides spinning (ping-pong only: its
    /// sender does not wait for the slot to be read).
    Mailbox,
    /// A single-slot mailbox whose receiver sleeps on a futex.
    FutexMailbox,
    /// A minimal SPSC ring of message-sized slots, both sides spinning.
    RawRing,
    /// `write_all`/`read_exact` of the payload alone on a Unix stream socket.
    RawUnix,
    /// The same on a pair of pipes.
    Pipe,
    /// The same on a TCP loopback connection (`TCP_NODELAY`).
    RawTcp,
    /// iceoryx2 publish-subscribe, busy-polling.
    Iceoryx2Busy,
    /// iceoryx2 publish-subscribe with an event service: the receiver sleeps.
    Iceoryx2Event,
    /// ipc-channel's bytes channel.
    IpcChannel,
}

impl Transport {
    /// Every transport, in the table's order.
    pub const ALL: [Transport; 14] = [
        Transport::ShmBusy,
        Transport::ShmBlocking,
        Transport::Unix,
        Transport::Seqpacket,
        Transport::Tcp,
        Transport::Mailbox,
        Transport::FutexMailbox,
        Transport::RawRing,
        Transport::RawUnix,
        Transport::Pipe,
        Transport::RawTcp,
        Transport::Iceoryx2Busy,
        Transport::Iceoryx2Event,
        Transport::IpcChannel,
    ];

    /// The order rows are measured in: each ipclane row next to its raw baseline and its
    /// iceoryx2 counterpart, so the rows a ratio compares are likely to sit on the same
    /// floor (it moves within seconds on a VM).
    pub const MEASURED: [Transport; 14] = [
        Transport::RawRing,
        Transport::ShmBusy,
        Transport::Iceoryx2Busy,
        Transport::Mailbox,
        Transport::ShmBlocking,
        Transport::Iceoryx2Event,
        Transport::FutexMailbox,
        Transport::RawUnix,
        Transport::Unix,
        Transport::Seqpacket,
        Transport::Pipe,
        Transport::IpcChannel,
        Transport::RawTcp,
        Transport::Tcp,
    ];

    /// Its place in [`ALL`](Self::ALL), the table's order.
    pub fn rank(self) -> usize {
        Self::ALL
            .iter()
            .position(|&t| t == self)
            .expect("every transport is in ALL")
    }

    /// Its name on the command line and in a peer's arguments.
    pub fn id(self) -> &'static str {
        match self {
            Transport::ShmBusy => "shm-busy",
            Transport::ShmBlocking => "shm-blocking",
            Transport::Unix => "unix",
            Transport::Seqpacket => "seqpacket",
            Transport::Tcp => "tcp",
            Transport::Mailbox => "raw-mailbox",
            Transport::FutexMailbox => "raw-futex",
            Transport::RawRing => "raw-ring",
            Transport::RawUnix => "raw-unix",
            Transport::Pipe => "raw-pipe",
            Transport::RawTcp => "raw-tcp",
            Transport::Iceoryx2Busy => "iceoryx2-busy",
            Transport::Iceoryx2Event => "iceoryx2-event",
            Transport::IpcChannel => "ipc-channel",
        }
    }

    /// Its name in the table and the report.
    pub fn label(self) -> &'static str {
        match self {
            Transport::ShmBusy => "ipclane shm busy-poll",
            Transport::ShmBlocking => "ipclane shm blocking",
            Transport::Unix => "ipclane unix",
            Transport::Seqpacket => "ipclane seqpacket",
            Transport::Tcp => "ipclane tcp",
            Transport::Mailbox => "raw shm mailbox (spin)",
            Transport::FutexMailbox => "raw shm futex mailbox",
            Transport::RawRing => "raw shm spsc ring",
            Transport::RawUnix => "raw unix stream",
            Transport::Pipe => "raw pipe",
            Transport::RawTcp => "raw tcp loopback",
            Transport::Iceoryx2Busy => "iceoryx2 busy-poll",
            Transport::Iceoryx2Event => "iceoryx2 event",
            Transport::IpcChannel => "ipc-channel",
        }
    }

    /// The transport named `id`.
    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The transport whose [`label`](Self::label) is `label` (a row of the results).
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.label() == label)
    }

    /// The transports a `--transports` word selects: one by its id, or a group by the
    /// start of its ids (`shm`, `raw`, `iceoryx2`).
    pub fn matching(word: &str) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|t| t.id() == word || t.id().starts_with(&format!("{word}-")) || word == "all")
            .collect()
    }

    /// Who made it.
    pub fn family(self) -> Family {
        match self {
            Transport::ShmBusy
            | Transport::ShmBlocking
            | Transport::Unix
            | Transport::Seqpacket
            | Transport::Tcp => Family::Ipclane,
            Transport::Mailbox
            | Transport::FutexMailbox
            | Transport::RawRing
            | Transport::RawUnix
            | Transport::Pipe
            | Transport::RawTcp => Family::Raw,
            Transport::Iceoryx2Busy | Transport::Iceoryx2Event | Transport::IpcChannel => {
                Family::Peer
            }
        }
    }

    /// Whether it can carry a stream of messages back to back (the spinning mailbox
    /// cannot: its sender would overwrite a message not yet read).
    pub fn streams(self) -> bool {
        self != Transport::Mailbox
    }

    /// Whether its receiver spins (and so burns a CPU while idle).
    pub fn spins(self) -> bool {
        matches!(
            self,
            Transport::ShmBusy | Transport::Mailbox | Transport::RawRing | Transport::Iceoryx2Busy
        )
    }

    /// The raw baseline an ipclane row is compared with: the least code that moves the
    /// bytes the same way (for shared memory, the minimal ring: the blocking row's ratio
    /// then says what its waiting costs over spinning).
    pub fn baseline(self) -> Option<Self> {
        match self {
            Transport::ShmBusy | Transport::ShmBlocking => Some(Transport::RawRing),
            Transport::Unix | Transport::Seqpacket => Some(Transport::RawUnix),
            Transport::Tcp => Some(Transport::RawTcp),
            _ => None,
        }
    }

    /// The iceoryx2 row an ipclane shared-memory row is compared with: the one that
    /// waits the same way.
    pub fn iceoryx2(self) -> Option<Self> {
        match self {
            Transport::ShmBusy => Some(Transport::Iceoryx2Busy),
            Transport::ShmBlocking => Some(Transport::Iceoryx2Event),
            _ => None,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back_and_groups_select_their_members() {
        for t in Transport::ALL {
            assert_eq!(Transport::parse(t.id()), Some(t));
        }
        assert_eq!(
            Transport::matching("shm"),
            [Transport::ShmBusy, Transport::ShmBlocking]
        );
        assert_eq!(Transport::matching("unix"), [Transport::Unix]);
        assert_eq!(Transport::matching("raw").len(), 6);
        assert_eq!(Transport::matching("all").len(), Transport::ALL.len());
        assert!(Transport::matching("nothing").is_empty());
    }

    #[test]
    fn every_transport_is_measured_once() {
        let mut measured = Transport::MEASURED.map(Transport::rank);
        measured.sort_unstable();
        assert_eq!(measured, std::array::from_fn(|i| i));
    }

    #[test]
    fn every_ipclane_row_has_a_raw_baseline() {
        for t in Transport::ALL {
            let base = t.baseline();
            assert_eq!(base.is_some(), t.family() == Family::Ipclane, "{t}");
            if let Some(base) = base {
                assert_eq!(base.family(), Family::Raw);
                assert!(base.streams());
            }
        }
    }
}
