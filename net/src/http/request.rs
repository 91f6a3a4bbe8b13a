//! [`Request`]: what a handler is given. Borrowed from the connection's read buffer: the
//! method, target and headers are slices of the bytes the client sent, never copies.

use std::fmt;
use std::net::SocketAddr;

use super::body::Body;
use super::head::{Form, Framing, Head, Span};

/// The protocol version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless the client asked for
    /// `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: the connection stays open unless either side says `Connection: close`.
    Http11,
}

/// One HTTP request, handed to the handler as `&mut Request`.
///
/// The body is read through [`body`](Request::body), which implements `std::io::Read`;
/// reading it parks only the handler's greenlet. A body the handler leaves unread is dropped
/// by the server as far as it has arrived with the request; if more is to come, the
/// response goes out at once with `Connection: close` and the rest is read and dropped
/// under the limits of [`Builder::discard_timeout`](super::Builder::discard_timeout) and
/// [`Builder::discard_max`](super::Builder::discard_max).
pub struct Request<'a> {
    /// Offsets of the head's parts into `bytes`.
    head: &'a Head,
    /// The head as the client sent it.
    bytes: &'a [u8],
    /// The client's address.
    peer: SocketAddr,
    /// The body reader.
    body: Body<'a>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(head: &'a Head, bytes: &'a [u8], peer: SocketAddr, body: Body<'a>) -> Self {
        Request {
            head,
            bytes,
            peer,
            body,
        }
    }

    pub(crate) fn into_body(self) -> Body<'a> {
        self.body
    }

    fn slice(&self, s: Span) -> &[u8] {
        &self.bytes[s.0 as usize..s.1 as usize]
    }

    /// The text of a span that is known to be UTF-8: only spans of the method and header
    /// names (tokens, ASCII), of the target (handed out by httparse as `&str`) and of parts
    /// of it cut at ASCII bytes, and of a validated (ASCII) `Host` value are passed here.
    fn text(&self, s: Span) -> &str {
        let bytes = self.slice(s);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: see above: every span passed is UTF-8 by construction (checked once by
        // httparse or by the Host check, not again per call on the hot path).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The method, as sent (`GET`, `POST`, ...; methods are case-sensitive).
    pub fn method(&self) -> &str {
        self.text(self.head.method)
    }

    /// The request target as sent: normally path and query (`/search?q=sprout`); also
    /// `http://host/path?query` (absolute-form), `host:port` (`CONNECT`) or `*`
    /// (`OPTIONS`).
    pub fn target(&self) -> &str {
        self.text(self.head.target)
    }

    /// The path: the target's path up to `?` (not percent-decoded). For an absolute-form
    /// target (`GET http://x/a?b`) the path of the URI (`/a`; `/` when it has none), so
    /// routing does not depend on the form (RFC 9112, section 3.2.2). `*` for an
    /// asterisk-form `OPTIONS`, and empty for `CONNECT`'s authority-form.
    pub fn path(&self) -> &str {
        let t = self.text(self.head.path);
        // `?` is ASCII: slicing there keeps UTF-8 boundaries.
        let p = match t.bytes().position(|b| b == b'?') {
            Some(i) => &t[..i],
            None => t,
        };
        if p.is_empty() && self.head.form == Form::Absolute {
            "/"
        } else {
            p
        }
    }

    /// The query string after `?`, if there is one (not percent-decoded).
    pub fn query(&self) -> Option<&str> {
        let t = self.text(self.head.path);
        t.bytes().position(|b| b == b'?').map(|i| &t[i + 1..])
    }

    /// The authority the request is for (`host` or `host:port`): the target's when it is
    /// absolute-form or authority-form (it wins over `Host`, RFC 9112 section 3.2.2),
    /// else the `Host` header's. `None` when neither gives one (HTTP/1.0 without `Host`,
    /// or an empty `Host`). Validated by the server: `uri-host [":" port]`, no userinfo.
    pub fn authority(&self) -> Option<&str> {
        self.head.authority.map(|a| self.text(a))
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        if self.head.minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }

    /// The first header named `name` (case-insensitive), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The raw value of the first header named `name` (case-insensitive).
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header line in order, as (name, raw value).
    pub fn headers(&self) -> Headers<'_, 'a> {
        Headers {
            request: self,
            next: 0,
        }
    }

    /// The declared body length (`Content-Length`); `None` for a chunked body, `Some(0)`
    /// when there is no body.
    pub fn content_length(&self) -> Option<u64> {
        match self.head.framing {
            Framing::Empty => Some(0),
            Framing::Length(n) => Some(n),
            Framing::Chunked => None,
        }
    }

    /// Whether the body comes with the chunked transfer coding.
    pub fn is_chunked(&self) -> bool {
        self.head.framing == Framing::Chunked
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The body reader (`std::io::Read`).
    pub fn body(&mut self) -> &mut Body<'a> {
        &mut self.body
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("peer", &self.peer)
            .finish()
    }
}

/// The header lines of a [`Request`], as (name, raw value); from [`Request::headers`].
#[derive(Debug)]
pub struct Headers<'r, 'a> {
    /// The request.
    request: &'r Request<'a>,
    /// Index of the next line.
    next: usize,
}

impl<'r> Iterator for Headers<'r, '_> {
    type Item = (&'r str, &'r [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = *self.request.head.headers.get(self.next)?;
        self.next += 1;
        Some((self.request.text(name), self.request.slice(value)))
    }
}
