//! [`Response`]: what a handler returns, and how it is written into the connection's output
//! buffer.
//!
//! The server owns the framing: it writes `Date`, `Content-Length` or `Transfer-Encoding`,
//! and `Connection` itself, and drops those names from the handler's headers, so a handler
//! cannot make the response's length disagree with its body. A response built from a
//! `&'static str` with [`Response::text`] allocates nothing.

use std::borrow::Cow;
use std::fmt;
use std::io;

use super::date;
use super::tunnel::Tunnel;
use super::writer::BodyWriter;

/// A function writing a streamed body; see [`Response::stream`].
pub(crate) type StreamFn = Box<dyn FnOnce(&mut BodyWriter<'_>) -> io::Result<()>>;

/// A function serving a `CONNECT` tunnel; see [`Response::tunnel`].
pub(crate) type TunnelFn = Box<dyn FnOnce(&mut Tunnel<'_>) -> io::Result<()>>;

/// The body of a [`Response`]: bytes (static or owned), or a function that streams it.
/// Made with `From` (`&'static str`, `String`, `&'static [u8]`, `Vec<u8>`) or by
/// [`Response::stream`].
pub struct ResponseBody {
    /// What the body is.
    inner: Inner,
}

/// The kinds of body.
enum Inner {
    /// Bytes that live forever: no allocation.
    Static(&'static [u8]),
    /// Bytes the handler made.
    Owned(Vec<u8>),
    /// Written by a function after the head, chunked (or until close for HTTP/1.0).
    Stream(StreamFn),
    /// A `CONNECT` tunnel served by a function after the head.
    Tunnel(TunnelFn),
}

impl ResponseBody {
    /// The body's bytes, unless it is streamed.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::Static(b) => Some(b),
            Inner::Owned(v) => Some(v),
            Inner::Stream(_) | Inner::Tunnel(_) => None,
        }
    }

    /// The streaming function, if the body is streamed.
    pub(crate) fn into_stream(self) -> Option<StreamFn> {
        match self.inner {
            Inner::Stream(f) => Some(f),
            _ => None,
        }
    }

    /// The tunnel function, if the response opens a tunnel.
    pub(crate) fn into_tunnel(self) -> Option<TunnelFn> {
        match self.inner {
            Inner::Tunnel(f) => Some(f),
            _ => None,
        }
    }
}

impl From<&'static str> for ResponseBody {
    fn from(s: &'static str) -> ResponseBody {
        ResponseBody {
            inner: Inner::Static(s.as_bytes()),
        }
    }
}

impl From<&'static [u8]> for ResponseBody {
    fn from(b: &'static [u8]) -> ResponseBody {
        ResponseBody {
            inner: Inner::Static(b),
        }
    }
}

impl From<String> for ResponseBody {
    fn from(s: String) -> ResponseBody {
        ResponseBody {
            inner: Inner::Owned(s.into_bytes()),
        }
    }
}

impl From<Vec<u8>> for ResponseBody {
    fn from(v: Vec<u8>) -> ResponseBody {
        ResponseBody {
            inner: Inner::Owned(v),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Static(b) => write!(f, "ResponseBody({} bytes)", b.len()),
            Inner::Owned(v) => write!(f, "ResponseBody({} bytes)", v.len()),
            Inner::Stream(_) => f.write_str("ResponseBody(stream)"),
            Inner::Tunnel(_) => f.write_str("ResponseBody(tunnel)"),
        }
    }
}

/// An HTTP response: status, headers and body.
///
/// ```
/// use sprout::net::http::Response;
///
/// let hello = Response::text("Hello, World!");
/// let missing = Response::new(404);
/// let created = Response::json(r#"{"id":7}"#.to_string())
///     .with_status(201)
///     .with_header("Location", "/items/7");
/// assert_eq!((hello.status(), missing.status(), created.status()), (200, 404, 201));
/// ```
#[derive(Debug)]
pub struct Response {
    /// The status code (100-999).
    status: u16,
    /// `Content-Type`, kept apart from `headers` so the common case allocates nothing.
    content_type: Option<Cow<'static, str>>,
    /// Other header lines, in order.
    headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body.
    body: ResponseBody,
    /// Whether the handler asked to close the connection after this response.
    close: bool,
}

impl Response {
    /// A response with `status` and an empty body.
    ///
    /// # Panics
    /// If `status` is not a three-digit code (100-999).
    pub fn new(status: u16) -> Response {
        assert!(
            (100..1000).contains(&status),
            "sprout: an HTTP status is a three-digit code, not {status}"
        );
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: ResponseBody::from(&b""[..]),
            close: false,
        }
    }

    /// `200 OK` with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<ResponseBody>) -> Response {
        // A known-good value: no need to check it for header injection.
        Response::ok(body.into(), "text/plain; charset=utf-8")
    }

    /// `200 OK` with an `application/json` body (already serialized).
    pub fn json(body: impl Into<ResponseBody>) -> Response {
        Response::ok(body.into(), "application/json")
    }

    /// `200 OK` with a known-good content type, built in place (the common case: nothing
    /// to check, nothing to drop).
    #[inline]
    fn ok(body: ResponseBody, content_type: &'static str) -> Response {
        Response {
            status: 200,
            content_type: Some(Cow::Borrowed(content_type)),
            headers: Vec::new(),
            body,
            close: false,
        }
    }

    /// `200 OK` whose body `f` writes after the head has been sent, through a
    /// [`BodyWriter`] (`std::io::Write`): chunked for HTTP/1.1, until the connection closes
    /// for HTTP/1.0. `f` may block (sleep, call other services) between writes; each write
    /// goes out at once. If `f` fails or panics, the connection is closed with the body cut
    /// short (the client sees no final chunk). A `HEAD` request does not run `f`.
    pub fn stream<F>(f: F) -> Response
    where
        F: FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + 'static,
    {
        Response::new(200).with_body(ResponseBody {
            inner: Inner::Stream(Box::new(f)),
        })
    }

    /// `200 OK` to a `CONNECT` request, after which `f` serves the tunnel on the raw
    /// connection (see [`Tunnel`]); the connection closes when `f` returns. Only a server
    /// built with [`Builder::connect`](super::Builder::connect) passes `CONNECT` to its
    /// handler (others answer 501). The head carries no `Content-Length` or
    /// `Transfer-Encoding` (RFC 9110, section 9.3.6). A tunnel response to any other
    /// method, or with a status that is not 2xx, is sent as an empty body and `f` is not run.
    pub fn tunnel<F>(f: F) -> Response
    where
        F: FnOnce(&mut Tunnel<'_>) -> io::Result<()> + 'static,
    {
        Response::new(200).with_body(ResponseBody {
            inner: Inner::Tunnel(Box::new(f)),
        })
    }

    /// Sets the status code.
    ///
    /// # Panics
    /// If `status` is not a three-digit code.
    pub fn with_status(mut self, status: u16) -> Response {
        assert!(
            (100..1000).contains(&status),
            "sprout: an HTTP status is a three-digit code, not {status}"
        );
        self.status = status;
        self
    }

    /// Sets `Content-Type`.
    ///
    /// # Panics
    /// If the value contains CR, LF or NUL (header injection).
    pub fn with_content_type(mut self, value: impl Into<Cow<'static, str>>) -> Response {
        let value = value.into();
        check_header("Content-Type", &value);
        self.content_type = Some(value);
        self
    }

    /// Adds a header line. `Content-Length`, `Transfer-Encoding` and `Date` are the
    /// server's and are dropped; `Connection: close` makes the server close the connection
    /// after this response.
    ///
    /// # Panics
    /// If the name is not a token or either part contains CR, LF or NUL (header injection).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        let (name, value) = (name.into(), value.into());
        check_header(&name, &value);
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value);
        } else if name.eq_ignore_ascii_case("connection") {
            self.close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        } else if !["content-length", "transfer-encoding", "date"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            self.headers.push((name, value));
        }
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<ResponseBody>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the handler asked for `Connection: close`.
    pub(crate) fn closes(&self) -> bool {
        self.close
    }

    /// Whether the body is streamed.
    pub(crate) fn is_stream(&self) -> bool {
        matches!(self.body.inner, Inner::Stream(_))
    }

    /// Takes the body out (for streaming it).
    pub(crate) fn into_body(self) -> ResponseBody {
        self.body
    }

    /// The body's bytes, unless it is streamed.
    pub(crate) fn body_bytes(&self) -> Option<&[u8]> {
        self.body.bytes()
    }

    /// Writes the status line and headers (and the blank line) into `out`. `chunked` and
    /// `keep_alive` are the connection's decisions; `http10` says the client speaks
    /// HTTP/1.0 (so keep-alive is announced, and streamed bodies run until close).
    /// `tunnel`: a 2xx answer to `CONNECT`, which carries no framing headers at all.
    pub(crate) fn write_head(
        &self,
        out: &mut Vec<u8>,
        keep_alive: bool,
        http10: bool,
        tunnel: bool,
    ) {
        out.reserve(160);
        if self.status == 200 {
            out.extend_from_slice(&date::ok_head());
        } else {
            status_line(out, self.status);
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(&date::now());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(ct) = &self.content_type {
            header_line(out, b"Content-Type", ct.as_bytes());
        }
        for (name, value) in &self.headers {
            header_line(out, name.as_bytes(), value.as_bytes());
        }
        if has_body(self.status) && !tunnel {
            match self.body.bytes() {
                Some(b) => {
                    out.extend_from_slice(b"Content-Length: ");
                    decimal(out, b.len() as u64);
                    out.extend_from_slice(b"\r\n");
                }
                None if !http10 && self.is_stream() => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
                }
                // A tunnel response that does not open a tunnel has an empty body.
                None if !self.is_stream() => out.extend_from_slice(b"Content-Length: 0\r\n"),
                None => {}
            }
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether a response with this status carries a body (and so a length).
pub(crate) fn has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// The complete answer to a request refused by the server itself: `status`, a one-line
/// plain-text body, and `Connection: close`. Returns the body's length.
pub(crate) fn write_error(out: &mut Vec<u8>, status: u16) -> u64 {
    status_line(out, status);
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(&date::now());
    let reason = reason(status).as_bytes();
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    decimal(out, reason.len() as u64 + 1);
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(reason);
    out.push(b'\n');
    reason.len() as u64 + 1
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    if status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub(crate) fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Panics on a header that would break the response's framing.
fn check_header(name: &str, value: &str) {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    assert!(
        !name.is_empty() && name.bytes().all(token),
        "sprout: {name:?} is not a valid header name"
    );
    assert!(
        !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
        "sprout: the value of header {name} contains CR, LF or NUL"
    );
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(r: &Response, keep_alive: bool, http10: bool) -> String {
        let mut out = Vec::new();
        r.write_head(&mut out, keep_alive, http10, false);
        String::from_utf8(out).unwrap()
    }

    /// The head with its `Date` line blanked out.
    fn without_date(h: &str) -> String {
        h.split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn text_response_head() {
        let h = head(&Response::text("Hello, World!"), true, false);
        assert!(h.contains("\r\nDate: ") && h.contains(" GMT\r\n"), "{h}");
        assert_eq!(
            without_date(&h),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 13\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_belong_to_the_server() {
        let r = Response::new(404)
            .with_header("Content-Length", "999")
            .with_header("transfer-encoding", "chunked")
            .with_header("X-A", "1")
            .with_header("Connection", "close");
        assert!(r.closes());
        assert_eq!(
            without_date(&head(&r, false, false)),
            "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn streams_and_bodiless_statuses() {
        let s = Response::stream(|_| Ok(()));
        assert!(head(&s, true, false).contains("Transfer-Encoding: chunked\r\n"));
        let h10 = head(&s, false, true);
        assert!(!h10.contains("Transfer-Encoding") && h10.contains("Connection: close"));
        let h = head(&Response::new(204), true, true);
        assert!(!h.contains("Content-Length") && h.contains("Connection: keep-alive"));
    }

    #[test]
    fn error_answers() {
        let mut out = Vec::new();
        write_error(&mut out, 431);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(s.ends_with(
            "Content-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n"
        ));
    }

    #[test]
    fn decimal_digits() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    #[should_panic(expected = "contains CR, LF or NUL")]
    fn header_injection_panics() {
        let _ = Response::new(200).with_header("X-A", "a\r\nSet-Cookie: b");
    }
}
