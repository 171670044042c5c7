//! ipc-channel (Servo's inter-process channels) as a measured transport: its bytes
//! channel, the variant without serialisation, so the row measures the channel and not
//! bincode. On Linux a message travels as one datagram on a Unix socket (and through a
//! shared-memory region when it is too large for one). The receiver gets each message as
//! a fresh `Vec<u8>` (ipc-channel's API allocates), which it copies into its buffer: the
//! one copy every other row makes.
//!
//! The measuring side opens a one-shot server; its peer makes the two channels, one each
//! way, and sends the measuring side its ends through the server.

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};

use crate::endpoint::{Recv, Send};

/// What the peer hands the measuring side: its sender towards the peer and its receiver
/// from it.
type Handover = (IpcBytesSender, IpcBytesReceiver);

/// The measuring side of a link, waiting for its peer.
pub struct Server {
    server: IpcOneShotServer<Handover>,
    name: String,
}

impl Server {
    /// Opens a one-shot server.
    ///
    /// # Panics
    ///
    /// When the channel cannot be made.
    pub fn new() -> Self {
        let (server, name) = IpcOneShotServer::new().expect("open an ipc-channel server");
        Self { server, name }
    }

    /// The name the peer connects to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the peer's channel ends.
    ///
    /// # Panics
    ///
    /// When the peer's handover fails.
    pub fn accept(self) -> (BytesSend, BytesRecv) {
        let (_, (tx, rx)) = self.server.accept().expect("the peer's ipc-channel ends");
        (BytesSend(tx), BytesRecv { rx, waits: 0 })
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

/// The peer's side: makes a channel each way and hands the measuring side its ends
/// through the server `name`.
///
/// # Panics
///
/// When the channels cannot be made or handed over.
pub fn connect(name: &str) -> (BytesSend, BytesRecv) {
    let (to_peer, from_measurer) = ipc::bytes_channel().expect("an ipc-channel bytes channel");
    let (to_measurer, from_peer) = ipc::bytes_channel().expect("an ipc-channel bytes channel");
    IpcSender::<Handover>::connect(name.to_owned())
        .expect("connect to the ipc-channel server")
        .send((to_peer, from_peer))
        .expect("hand over the channel ends");
    (
        BytesSend(to_measurer),
        BytesRecv {
            rx: from_measurer,
            waits: 0,
        },
    )
}

/// A bytes channel's sending end.
#[derive(Debug)]
pub struct BytesSend(IpcBytesSender);

impl Send for BytesSend {
    fn send(&mut self, message: &[u8]) {
        self.0.send(message).expect("ipc-channel send");
    }
}

/// A bytes channel's receiving end.
#[derive(Debug)]
pub struct BytesRecv {
    rx: IpcBytesReceiver,
    waits: u64,
}

impl Recv for BytesRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let message = match self.rx.try_recv() {
            Ok(message) => message,
            Err(_) => {
                self.waits += 1;
                self.rx.recv().expect("ipc-channel receive")
            }
        };
        let n = message.len().min(buf.len());
        buf[..n].copy_from_slice(&message[..n]);
        n
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint;

    #[test]
    fn a_ping_pong_and_a_stream_arrive_whole() {
        let server = Server::new();
        let name = server.name().to_owned();
        let peer = std::thread::spawn(move || {
            let (mut tx, mut rx) = connect(&name);
            endpoint::echo(&mut tx, &mut rx, 4096, 200).unwrap();
            endpoint::produce(&mut tx, 4096, 1_000);
        });
        let (mut tx, mut rx) = server.accept();
        endpoint::ping(&mut tx, &mut rx, 4096, 200, 10).unwrap();
        let stream = endpoint::consume(&mut rx, 4096, 1_000).unwrap();
        assert_eq!(stream.messages, 1_000);
        peer.join().unwrap();
    }
}
