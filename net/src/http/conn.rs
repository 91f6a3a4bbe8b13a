//! One HTTP/1.1 connection, served by one greenlet: the connection state machine.
//!
//! # The protocol
//!
//! A connection owns a read buffer, an output buffer and a parsed-head record, all reused for
//! every request it carries. It loops through these states:
//!
//! 1. **Read head.** Parse the buffered bytes (`httparse`). While no complete head is
//!    buffered: first **flush** the output buffer (the batch of responses to requests
//!    answered so far goes out in one write), then read more. Waiting for the first byte of
//!    a keep-alive request is bounded by the idle timeout (on expiry the connection closes
//!    without an answer); once part of a head has had to wait for the rest (or from the
//!    accept, for a connection's first request) the whole head must arrive within the
//!    header timeout (`408`, slowloris). EOF before a request starts ends the connection quietly. A head
//!    that is malformed, too large, badly framed, or breaks the target and `Host` rules is
//!    refused (`400`, `413`, `414`, `417`, `431`, `501`: see `head`).
//! 2. **Handle.** The handler runs on this greenlet with a [`Request`] borrowing the head
//!    and a body reader borrowing the rest of the read buffer. It may block. A panic is
//!    reported on stderr and answered `500`; a kill or `Timeout` passes through.
//! 3. **Body leftovers.** What the handler did not read of the body is dropped as far as
//!    it is already buffered (a body sent along with `Expect: 100-continue` included);
//!    nothing is waited for. If the body is still incomplete, the connection will close:
//!    the response goes out at once, and the rest of the body is read and dropped by the
//!    closing linger under the discard limits (a total deadline and a byte cap). A body
//!    that failed (malformed `400`, too large `413`, too slow `408`, bad trailers `400` or
//!    `431`) replaces the handler's response. A `2xx` to `CONNECT` sends a head without
//!    framing and hands the raw connection to the tunnel function, then closes.
//! 4. **Respond.** The head and body are appended to the output buffer; a streamed body is
//!    written through at once. Nothing is sent yet unless the buffer is large (64 KiB) or
//!    the body is: responses to pipelined requests that are already buffered go out
//!    together, in order, at step 1's flush.
//! 5. **Keep-alive or close.** The connection carries another request if the client asked
//!    for it (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
//!    `Connection: keep-alive`), the handler did not say `Connection: close`, the body was
//!    consumed, a streamed body could be delimited (chunked, so not for HTTP/1.0), nothing
//!    failed, and the server is not stopping. Otherwise the response says
//!    `Connection: close`, is flushed, the write side is shut down, and the client's last
//!    bytes are read and dropped for a moment (for the discard limits after an unread
//!    body) before the socket closes (closing with unread input would reset the connection
//!    and could destroy the response in flight).
//!
//! Waiting for the first byte of a keep-alive request arms no timer: the server's
//! housekeeping greenlet closes connections idle past the idle timeout. Every response,
//! refusal and panicking handler's `500` is written to the access log if there is one.
//!
//! Any other I/O error (reset, broken pipe, write timeout) ends the connection without an
//! answer.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout_runtime::greenlet::panic_message;
use sprout_runtime::waiter::is_interrupt;

use super::access_log::Entry;
use super::body::Body;
use super::chunked::Limits;
use super::head::{overflow, Fault, Framing, Head, Parsed, Span};
use super::request::Request;
use super::response::{has_body, write_error, StreamFn, TunnelFn};
use super::server::Shared;
use super::tunnel::Tunnel;
use super::writer::{send, BodyWriter};
use crate::conn_stream::ConnStream;

/// Read buffer size of a new connection; grown up to the head limit when a head needs it.
const INITIAL_READ_BUF: usize = 4096;
/// Room always left after a head for the body reader.
const MIN_BODY_ROOM: usize = 1024;
/// Output buffered past this is sent even if more pipelined requests wait.
const FLUSH_AT: usize = 64 * 1024;
/// Bodies larger than this are sent from where they are instead of copied.
const COPY_BODY_MAX: usize = 16 * 1024;
/// How long a closing connection reads and drops the client's last bytes.
const LINGER: Duration = Duration::from_millis(500);
/// How much it reads while lingering.
const LINGER_MAX: u64 = 256 * 1024;

/// Capacity of a new output buffer.
const WBUF_CAPACITY: usize = 4096;
/// Output buffers larger than this are not kept for reuse.
const WBUF_KEEP_MAX: usize = 128 * 1024;
/// Most spare output buffers kept per thread.
const SPARE_WBUFS_MAX: usize = 32;

thread_local! {
    /// Output buffers of connections that are waiting for input (theirs is empty then),
    /// reused last-in first-out: a connection that wakes up writes its responses into the
    /// buffer written most recently, which is still in the CPU cache, instead of its own
    /// cold one (with hundreds of connections, per-connection buffers miss the cache on
    /// every response).
    static SPARE_WBUFS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty output buffer, recently used if there is one.
fn take_wbuf() -> Vec<u8> {
    SPARE_WBUFS
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(WBUF_CAPACITY))
}

/// Keeps an empty output buffer for the next connection that needs one.
fn give_wbuf(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > WBUF_KEEP_MAX {
        return;
    }
    debug_assert!(buf.is_empty());
    SPARE_WBUFS.with(|s| {
        let mut spare = s.borrow_mut();
        if spare.len() < SPARE_WBUFS_MAX {
            spare.push(buf);
        }
    });
}

/// Serves one connection until it closes (the body of a connection greenlet).
pub(crate) fn serve(stream: ConnStream, peer: SocketAddr, shared: &Rc<Shared>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.idle_timeout));
    let idle = Rc::new(Cell::new(0));
    let id = sprout_runtime::current_id();
    shared.idle.borrow_mut().insert(id, idle.clone());
    let _registered = Registered { shared, id };
    let mut conn = Conn {
        stream,
        peer,
        shared,
        idle,
        rbuf: vec![0; INITIAL_READ_BUF],
        pos: 0,
        end: 0,
        wbuf: Vec::new(),
        head: Head::new(),
        head_seen: 0,
        discard: false,
    };
    conn.run();
    conn.wbuf.clear();
    give_wbuf(std::mem::take(&mut conn.wbuf));
}

/// Removes a connection from the server's idle table when it ends, however it ends.
struct Registered<'s> {
    /// The server.
    shared: &'s Shared,
    /// The connection greenlet's id.
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.idle.borrow_mut().remove(&self.id);
    }
}

/// What reading a head came to.
enum HeadRead {
    /// A complete head is parsed into `Conn::head`, at `Conn::pos`.
    Ready,
    /// The client is gone or idled out: close without an answer.
    Close,
}

/// One connection's state; see the module docs for the protocol.
struct Conn<'s> {
    /// The socket.
    stream: ConnStream,
    /// The client's address.
    peer: SocketAddr,
    /// The server's handler, limits and stop flag.
    shared: &'s Shared,
    /// Non-zero while waiting for the first byte of a request (the server's `stop` kills
    /// such connections; running out of fds the oldest of them).
    idle: Rc<Cell<u64>>,
    /// The read buffer: `rbuf[pos..end]` is unparsed input. Its length is its capacity.
    rbuf: Vec<u8>,
    /// First unparsed byte.
    pos: usize,
    /// End of the input read so far.
    end: usize,
    /// Responses not yet sent. Lent back to the thread's spare buffers while the
    /// connection waits for input with nothing to send.
    wbuf: Vec<u8>,
    /// The current request's parsed head.
    head: Head,
    /// How many bytes at `rbuf[pos..]` the head parser has already seen without a complete
    /// head: it runs again only when a newline arrives after them, so a client trickling its
    /// head costs one parse per line, not one per byte.
    head_seen: usize,
    /// The last request's body was not read to its end: the closing connection discards
    /// the rest under the discard limits.
    discard: bool,
}

impl Conn<'_> {
    fn run(&mut self) {
        // A connection's first request must arrive within the header timeout of the accept.
        let mut head_deadline = Some(sprout_runtime::time::saturating_deadline(
            self.shared.config.header_timeout,
        ));
        loop {
            match self.read_head(&mut head_deadline) {
                Ok(HeadRead::Ready) => {}
                Ok(HeadRead::Close) => return self.close(false),
                Err(fault) => return self.refuse(fault),
            }
            head_deadline = None;
            match self.respond() {
                Ok(true) => {}
                Ok(false) => return self.close(true),
                Err(()) => return,
            }
        }
    }

    /// State 1: parse what is buffered; flush and read more until a head is complete.
    fn read_head(&mut self, deadline: &mut Option<Instant>) -> Result<HeadRead, Fault> {
        let config = &self.shared.config;
        loop {
            if self.pos < self.end {
                let input = &self.rbuf[self.pos..self.end];
                let fresh = &input[self.head_seen.min(input.len())..];
                if self.head_seen == 0 || fresh.contains(&b'\n') {
                    if self.head.parse(input, config)? == Parsed::Complete {
                        self.head_seen = 0;
                        return Ok(HeadRead::Ready);
                    }
                    self.head_seen = input.len();
                } else if input.len() > config.max_header_bytes {
                    return Err(overflow(input, config));
                } else {
                    self.head_seen = input.len();
                }
                // The clock is read only for a head that has to wait for more bytes.
                deadline.get_or_insert_with(|| {
                    sprout_runtime::time::saturating_deadline(config.header_timeout)
                });
            }
            if !self.wbuf.is_empty() && send(&self.stream, &mut self.wbuf, &[]).is_err() {
                return Ok(HeadRead::Close);
            }
            let waiting = self.pos == self.end && deadline.is_none();
            if waiting && self.shared.stopping.get() {
                return Ok(HeadRead::Close);
            }
            if self.pos > 0 {
                self.rbuf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.end == self.rbuf.len() {
                let limit = config.max_header_bytes + MIN_BODY_ROOM;
                if self.rbuf.len() >= limit {
                    return Err(overflow(&self.rbuf[..self.end], config));
                }
                self.rbuf.resize((self.rbuf.len() * 2).min(limit), 0);
            }
            // Waiting between requests is bounded by the server's housekeeping (which
            // closes connections idle past the idle timeout), not by a timer per wait.
            let timeout = match *deadline {
                None if waiting => None,
                None => Some(config.idle_timeout),
                Some(d) => Some(d.saturating_duration_since(Instant::now())),
            };
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(Fault::Timeout);
            }
            let _ = self.stream.set_read_timeout(timeout);
            if waiting {
                self.idle.set(self.shared.idle_mark());
            }
            if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
                give_wbuf(std::mem::take(&mut self.wbuf));
            }
            let read = (&self.stream).read(&mut self.rbuf[self.end..]);
            self.idle.set(0);
            match read {
                Ok(0) => {
                    return if self.pos == self.end {
                        Ok(HeadRead::Close)
                    } else {
                        Err(Fault::Closed)
                    }
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && waiting => {
                    return Ok(HeadRead::Close)
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Fault::Timeout),
                Err(_) => return Err(Fault::Closed),
            }
        }
    }

    /// States 2 to 5 for the head at `pos`: returns whether the connection carries on
    /// (`Err` when it is already unusable).
    fn respond(&mut self) -> Result<bool, ()> {
        let config = &self.shared.config;
        let started = self.shared.access_log.as_ref().map(|_| Instant::now());
        if self.wbuf.capacity() == 0 {
            self.wbuf = take_wbuf();
        }
        // The body reader needs room after the head (for a chunked body, room for its
        // longest framing line): move the input to the front, and grow the buffer only if
        // the head itself leaves too little (so the buffer never grows past the head limit
        // plus the body room, however much is pipelined).
        let room = match self.head.framing {
            Framing::Chunked => MIN_BODY_ROOM + config.max_chunk_line.max(config.max_trailer_bytes),
            _ => MIN_BODY_ROOM,
        };
        if self.rbuf.len() - (self.pos + self.head.len) < room {
            self.rbuf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.rbuf.len() - self.head.len < room {
                self.rbuf.resize(self.head.len + room, 0);
            }
        }
        let head_start = self.pos;
        let head_end = self.pos + self.head.len;
        let http10 = self.head.minor == 0;
        let (head_bytes, rest) = self.rbuf.split_at_mut(head_end);
        let head_bytes = &head_bytes[head_start..];
        let limits = Limits {
            line: config.max_chunk_line,
            trailer_bytes: config.max_trailer_bytes,
            trailer_fields: config.max_headers,
        };
        let body = Body::new(
            &self.stream,
            rest,
            self.end - head_end,
            self.head.framing,
            limits,
            self.head.expect_continue,
            &mut self.wbuf,
            config.max_body,
            config.idle_timeout,
        );
        let mut req = Request::new(&self.head, head_bytes, self.peer, body);
        let handler = &self.shared.handler;
        let answer = match panic::catch_unwind(AssertUnwindSafe(|| handler(&mut req))) {
            Ok(resp) => Some(resp),
            Err(p) if is_interrupt(&*p) => panic::resume_unwind(p),
            Err(p) => {
                eprintln!(
                    "sprout: HTTP handler panicked on {} {} from {}: {}",
                    req.method(),
                    req.target(),
                    self.peer,
                    panic_message(&*p)
                );
                None
            }
        };
        let left = req.into_body().finish();
        self.pos = head_end + left.pos;
        self.end = head_end + left.end;
        let resp = match (left.fault, answer) {
            (Some(fault), _) => {
                let Some(status) = fault.status() else {
                    return Err(());
                };
                let bytes = write_error(&mut self.wbuf, status);
                self.log(Some((head_start, head_end)), status, bytes, started);
                return Ok(false);
            }
            (None, None) => {
                let bytes = write_error(&mut self.wbuf, 500);
                self.log(Some((head_start, head_end)), 500, bytes, started);
                return Ok(false);
            }
            (None, Some(resp)) => resp,
        };
        let status = resp.status();
        // A 2xx to CONNECT switches the connection to a tunnel: no framing, no body.
        let tunnel = self.head.is_connect && (200..300).contains(&status);
        // The rest of an unread body is discarded after the response, while closing.
        self.discard = !left.complete;
        let must_close = resp.closes()
            || (resp.is_stream() && http10)
            || self.head.is_connect
            || self.shared.stopping.get();
        let keep_alive = self.head.keep_alive && left.complete && !must_close;
        resp.write_head(&mut self.wbuf, keep_alive, http10, tunnel);
        let sends_body = !self.head.is_head && has_body(status) && !tunnel;
        let mut sent = 0u64;
        if let Some(bytes) = resp.body_bytes() {
            if !sends_body || bytes.is_empty() {
            } else if bytes.len() <= COPY_BODY_MAX {
                self.wbuf.extend_from_slice(bytes);
                sent = bytes.len() as u64;
            } else if send(&self.stream, &mut self.wbuf, &[bytes]).is_err() {
                return Err(());
            } else {
                sent = bytes.len() as u64;
            }
        } else if tunnel {
            let f = resp.into_body().into_tunnel();
            self.log(Some((head_start, head_end)), status, 0, started);
            if send(&self.stream, &mut self.wbuf, &[]).is_err() {
                return Err(());
            }
            if let Some(f) = f {
                self.run_tunnel(f);
            }
            return Err(());
        } else if let Some(stream_fn) = resp.into_body().into_stream() {
            if sends_body {
                match self.stream_body(stream_fn, !http10) {
                    Some(n) => sent = n,
                    None => return Err(()),
                }
            }
        }
        self.log(Some((head_start, head_end)), status, sent, started);
        if (!keep_alive || self.wbuf.len() >= FLUSH_AT)
            && send(&self.stream, &mut self.wbuf, &[]).is_err()
        {
            return Err(());
        }
        Ok(keep_alive)
    }

    /// Writes the access log line for the request whose head is `rbuf[head.0..head.1]`
    /// (`None`: refused before its head was parsed).
    fn log(&self, head: Option<(usize, usize)>, status: u16, bytes: u64, started: Option<Instant>) {
        let Some(log) = &self.shared.access_log else {
            return;
        };
        let duration = started.map_or(Duration::ZERO, |s| s.elapsed());
        let mut entry = Entry {
            peer: self.peer,
            request: None,
            referer: None,
            user_agent: None,
            status,
            bytes,
            duration,
        };
        if let Some((start, end)) = head {
            let bytes = &self.rbuf[start..end];
            let part = |s: Span| &bytes[s.0 as usize..s.1 as usize];
            entry.request = Some((
                part(self.head.method),
                part(self.head.target),
                self.head.minor,
            ));
            for &(name, value) in &self.head.headers {
                let name = part(name);
                if name.eq_ignore_ascii_case(b"referer") {
                    entry.referer = Some(part(value));
                } else if name.eq_ignore_ascii_case(b"user-agent") {
                    entry.user_agent = Some(part(value));
                }
            }
        }
        log.log(&entry);
    }

    /// Runs a tunnel function on the raw connection, with the bytes buffered after the
    /// `CONNECT` head.
    fn run_tunnel(&mut self, f: TunnelFn) {
        let _ = self
            .stream
            .set_read_timeout(Some(self.shared.config.idle_timeout));
        let mut tunnel = Tunnel::new(&self.stream, &self.rbuf[self.pos..self.end]);
        match panic::catch_unwind(AssertUnwindSafe(|| f(&mut tunnel))) {
            Ok(_) => {}
            Err(p) if is_interrupt(&*p) => panic::resume_unwind(p),
            Err(p) => eprintln!(
                "sprout: HTTP tunnel panicked for {}: {}",
                self.peer,
                panic_message(&*p)
            ),
        }
    }

    /// Runs a streaming body function; returns the body bytes written if it completed.
    fn stream_body(&mut self, f: StreamFn, chunked: bool) -> Option<u64> {
        let mut writer = BodyWriter::new(&self.stream, &mut self.wbuf, chunked);
        match panic::catch_unwind(AssertUnwindSafe(|| f(&mut writer))) {
            Ok(Ok(())) => {
                let n = writer.written();
                writer.finish();
                Some(n)
            }
            Ok(Err(_)) => None,
            Err(p) if is_interrupt(&*p) => panic::resume_unwind(p),
            Err(p) => {
                eprintln!(
                    "sprout: HTTP streaming body panicked for {}: {}",
                    self.peer,
                    panic_message(&*p)
                );
                None
            }
        }
    }

    /// Answers a refused request, then closes.
    fn refuse(&mut self, fault: Fault) {
        match fault.status() {
            Some(status) => {
                let bytes = write_error(&mut self.wbuf, status);
                self.log(None, status, bytes, None);
                self.close(true);
            }
            None => self.close(false),
        }
    }

    /// State 5's close: sends what is buffered, shuts the write side, and reads the
    /// client's last bytes for a moment so the close does not reset the connection.
    fn close(&mut self, linger: bool) {
        if !self.wbuf.is_empty() && send(&self.stream, &mut self.wbuf, &[]).is_err() {
            return;
        }
        if !linger {
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        // After a response to a request whose body was not read, the rest of the body is
        // discarded for up to the configured time and bytes (nginx's lingering close);
        // otherwise for a moment only.
        let config = &self.shared.config;
        let (time, cap) = if self.discard {
            (config.discard_timeout, config.discard_max)
        } else {
            (LINGER, LINGER_MAX)
        };
        let until = sprout_runtime::time::saturating_deadline(time);
        let mut dropped = 0u64;
        while dropped < cap {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match (&self.stream).read(&mut self.rbuf) {
                Ok(0) | Err(_) => return,
                Ok(n) => dropped += n as u64,
            }
        }
    }
}
