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
//! - Head larger than the limit: 431; more header lines than the limit: 431.

use std::mem::MaybeUninit;

use super::server::Config;

/// The most header lines a parse can hold, whatever the configured limit.
pub(crate) const MAX_HEADERS_CEILING: usize = 128;

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
    /// A transfer coding other than `chunked`: 501.
    NotImplemented,
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
    /// The request target (path and query).
    pub(crate) target: Span,
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
            minor: 1,
            headers: Vec::with_capacity(16),
            framing: Framing::Empty,
            keep_alive: true,
            expect_continue: false,
        }
    }

    /// Parses a head from the start of `buf` under `config`'s limits.
    pub(crate) fn parse(&mut self, buf: &[u8], config: &Config) -> Result<Parsed, Fault> {
        let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS_CEILING];
        let slots = &mut slots[..config.max_headers.min(MAX_HEADERS_CEILING)];
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return if buf.len() > config.max_header_bytes {
                    Err(Fault::HeadersTooLarge)
                } else {
                    Ok(Parsed::Partial)
                }
            }
            Err(httparse::Error::TooManyHeaders) => return Err(Fault::HeadersTooLarge),
            Err(_) => return Err(Fault::BadRequest),
        };
        if len > config.max_header_bytes {
            return Err(Fault::HeadersTooLarge);
        }
        let base = buf.as_ptr() as usize;
        let span = |s: &[u8]| -> Span {
            let start = s.as_ptr() as usize - base;
            (start as u32, (start + s.len()) as u32)
        };
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(Fault::BadRequest);
        };
        self.len = len;
        self.method = span(method.as_bytes());
        self.target = span(target.as_bytes());
        self.minor = minor;
        self.headers.clear();
        let mut length: Option<u64> = None;
        let mut codings = Codings::default();
        let (mut close, mut keep) = (false, false);
        self.expect_continue = false;
        for h in req.headers.iter() {
            self.headers.push((span(h.name.as_bytes()), span(h.value)));
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(content_length(h.value, length)?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                codings.add(h.value);
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in tokens(h.value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"expect") {
                if !trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                    return Err(Fault::Expectation);
                }
                self.expect_continue = minor == 1;
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
        Ok(Parsed::Complete)
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
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
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
        assert_eq!(parse("GET / HTTP/1.1\r\nHost:").unwrap().0, Parsed::Partial);
        let config = Config {
            max_header_bytes: 32,
            ..Config::default()
        };
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(40));
        assert_eq!(
            parse_with(&long, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
        let complete = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(40));
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
        let raw = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
        assert_eq!(
            parse_with(raw, &config).unwrap_err(),
            Fault::HeadersTooLarge
        );
    }

    #[test]
    fn malformed_heads_are_400() {
        for raw in [
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err(), Fault::BadRequest, "{raw:?}");
        }
    }

    #[test]
    fn targets_are_utf8_or_refused() {
        let mut head = Head::new();
        let config = Config::default();
        let ok = "GET /caf\u{e9} HTTP/1.1\r\n\r\n".as_bytes();
        if let Ok(Parsed::Complete) = head.parse(ok, &config) {
            assert_eq!(
                &ok[head.target.0 as usize..head.target.1 as usize],
                "/café".as_bytes()
            );
        }
        let bad = b"GET /caf\xe9 HTTP/1.1\r\n\r\n";
        assert_eq!(head.parse(bad, &config), Err(Fault::BadRequest));
    }

    #[test]
    fn content_length_rules() {
        let cl = |v: &str| framing(&format!("POST / HTTP/1.1\r\nContent-Length: {v}\r\n\r\n"));
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
                "POST / HTTP/1.1\r\nContent-Length: {a}\r\nContent-Length: {b}\r\n\r\n"
            ))
        };
        assert_eq!(two("7", "7"), Ok(Framing::Length(7)));
        assert_eq!(two("7", "8"), Err(Fault::BadRequest));
        let big = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", 2u64 << 40);
        assert_eq!(framing(&big), Err(Fault::TooLarge));
    }

    #[test]
    fn transfer_encoding_rules() {
        let te = |v: &str| {
            framing(&format!(
                "POST / HTTP/1.1\r\nTransfer-Encoding: {v}\r\n\r\n"
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
            framing("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Fault::BadRequest)
        );
        assert_eq!(
            framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Fault::BadRequest)
        );
        assert_eq!(
            framing(
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
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
        let (_, h) = parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let (_, h) =
            parse("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").unwrap();
        assert!(h.expect_continue);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nExpect: something\r\n\r\n").unwrap_err(),
            Fault::Expectation
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
