//! What a user tunes about connections, and the calls that make them with it.

use std::time::Duration;

use crate::queue::WaitStrategy;
use crate::uds::AccessPolicy;
use crate::{Connection, Error, Listener, MessageType, Url};

/// The default maximum message size: 8 MiB, the frame codec's.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 8 << 20;

/// The default capacity of each of a shared-memory connection's two rings: 1 MiB.
pub const DEFAULT_RING_CAPACITY: usize = 1 << 20;

/// Settings of the connections a [`listen`](Self::listen) or [`connect`](Self::connect)
/// makes; [`Options::default`] is what [`crate::listen`] and [`crate::connect`] use.
///
/// ```
/// use std::time::Duration;
/// use ipclane::{Options, queue::WaitStrategy};
///
/// let options = Options::default()
///     .max_message_len(64 << 10)
///     .wait_strategy(WaitStrategy::busy_poll())
///     .handshake_timeout(Duration::from_secs(1));
/// assert_eq!(options.get_max_message_len(), 64 << 10);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) max_message_len: usize,
    pub(crate) ring_capacity: usize,
    pub(crate) wait_strategy: WaitStrategy,
    pub(crate) policy: AccessPolicy,
    pub(crate) socket_mode: u32,
    pub(crate) handshake_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) message_type: Option<MessageType>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            ring_capacity: DEFAULT_RING_CAPACITY,
            wait_strategy: WaitStrategy::default(),
            policy: AccessPolicy::same_user(),
            socket_mode: 0o600,
            handshake_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            message_type: None,
        }
    }
}

impl Options {
    /// The largest message, the same on every transport (default
    /// [`DEFAULT_MAX_MESSAGE_LEN`]); a longer one is [`Error::MessageTooLarge`] before
    /// anything is sent. Both ends should agree: a receiver refuses a longer message as
    /// [`Error::Protocol`], which on `shm:` closes the connection.
    pub fn max_message_len(mut self, len: usize) -> Self {
        self.max_message_len = len;
        self
    }

    /// The largest message (see [`max_message_len`](Self::max_message_len)).
    pub fn get_max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Bytes of each of a shared-memory connection's two rings, a power of two of at
    /// least 256 (default [`DEFAULT_RING_CAPACITY`]); set by the listening side. Messages
    /// longer than a ring record are carried in fragments.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// How a shared-memory connection's blocking calls wait: the queue's adaptive spin,
    /// then a futex sleep (the default: no CPU while idle), or
    /// [`WaitStrategy::busy_poll`] for the lowest latency at a whole CPU per waiting
    /// side. Sockets always sleep in the kernel.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = strategy;
        self
    }

    /// Who may connect to a local listener (`unix:`, `seqpacket:`, `shm:`): the same user
    /// by default. A refused client's connection is closed; `accept` reports it and can
    /// be called again.
    pub fn access_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The file mode of a local listener's socket file (default `0o600`: only this
    /// user may even connect). A wider mode lets others reach the listener, whose access
    /// policy then decides.
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode;
        self
    }

    /// How long the shared-memory handshake may take, on either side (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a TCP connect may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Declares the type of the connection's messages (none by default). Over `shm:`,
    /// the server makes its rings of a kind that holds the declaration, so a client that
    /// declares another type is refused at connect with [`Error::WrongMessageType`] (and
    /// one that declares none, or a server that declares none, gets the rings' kind as
    /// [`Error::Segment`]); `send_pod` and `recv_pod` then take no other type, on every
    /// scheme. The socket schemes keep tokio-util's framing on the wire, with no
    /// handshake to carry the declaration: there each message is checked for its size.
    ///
    /// ```
    /// use ipclane::{MessageType, Options};
    ///
    /// #[repr(C)]
    /// struct Quote { bid: i64, ask: i64 }
    ///
    /// let options = Options::default().message_type(MessageType::of::<Quote>());
    /// assert_eq!(options.get_message_type(), Some(MessageType::of::<Quote>()));
    /// ```
    pub fn message_type(mut self, message_type: MessageType) -> Self {
        self.message_type = Some(message_type);
        self
    }

    /// The declared type of the connection's messages.
    pub fn get_message_type(&self) -> Option<MessageType> {
        self.message_type
    }

    /// Listens on `url` with these options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`], [`Error::InvalidOptions`], or the socket layer's errors (an address in use, a missing
    /// directory).
    pub fn listen(&self, url: &str) -> Result<Listener, Error> {
        let url = url.parse::<Url>()?;
        self.check()?;
        if matches!(url, Url::Shm(_))
            && (!self.ring_capacity.is_power_of_two() || self.ring_capacity < 256)
        {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "ring capacity {} is not a power of two of at least 256 bytes",
                    self.ring_capacity
                ),
            });
        }
        Listener::bind(url, self.clone())
    }

    /// Connects to `url` with these options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`], [`Error::InvalidOptions`], [`Error::Refused`] (the handshake), or the socket layer's
    /// errors (nothing listening).
    pub fn connect(&self, url: &str) -> Result<Connection, Error> {
        let url = url.parse::<Url>()?;
        self.check()?;
        Connection::connect(url, self)
    }

    /// What every listen and connect needs.
    fn check(&self) -> Result<(), Error> {
        for (name, timeout) in [
            ("handshake timeout", self.handshake_timeout),
            ("connect timeout", self.connect_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::InvalidOptions {
                    reason: format!("a {name} of zero: nothing could connect"),
                });
            }
        }
        Ok(())
    }
}
