//! Blocking length-prefixed frames over a stream socket.

use std::io::IoSlice;
use std::os::fd::AsFd;

use bytes::{Buf, Bytes, BytesMut};
use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::{FrameCodec, UdsError, buffer, io};

/// Read-ahead of the read buffer: when it has less than a quarter of this free and its
/// memory cannot be reused, it grows by at least this much (see [`fill`](FramedStream::fill)).
const READ_CHUNK: usize = 64 * 1024;

/// Largest payload [`FramedStream::write_frame`] copies next to its header to send both
/// with one `send`: below it, the copy costs less than `sendmsg`'s vector.
const SMALL_FRAME: usize = 4096;

/// Frames over a connected stream socket: a Unix stream (`UnixStream`) or TCP
/// (`TcpStream`), or any descriptor of one.
///
/// - [`read_frame`](Self::read_frame) returns each payload as [`Bytes`] split from one
///   reusable read buffer: once the caller drops a frame, its memory is reused, so steady
///   traffic allocates nothing. The buffer grows with the bytes that arrive, never with
///   the length a header announces, and never beyond the codec's maximum frame length
///   plus 64 KiB of read-ahead ([`read_buffer_capacity`](Self::read_buffer_capacity)):
///   a peer that announces a maximal frame and withholds its last byte costs one frame.
/// - [`write_frame`](Self::write_frame) and [`write_frames`](Self::write_frames) send
///   header and payload with vectored `sendmsg`, without copying the payload, and finish
///   across partial writes. [`feed_frame`](Self::feed_frame) + [`flush`](Self::flush)
///   coalesce many small frames into one send.
/// - `EINTR` is retried; sends use `MSG_NOSIGNAL`, so a closed peer is
///   [`UdsError::Disconnected`], never `SIGPIPE`.
/// - [`set_read_timeout`](Self::set_read_timeout) and
///   [`set_write_timeout`](Self::set_write_timeout) bound every receive and send; an
///   expired one is [`UdsError::Timeout`], and nothing is lost (the next call continues).
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use ipclane_uds::FramedStream;
///
/// let (a, b) = UnixStream::pair()?;
/// let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
/// a.write_frames(&[b"one", b"", b"three"])?;
/// assert_eq!(b.read_frame()?.as_deref(), Some(&b"one"[..]));
/// assert_eq!(b.read_frame()?.as_deref(), Some(&b""[..]));
/// assert_eq!(b.read_frame()?.as_deref(), Some(&b"three"[..]));
/// drop(a);
/// assert_eq!(b.read_frame()?, None); // clean end between frames
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FramedStream<S> {
    io: S,
    codec: FrameCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    eof: bool,
    /// Whether the last frame [`read_frame_into`](Self::read_frame_into) took was large
    /// (at least half the read-ahead): its next header is then received alone, so that
    /// its payload goes from the socket straight into the caller's buffer instead of
    /// through the read buffer and a copy.
    large_frames: bool,
}

impl<S: AsFd> FramedStream<S> {
    /// Frames over `io` with the default format (4-byte big-endian length, 8 MiB max).
    pub fn new(io: S) -> Self {
        Self::with_codec(io, FrameCodec::new())
    }

    /// Frames over `io` with the format of `codec`.
    pub fn with_codec(io: S, codec: FrameCodec) -> Self {
        Self {
            io,
            codec,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            eof: false,
            large_frames: false,
        }
    }

    /// Sets how long each receive waits for bytes before [`UdsError::Timeout`] (`None`:
    /// forever): the socket's `SO_RCVTIMEO`.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), UdsError> {
        io::set_timeout(&self.io, rustix::net::sockopt::Timeout::Recv, timeout)
    }

    /// Sets how long each send waits for room before [`UdsError::Timeout`] (`None`:
    /// forever): the socket's `SO_SNDTIMEO`.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), UdsError> {
        io::set_timeout(&self.io, rustix::net::sockopt::Timeout::Send, timeout)
    }

    /// The underlying stream (for shutdown, credentials).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The codec.
    pub fn codec(&self) -> &FrameCodec {
        &self.codec
    }

    /// Bytes of memory the read buffer holds for this stream: bytes received but not yet
    /// returned as frames, plus room for the next `recv`. At most the codec's maximum
    /// frame length plus 64 KiB (plus the header), whatever the peer sends; frames already
    /// returned are not counted (they own their memory until dropped).
    pub fn read_buffer_capacity(&self) -> usize {
        self.read_buf.capacity()
    }

    /// The underlying stream; bytes read but not yet returned as frames, and frames fed
    /// but not flushed, are dropped.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// Reads the next frame.
    ///
    /// Returns `Ok(None)` when the peer closed the stream cleanly between frames.
    ///
    /// # Errors
    ///
    /// [`UdsError::Truncated`] when the stream ends inside a frame,
    /// [`UdsError::TooLarge`] for a header over the maximum (the stream is then out
    /// of step: close it), [`UdsError::Disconnected`] on a connection reset,
    /// [`UdsError::OutOfMemory`] when the frame's buffer cannot grow (it stays in
    /// progress), or an OS error ([`UdsError::Timeout`] when the read timeout expired).
    pub fn read_frame(&mut self) -> Result<Option<Bytes>, UdsError> {
        loop {
            if let Some(frame) = self.codec.decode_unreserved(&mut self.read_buf)? {
                return Ok(Some(frame));
            }
            if self.eof {
                return self.codec.decode_eof(&mut self.read_buf);
            }
            self.fill()?;
        }
    }

    /// Like [`read_frame`](Self::read_frame), without waiting: the next frame if it has
    /// wholly arrived, `Ok(None)` if not (what arrived of it stays buffered for the next
    /// call). Only this call is non-blocking (`MSG_DONTWAIT`): the socket itself, which
    /// a clone for writing may share, stays blocking.
    ///
    /// # Errors
    ///
    /// [`UdsError::Disconnected`] once the peer closed the stream between frames,
    /// [`UdsError::Truncated`] when it closed inside one (the part is dropped), otherwise
    /// those of `read_frame`.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use ipclane_uds::{FramedStream, UdsError};
    ///
    /// let (a, b) = UnixStream::pair()?;
    /// let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
    /// assert_eq!(b.try_read_frame()?, None);
    /// a.write_frame(b"now")?;
    /// assert_eq!(b.try_read_frame()?.as_deref(), Some(&b"now"[..]));
    /// drop(a);
    /// assert!(matches!(b.try_read_frame(), Err(UdsError::Disconnected)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read_frame(&mut self) -> Result<Option<Bytes>, UdsError> {
        loop {
            if let Some(frame) = self.codec.decode_unreserved(&mut self.read_buf)? {
                return Ok(Some(frame));
            }
            if self.eof {
                return match self.codec.decode_eof(&mut self.read_buf)? {
                    Some(frame) => Ok(Some(frame)),
                    None => Err(UdsError::Disconnected),
                };
            }
            match self.fill_with(usize::MAX, RecvFlags::DONTWAIT) {
                Ok(()) => {}
                Err(UdsError::Timeout { .. }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next frame into `buf` and returns its length: no allocation, and a
    /// large frame goes from the socket straight into `buf` (the bytes already read
    /// ahead are copied, the rest is received in place), as a raw `read_exact` would.
    ///
    /// Returns `Ok(None)` when the peer closed the stream cleanly between frames.
    ///
    /// # Errors
    ///
    /// [`UdsError::BufferTooSmall`] when the frame is longer than `buf` (it stays next,
    /// whole); otherwise those of [`read_frame`](Self::read_frame). An error inside the
    /// payload (an expired read timeout, say) loses nothing: the next call continues the
    /// frame.
    pub fn read_frame_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, UdsError> {
        let len = loop {
            if let Some(len) = self.codec.decode_header(&mut self.read_buf)? {
                break len;
            }
            if self.eof {
                // Between frames, or inside a header: decode_eof tells them apart.
                return self.codec.decode_eof(&mut self.read_buf).map(|_| None);
            }
            if self.large_frames {
                let missing = self.codec.header_len() - self.read_buf.len();
                self.fill_up_to(missing)?;
            } else {
                self.fill()?;
            }
        };
        self.large_frames = len >= READ_CHUNK / 2;
        if len > buf.len() {
            return Err(UdsError::BufferTooSmall {
                len,
                capacity: buf.len(),
            });
        }
        // Read ahead while the rest is short (one recv brings the frames after it too);
        // receive a long rest in place.
        while self.read_buf.len() < len && len - self.read_buf.len() < READ_CHUNK / 2 && !self.eof {
            self.fill()?;
        }
        let have = self.read_buf.len().min(len);
        buf[..have].copy_from_slice(&self.read_buf[..have]);
        self.read_buf.advance(have);
        let mut got = have;
        while got < len {
            match io::recv(&self.io, &mut buf[got..len]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) => {
                    // Give the payload received so far back to the read buffer, which is
                    // empty now: the frame stays in progress and nothing is lost.
                    self.read_buf.extend_from_slice(&buf[..got]);
                    return Err(e);
                }
            }
        }
        if got < len {
            self.read_buf.extend_from_slice(&buf[..got]);
            return Err(UdsError::Truncated {
                part: "payload",
                received: got as u64,
                expected: len as u64,
            });
        }
        self.codec.finish_payload();
        Ok(Some(len))
    }

    /// Receives more bytes into the read buffer; sets `eof` at the end of the stream.
    ///
    /// The buffer holds only the frame in progress here (`read_frame` decodes every whole
    /// frame first). With less than `READ_CHUNK / 4` free, it first reuses its own memory
    /// (possible once every frame handed out was dropped: steady traffic allocates
    /// nothing); failing that, it reads into what is free as long as the rest of the frame
    /// fits, and only otherwise grows, to at most `max(len + READ_CHUNK, frame size)`.
    fn fill(&mut self) -> Result<(), UdsError> {
        self.fill_up_to(usize::MAX)
    }

    /// [`fill`](Self::fill), receiving at most `most` bytes.
    fn fill_up_to(&mut self, most: usize) -> Result<(), UdsError> {
        self.fill_with(most, RecvFlags::empty())
    }

    /// [`fill_up_to`](Self::fill_up_to) with `flags` on the `recv` (`MSG_DONTWAIT`: an
    /// empty socket is [`UdsError::Timeout`] at once).
    fn fill_with(&mut self, most: usize, flags: RecvFlags) -> Result<(), UdsError> {
        let spare = self.read_buf.capacity() - self.read_buf.len();
        if spare < READ_CHUNK / 4 && !self.read_buf.try_reclaim(READ_CHUNK / 4) {
            let need = self.codec.pending(&self.read_buf);
            if spare < need {
                buffer::grow(&mut self.read_buf, READ_CHUNK, need)?;
            }
        }
        let filled = self.read_buf.len();
        let n = loop {
            let spare = self.read_buf.spare_capacity_mut();
            let room = spare.len().min(most);
            match rustix::net::recv(&self.io, &mut spare[..room], flags) {
                Ok(((init, _), _)) => break init.len(),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(UdsError::transfer("recv", e)),
            }
        };
        // SAFETY: recv initialised the first `n` bytes of the spare capacity, which
        // directly follows the `filled` initialised bytes.
        unsafe { self.read_buf.set_len(filled + n) };
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Sends one frame now.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`] (nothing sent), [`UdsError::Disconnected`] when the
    /// peer is gone, or an OS error ([`UdsError::Timeout`] when the write timeout expired).
    pub fn write_frame(&mut self, payload: &[u8]) -> Result<(), UdsError> {
        if self.write_buf.is_empty() && payload.len() <= SMALL_FRAME {
            // A small frame: header and payload copied into one buffer (whose memory is
            // kept) and sent with `send`, cheaper than `sendmsg` with its vector.
            self.codec.encode(payload, &mut self.write_buf)?;
            let sent = io::send_one(&self.io, &self.write_buf);
            self.write_buf.clear();
            return sent;
        }
        // A large one, without copying it: header on the stack, three buffers.
        let mut header = [0u8; 8];
        let mut cursor = &mut header[..];
        self.codec.encode_header(payload.len(), &mut cursor)?;
        let header_len = self.codec.header_len();
        let mut slices = [
            IoSlice::new(&self.write_buf),
            IoSlice::new(&header[..header_len]),
            IoSlice::new(payload),
        ];
        let sent = io::send_all(&self.io, &mut slices);
        self.write_buf.clear();
        sent
    }

    /// Sends several frames now, with as few vectored `sendmsg` calls as the kernel
    /// allows, and without copying payloads. Frames fed earlier and not yet flushed go
    /// first.
    ///
    /// # Errors
    ///
    /// Those of [`write_frame`](Self::write_frame); every frame is checked against the
    /// maximum before anything is sent.
    pub fn write_frames(&mut self, payloads: &[&[u8]]) -> Result<(), UdsError> {
        for p in payloads {
            self.codec.check_len(p.len())?;
        }
        let header_len = self.codec.header_len();
        let mut headers = BytesMut::with_capacity(payloads.len() * header_len);
        for p in payloads {
            self.codec.encode_header(p.len(), &mut headers)?;
        }
        let mut slices = Vec::with_capacity(1 + 2 * payloads.len());
        slices.push(IoSlice::new(&self.write_buf));
        for (i, p) in payloads.iter().enumerate() {
            slices.push(IoSlice::new(&headers[i * header_len..(i + 1) * header_len]));
            slices.push(IoSlice::new(p));
        }
        let sent = io::send_all(&self.io, &mut slices);
        // Sent or not, the fed frames are done with; the buffer's memory is kept.
        self.write_buf.clear();
        sent
    }

    /// Encodes a frame into the write buffer without sending it; [`flush`](Self::flush)
    /// (or the next `write_frame*`) sends it.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`]; the buffer is unchanged then.
    pub fn feed_frame(&mut self, payload: &[u8]) -> Result<(), UdsError> {
        self.codec.encode(payload, &mut self.write_buf)
    }

    /// Sends the frames fed with [`feed_frame`](Self::feed_frame).
    ///
    /// # Errors
    ///
    /// [`UdsError::Disconnected`] or an OS error; what was not sent is dropped.
    pub fn flush(&mut self) -> Result<(), UdsError> {
        self.write_frames(&[])
    }
}
