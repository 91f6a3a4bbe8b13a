//! The request head: `httparse` glue, and the framing decisions made from the headers.
//!
//! A head is parsed in place in the connection's read buffer; what the rest of the server
//! needs is kept as byte offsets into it (no copy, no allocation once the header table has
//! grown to the connection's largest request). The framing rules are RFC 9112's, strict where
//! leniency would let two parsers disagree about where a request ends (request smuggling):
//!
//! - `Transfer-Encoding` and `Content-Length` together: 400.
//! - `Content-Length` that is not all digits, or several that disagree (also within one
//!   comma-separated value): 400. Repeats of one value are accepted.
//! - `Transfer-Encoding` on HTTP/1.0: 400. The only coding supported is a single `chunked`;
//!   `chunked` twice or not last is malformed (400), any other coding is 501.
//! - A declared length above the body limit: 413, before the handler runs.
//! - `Expect` other than `100-continue`: 417.
//! - `Content-Length` may have leading zeros (`007` is 7), as nginx and hyper read it.
//! - Head larger than the limit: 431; more header lines than the limit: 431; a request line
//!   that does not fit in the head limit, or a target longer than the target limit: 414.
//!
//! The request target and `Host` (RFC 9112 sections 3.2 and 3.2.2, RFC 9110 section 7.2):
//!
//! - The target is origin-form (`/path?query`), absolute-form (`http://host/path`, scheme
//!   `http` or `https`, no userinfo, a non-empty host), authority-form (`host:port`) only and
//!   always for `CONNECT`, or asterisk-form (`*`) only for `OPTIONS`; anything else is 400.
//! - An HTTP/1.1 request without `Host`, any request with more than one `Host` line, or a
//!   `Host` whose value is not `uri-host [ ":" port ]` (a reg-name of unreserved,
//!   percent-encoded and sub-delim characters, an IPv4 address, or a bracketed IPv6 or
//!   IPvFuture literal; no userinfo, no spaces) is 400. An empty `Host` is valid. HTTP/1.0
//!   may omit it.
//! - For an absolute-form target the target's authority wins over `Host` (which must still
//!   be valid); the path is routed as if the target were origin-form.
//! - `CONNECT` is answered 501 unless the server was built to pass it to the handler
//!   ([`Builder::connect`](super::Builder::connect)).

use std::mem::MaybeUninit;

use super::server::Config;

/// The most header lines a parse can hold, whatever the configured limit.
pub(crate) const MAX_HEADERS_CEILING: usize = 128;

/// Header lines the common-case parse has room for (see [`Head::parse`]).
const FEW_HEADERS: usize = 24;

/// A byte range `start..end` in the head.
pub(crate) type Span = (u32, u32);

/// Why a request is refused (or cannot be answered at all); each maps to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Malformed request or body framing: 400.
    BadRequest,
    /// The head did not arrive in time, or a body read timed out: 408.
    Timeout,
    /// The body is larger than the limit: 413.
    TooLarge,
    /// An `Expect` other than `100-continue`: 417.
    Expectation,
    /// The head is larger than the limit, or has too many header lines: 431.
    HeadersTooLarge,
    /// A transfer coding other than `chunked`, or `CONNECT` on a server that does not
    /// tunnel: 501.
    NotImplemented,
    /// The request target is longer than the limit: 414.
    UriTooLong,
    /// The client went away (EOF or a reset mid-request): nobody to answer.
    Closed,
}

impl Fault {
    /// The status code answered, or `None` when nobody is left to answer.
    pub(crate) fn status(self) -> Option<u16> {
        match self {
            Fault::BadRequest => Some(400),
            Fault::Timeout => Some(408),
            Fault::TooLarge => Some(413),
            Fault::Expectation => Some(417),
            Fault::HeadersTooLarge => Some(431),
            Fault::NotImplemented => Some(501),
            Fault::UriTooLong => Some(414),
            Fault::Closed => None,
        }
    }
}

/// How the request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// The form of a request target (RFC 9112, section 3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `/path?query`.
    Origin,
    /// `http://authority/path?query`.
    Absolute,
    /// `host:port` (`CONNECT` only).
    Authority,
    /// `*` (`OPTIONS` only).
    Asterisk,
}

/// Whether a parse found a whole head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The head is complete; its length is [`Head::len`].
    Complete,
    /// More bytes are needed.
    Partial,
}

/// A parsed request head, as offsets into the bytes it was parsed from. Reused for every
/// request of a connection; `parse` overwrites it.
#[derive(Debug)]
pub(crate) struct Head {
    /// Bytes of the head, blank line included.
    pub(crate) len: usize,
    /// The method token.
    pub(crate) method: Span,
    /// The request target as sent.
    pub(crate) target: Span,
    /// The target's form.
    pub(crate) form: Form,
    /// The path and query part of the target (empty for authority-form, and for an
    /// absolute-form target without a path).
    pub(crate) path: Span,
    /// The authority: the target's if it has one, else the `Host` value's (if any).
    pub(crate) authority: Option<Span>,
    /// Whether the method is `HEAD`.
    pub(crate) is_head: bool,
    /// Whether the method is `CONNECT`.
    pub(crate) is_connect: bool,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor: u8,
    /// Header lines as (name, value) spans, in order.
    pub(crate) headers: Vec<(Span, Span)>,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// Whether the client wants the connection kept open (its version's default, changed by
    /// `Connection: close` or `keep-alive`).
    pub(crate) keep_alive: bool,
    /// Whether the client sent `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
}

impl Head {
    /// An empty head with room for a typical number of header lines.
    pub(crate) fn new() -> Head {
        Head {
            len: 0,
            method: (0, 0),
            target: (0, 0),
            form: Form::Origin,
            path: (0, 0),
            authority: None,
            is_head: false,
            is_connect: false,
            minor: 1,
            headers: Vec::with_capacity(16),
            framing: Framing::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }

    /// Parses a head from the start of `buf` under `config`'s limits.
    ///
    /// Most heads have few header lines: they are parsed with room for [`FEW_HEADERS`]
    /// on the stack. A head with more is parsed again by [`Head::parse_many`], whose
    /// larger frame stays off the common path (a frame over a page makes the compiler probe
    /// the stack a page down, a cache miss on every request with hundreds of greenlet
    /// stacks).
    pub(crate) fn parse(&mut self, buf: &[u8], config: &Config) -> Result<Parsed, Fault> {
        let limit = config.max_headers.min(MAX_HEADERS_CEILING);
        let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); FEW_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(buf, &mut slots[..limit.min(FEW_HEADERS)]);
        if limit > FEW_HEADERS && parsed == Err(httparse::Error::TooManyHeaders) {
            return self.parse_many(buf, config, limit);
        }
        self.finish(buf, config, &req, parsed)
    }

    /// [`Head::parse`] with room for up to `limit` header lines.
    #[cold]
    #[inline(never)]
    fn parse_many(&mut self, buf: &[u8], config: &Config, limit: usize) -> Result<Parsed, Fault> {
        let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS_CEILING];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(buf, &mut slots[..limit]);
        self.finish(buf, config, &req, parsed)
    }

    /// The checks and framing decisions on what httparse made of `buf`.
    #[inline(always)]
    fn finish(
        &mut self,
        buf: &[u8],
        config: &Config,
        req: &httparse::Request<'_, '_>,
        parsed: httparse::Result<usize>,
    ) -> Result<Parsed, Fault> {
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return if buf.len() > config.max_header_bytes {
                    Err(overflow(buf, config))
                } else {
                    Ok(Parsed::Partial)
                }
            }
            Err(httparse::Error::TooManyHeaders) => return Err(Fault::HeadersTooLarge),
            Err(_) => return Err(Fault::BadRequest),
        };
        if len > config.max_header_bytes {
            return Err(overflow(buf, config));
        }
        let base = buf.as_ptr() as usize;
        let span = |s: &[u8]| -> Span {
            let start = s.as_ptr() as usize - base;
            (start as u32, (start + s.len()) as u32)
        };
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(Fault::BadRequest);
        };
        let (method, target) = (method.as_bytes(), target.as_bytes());
        if target.len() > config.max_target_bytes {
            return Err(Fault::UriTooLong);
        }
        self.len = len;
        self.method = span(method);
        self.target = span(target);
        self.minor = minor;
        self.is_head = method == b"HEAD";
        self.is_connect = method == b"CONNECT";
        // RFC 9110, section 9.3.6: a server that does not tunnel refuses CONNECT whatever
        // its target.
        if self.is_connect && !config.connect {
            return Err(Fault::NotImplemented);
        }
        let (form, path, authority) = classify_target(method, target)?;
        self.form = form;
        self.path = span(path);
        self.authority = authority.map(span);
        self.headers.clear();
        let mut length: Option<u64> = None;
        let mut codings = Codings::default();
        let (mut close, mut keep) = (false, false);
        let mut host: Option<&[u8]> = None;
        let mut hosts = 0u32;
        self.expect_continue = false;
        for h in req.headers.iter() {
            self.headers.push((span(h.name.as_bytes()), span(h.value)));
            let name = h.name.as_bytes();
            // Dispatch on the length first: most header names match none of these.
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    hosts += 1;
                    host = Some(h.value);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    if !trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                        return Err(Fault::Expectation);
                    }
                    self.expect_continue = minor == 1;
                }
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    for token in tokens(h.value) {
                        close |= token.eq_ignore_ascii_case(b"close");
                        keep |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    length = Some(content_length(h.value, length)?);
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => codings.add(h.value),
                _ => {}
            }
        }
        self.keep_alive = !close && (minor == 1 || keep);
        self.framing = match (codings.seen, length) {
            (true, Some(_)) => return Err(Fault::BadRequest),
            (true, None) if minor == 0 => return Err(Fault::BadRequest),
            (true, None) => codings.framing()?,
            (false, Some(0)) | (false, None) => Framing::Empty,
            (false, Some(n)) if n > config.max_body => return Err(Fault::TooLarge),
            (false, Some(n)) => Framing::Length(n),
        };
        // RFC 9112, section 3.2: Host is required in HTTP/1.1, at most once, and valid.
        match host {
            None if minor == 1 => return Err(Fault::BadRequest),
            None => {}
            Some(_) if hosts > 1 => return Err(Fault::BadRequest),
            Some(value) => {
                let value = trim(value);
                if !value.is_empty() && !valid_authority(value, false) {
                    return Err(Fault::BadRequest);
                }
                if self.authority.is_none() && !value.is_empty() {
                    self.authority = Some(span(value));
                }
            }
        }
        Ok(Parsed::Complete)
    }
}

/// Which limit a head over the head limit broke: a request line that does not fit, or a
/// target over the target limit, is 414; anything else 431.
pub(crate) fn overflow(buf: &[u8], config: &Config) -> Fault {
    let line = match buf.iter().position(|b| *b == b'\n') {
        Some(end) if end <= config.max_header_bytes => &buf[..end],
        _ => return Fault::UriTooLong,
    };
    let target = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    if target.len() > config.max_target_bytes {
        Fault::UriTooLong
    } else {
        Fault::HeadersTooLarge
    }
}

/// A target's form, its path-and-query part and its authority (if it has one).
type Target<'t> = (Form, &'t [u8], Option<&'t [u8]>);

/// The form of `target`, its path-and-query part and its authority (if it has one).
fn classify_target<'t>(method: &[u8], target: &'t [u8]) -> Result<Target<'t>, Fault> {
    let connect = method == b"CONNECT";
    match target.first() {
        Some(b'/') if !connect => return Ok((Form::Origin, target, None)),
        Some(b'*') if target.len() == 1 && method == b"OPTIONS" => {
            return Ok((Form::Asterisk, target, None))
        }
        _ => {}
    }
    if connect {
        // authority-form: uri-host ":" port, the port required.
        return if valid_authority(target, true) {
            Ok((Form::Authority, &target[target.len()..], Some(target)))
        } else {
            Err(Fault::BadRequest)
        };
    }
    // absolute-form: "http" or "https" "://" authority path-abempty [ "?" query ].
    let rest = if target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://") {
        &target[7..]
    } else if target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://") {
        &target[8..]
    } else {
        return Err(Fault::BadRequest);
    };
    let end = rest
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // RFC 9110, section 4.2.1: no empty host; 4.2.4: userinfo is an error (no '@' is
    // allowed by the authority check).
    if authority.is_empty() || authority[0] == b':' || !valid_authority(authority, false) {
        return Err(Fault::BadRequest);
    }
    if path.first() == Some(&b'#') {
        return Err(Fault::BadRequest);
    }
    Ok((Form::Absolute, path, Some(authority)))
}

/// Whether `v` is `uri-host [ ":" port ]` (RFC 3986, section 3.2.2): a reg-name
/// (unreserved, percent-encoded or sub-delim characters; an IPv4 address is one), or a
/// bracketed IPv6 or IPvFuture literal, then an optional port of digits (`need_port`: the
/// port must be there and not empty).
pub(crate) fn valid_authority(v: &[u8], need_port: bool) -> bool {
    // The common case in one pass: reg-name characters, then nothing or ":" and digits.
    let host_end = v.iter().position(|&b| !reg_char(b)).unwrap_or(v.len());
    if host_end > 0 {
        match v[host_end..] {
            [] => return !need_port,
            [b':', ref port @ ..] => {
                return port.iter().all(u8::is_ascii_digit) && !(need_port && port.is_empty())
            }
            // Percent-encoding: the general path below.
            [b'%', ..] => {}
            _ => return false,
        }
    }
    let (host_ok, rest) = if v.first() == Some(&b'[') {
        let Some(close) = v.iter().position(|b| *b == b']') else {
            return false;
        };
        (ip_literal(&v[1..close]), &v[close + 1..])
    } else {
        let end = v.iter().position(|b| *b == b':').unwrap_or(v.len());
        (!v[..end].is_empty() && reg_name(&v[..end]), &v[end..])
    };
    let port_ok = match rest {
        [] => !need_port,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit) && !(need_port && port.is_empty()),
        _ => false,
    };
    host_ok && port_ok
}

/// RFC 3986's `unreserved / sub-delims` characters, as a table (`Host` is checked on
/// every request).
const REG_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric();
        i += 1;
    }
    let extra = b"-._~!$&'()*+,;=";
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

/// Whether `b` is unreserved or a sub-delim.
fn reg_char(b: u8) -> bool {
    REG_CHARS[usize::from(b)]
}

/// Whether `s` is a reg-name: unreserved, sub-delims, and `%` followed by two hex digits.
fn reg_name(s: &[u8]) -> bool {
    if s.iter().all(|&b| reg_char(b)) {
        return true;
    }
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if s.len() > i + 2
                && s[i + 1].is_ascii_hexdigit()
                && s[i + 2].is_ascii_hexdigit() =>
            {
                i += 3;
            }
            b if reg_char(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// Whether `s` (between the brackets) is an IPv6 address or an IPvFuture.
fn ip_literal(s: &[u8]) -> bool {
    match s {
        [b'v' | b'V', rest @ ..] => match rest.iter().position(|b| *b == b'.') {
            Some(dot) => {
                dot > 0
                    && rest[..dot].iter().all(u8::is_ascii_hexdigit)
                    && rest.len() > dot + 1
                    && rest[dot + 1..].iter().all(|&b| reg_char(b) || b == b':')
            }
            None => false,
        },
        _ => std::str::from_utf8(s).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok()),
    }
}

/// What the `Transfer-Encoding` lines said, across all of them.
#[derive(Default)]
struct Codings {
    /// Whether any `Transfer-Encoding` line was present.
    seen: bool,
    /// Codings listed, `chunked` included.
    count: u32,
    /// How many of them were `chunked`.
    chunked: u32,
    /// Whether the last coding listed was `chunked`.
    last_chunked: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for token in tokens(value) {
            self.count += 1;
            self.last_chunked = token.eq_ignore_ascii_case(b"chunked");
            self.chunked += u32::from(self.last_chunked);
        }
    }

    fn framing(&self) -> Result<Framing, Fault> {
        match (self.count, self.chunked, self.last_chunked) {
            (1, 1, true) => Ok(Framing::Chunked),
            // An empty list, `chunked` twice, or `chunked` not last: the length is unknowable.
            (0, _, _) | (_, 2.., _) | (_, 1, false) => Err(Fault::BadRequest),
            _ => Err(Fault::NotImplemented),
        }
    }
}

/// Parses one `Content-Length` value (possibly a comma-separated list of one repeated
/// number), agreeing with the value seen so far.
fn content_length(value: &[u8], seen: Option<u64>) -> Result<u64, Fault> {
    let mut found = seen;
    let mut any = false;
    for part in value.split(|b| *b == b',') {
        let digits = trim(part);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Fault::BadRequest);
        }
        // Leading zeros are allowed (`1*DIGIT`); more than 19 significant digits is more
        // than any body could be.
        let first = digits
            .iter()
            .position(|d| *d != b'0')
            .unwrap_or(digits.len());
        let digits = &digits[first..];
        if digits.len() > 19 {
            return Err(Fault::BadRequest);
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(Fault::BadRequest);
        }
        found = Some(n);
        any = true;
    }
    match found {
        Some(n) if any => Ok(n),
        _ => Err(Fault::BadRequest),
    }
}

/// The non-empty comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// `s` without leading and trailing spaces and tabs.
fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = s.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(a), Some(b)) => &s[a..=b],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<(Parsed, Head), Fault> {
        parse_with(raw, &Config::default())
    }

    fn parse_with(raw: &str, config: &Config) -> Result<(Parsed, Head), Fault> {
        let mut head = Head::new();
        let p = head.parse(raw.as_bytes(), config)?;
        Ok((p, head))
    }

    fn framing(raw: &str) -> Result<Framing, Fault> {
        parse(raw).map(|(_, h)| h.framing)
    }

    fn slice(raw: &str, s: Span) -> &str {
        &raw[s.0 as usize..s.1 as usize]
    }

    #[test]
    fn parses_a_simple_get() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nGET /next";
        let (p, h) = parse(raw).unwrap();
        assert_eq!(p, Parsed::Complete);
        assert_eq!(h.len, raw.find("GET /next").unwrap());
        assert_eq!(slice(raw, h.method), "GET");
        assert_eq!(slice(raw, h.target), "/a?b=1");
        assert_eq!(h.minor, 1);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(slice(raw, h.headers[1].0), "Accept");
        assert_eq!(slice(raw, h.headers[1].1), "*/*");
        assert_eq!(h.framing, Framing::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn partial_heads_need_more_until_the_limit() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: x\r\nHost:").unwrap().0,
            Parsed::Partial
        );
        let config = Config {
            max_header_bytes: 32,
            ..Config::default()
        };
        let long = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "a".repeat(40));
        assert_eq!(
            parse_with(&long, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
        let complete = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(40));
        assert_eq!(
            parse_with(&complete, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
    }

    #[test]
    fn too_many_headers_is_431() {
        let config = Config {
            max_headers: 3,
            ..Config::default()
        };
        let raw = "GET / HTTP/1.1\r\nHost: x\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
        assert_eq!(
            parse_with(raw, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
    }

    #[test]
    fn many_headers_take_the_large_path_up_to_the_limit() {
        let lines = |n: usize| -> String { (0..n).map(|i| format!("X-{i}: v\r\n")).collect() };
        for n in [FEW_HEADERS - 1, FEW_HEADERS, FEW_HEADERS + 5, 99] {
            let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", lines(n));
            let (p, h) = parse(&raw).unwrap();
            assert_eq!((p, h.headers.len()), (Parsed::Complete, n + 1), "{n}");
            assert_eq!(slice(&raw, h.authority.unwrap()), "x");
        }
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", lines(100));
        assert_eq!(parse(&raw).unwrap_err(), Fault::HeadersTooLarge);
        // Partial heads with many lines need more, on either path.
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{}", lines(40));
        assert_eq!(parse(&raw).unwrap().0, Parsed::Partial);
    }

    #[test]
    fn malformed_heads_are_400() {
        for raw in [
            "GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err(), Fault::BadRequest, "{raw:?}");
        }
    }

    #[test]
    fn targets_are_utf8_or_refused() {
        let mut head = Head::new();
        let config = Config::default();
        let ok = "GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes();
        if let Ok(Parsed::Complete) = head.parse(ok, &config) {
            assert_eq!(
                &ok[head.target.0 as usize..head.target.1 as usize],
                "/café".as_bytes()
            );
        }
        let bad = b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(head.parse(bad, &config), Err(Fault::BadRequest));
    }

    #[test]
    fn content_length_rules() {
        let cl = |v: &str| {
            framing(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n"
            ))
        };
        assert_eq!(cl("5"), Ok(Framing::Length(5)));
        assert_eq!(cl("0"), Ok(Framing::Empty));
        assert_eq!(cl("5, 5"), Ok(Framing::Length(5)));
        for bad in [
            "-1",
            "+5",
            "5a",
            "",
            "5, 6",
            "0x10",
            "99999999999999999999",
            " , ",
        ] {
            assert_eq!(cl(bad), Err(Fault::BadRequest), "{bad:?}");
        }
        let two = |a: &str, b: &str| {
            framing(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {a}\r\nContent-Length: {b}\r\n\r\n"
            ))
        };
        assert_eq!(two("7", "7"), Ok(Framing::Length(7)));
        assert_eq!(two("7", "8"), Err(Fault::BadRequest));
        let big = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            2u64 << 40
        );
        assert_eq!(framing(&big), Err(Fault::TooLarge));
    }

    #[test]
    fn transfer_encoding_rules() {
        let te = |v: &str| {
            framing(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {v}\r\n\r\n"
            ))
        };
        assert_eq!(te("chunked"), Ok(Framing::Chunked));
        assert_eq!(te("Chunked"), Ok(Framing::Chunked));
        assert_eq!(te("gzip, chunked"), Err(Fault::NotImplemented));
        assert_eq!(te("gzip"), Err(Fault::NotImplemented));
        assert_eq!(te("chunked, gzip"), Err(Fault::BadRequest));
        assert_eq!(te("chunked, chunked"), Err(Fault::BadRequest));
        assert_eq!(te(""), Err(Fault::BadRequest));
        // Smuggling: both framings, or chunked on HTTP/1.0.
        assert_eq!(
            framing("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Fault::BadRequest)
        );
        assert_eq!(
            framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Fault::BadRequest)
        );
        assert_eq!(
            framing(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            Err(Fault::BadRequest)
        );
    }

    #[test]
    fn connection_and_expect() {
        let (_, h) = parse("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let (_, h) = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(h.keep_alive);
        let (_, h) = parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let (_, h) = parse(
            "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        )
        .unwrap();
        assert!(h.expect_continue);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n").unwrap_err(),
            Fault::Expectation
        );
    }

    #[test]
    fn leading_zeros_in_content_length() {
        let cl = |v: &str| {
            framing(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n"
            ))
        };
        assert_eq!(cl("00000000000000000005"), Ok(Framing::Length(5)));
        assert_eq!(cl("007, 7"), Ok(Framing::Length(7)));
        assert_eq!(cl("0000000000000000000000000"), Ok(Framing::Empty));
        assert_eq!(
            cl("00000000000000000000000099999999999999999999"),
            Err(Fault::BadRequest)
        );
    }

    #[test]
    fn host_rules() {
        let host = |h: &str| parse(&format!("GET / HTTP/1.1\r\n{h}\r\n"));
        for ok in [
            "Host: x\r\n",
            "Host: example.com:8080\r\n",
            "Host: [::1]:80\r\n",
            "Host: [v7.a:b]\r\n",
            "Host: 10.0.0.1\r\n",
            "Host: a%41b\r\n",
            "Host: x:\r\n",
            "Host:\r\n",
            "host:   x   \r\n",
        ] {
            assert!(host(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "X: y\r\n",
            "Host: x\r\nHost: x\r\n",
            "Host: a b\r\n",
            "Host: u@x\r\n",
            "Host: x:y\r\n",
            "Host: ::1\r\n",
            "Host: [::1\r\n",
            "Host: [::g]\r\n",
            "Host: x/y\r\n",
            "Host: %zz\r\n",
            "Host: :80\r\n",
            "Host : x\r\n",
            "Host: x\r\n y\r\n",
        ] {
            assert_eq!(host(bad).unwrap_err(), Fault::BadRequest, "{bad:?}");
        }
        // HTTP/1.0 may omit it, but not send two.
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n").is_err());
    }

    #[test]
    fn target_forms() {
        let raw = "GET hTTp://Example.com:81?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
        let (_, h) = parse(raw).unwrap();
        assert_eq!(h.form, Form::Absolute);
        assert_eq!(slice(raw, h.path), "?q=1");
        assert_eq!(slice(raw, h.authority.unwrap()), "Example.com:81");
        let raw = "GET / HTTP/1.1\r\nHost: h:1\r\n\r\n";
        let (_, h) = parse(raw).unwrap();
        assert_eq!(slice(raw, h.authority.unwrap()), "h:1");
        let (_, h) = parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(h.form, Form::Asterisk);
        let connect = Config {
            connect: true,
            ..Config::default()
        };
        let raw = "CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n";
        let (_, h) = parse_with(raw, &connect).unwrap();
        assert_eq!((h.form, h.is_connect), (Form::Authority, true));
        assert_eq!(slice(raw, h.authority.unwrap()), "a.b:443");
        assert_eq!(parse(raw).unwrap_err(), Fault::NotImplemented);
        for bad in [
            "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET x.y:80 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http:// HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET abc HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(parse(bad).unwrap_err(), Fault::BadRequest, "{bad:?}");
        }
        for bad in [
            "CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT a.b HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT a.b: HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT http://a.b:1/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(
                parse_with(bad, &connect).unwrap_err(),
                Fault::BadRequest,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn long_targets_are_414() {
        let config = Config {
            max_header_bytes: 1024,
            max_target_bytes: 100,
            ..Config::default()
        };
        let target = format!("/{}", "a".repeat(200));
        let complete = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            parse_with(&complete, &config).unwrap_err(),
            Fault::UriTooLong
        );
        let endless = format!("GET /{}", "a".repeat(2000));
        assert_eq!(
            parse_with(&endless, &config).unwrap_err(),
            Fault::UriTooLong
        );
        let big_headers = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(2000));
        assert_eq!(
            parse_with(&big_headers, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
    }

    #[test]
    fn trim_and_tokens() {
        assert_eq!(trim(b"  a b\t"), b"a b");
        assert_eq!(trim(b" \t "), b"");
        let t: Vec<&[u8]> = tokens(b" a, ,b ,").collect();
        assert_eq!(t, [&b"a"[..], &b"b"[..]]);
    }
}
