//! The chunked transfer coding's decoder (RFC 9112, section 7.1), as a pure state machine.
//!
//! The decoder never copies: [`ChunkedDecoder::step`] looks at the buffered input and says
//! what its first bytes are (body data to hand out, framing to skip, the end of the body), or
//! that it needs more input. The body reader owns the buffer and the copying. A chunk size
//! line must start with a hex digit and end in CRLF (extensions are skipped), the data must
//! be followed by CRLF, and trailer lines are validated like header lines (RFC 9112, section
//! 7.1.2: a token name, a colon right after it, a value without control bytes; no obs-fold)
//! and dropped: a bad one is 400 (the class of gevent's CVE-2023-41419). The decoded size
//! counts against the body limit as each chunk size arrives, before its data is read.
//!
//! The limits on a chunk size line and on the trailer section are their own, independent
//! of the request head's size ([`Limits`]): a chunk size line over its limit is 400, a
//! trailer section over its limit (in bytes or fields) is 431.

use super::head::Fault;

/// The chunked decoder's own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Longest chunk size line, extensions and CRLF included.
    pub(crate) line: usize,
    /// Largest trailer section in bytes, the final CRLF excluded.
    pub(crate) trailer_bytes: usize,
    /// Most trailer fields.
    pub(crate) trailer_fields: usize,
}

#[cfg(test)]
impl Default for Limits {
    fn default() -> Limits {
        Limits {
            line: 4096,
            trailer_bytes: 8192,
            trailer_fields: 100,
        }
    }
}

/// Whether `line` (CRLF excluded) is a valid field line: `token ":" value`, nothing between
/// the name and the colon (the control bytes were refused by [`valid_line`]).
fn valid_field(line: &[u8]) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    match line.iter().position(|b| *b == b':') {
        Some(colon) => colon > 0 && line[..colon].iter().all(|&b| token(b)),
        None => false,
    }
}

/// Whether `line` ends in CRLF and holds no other CR, LF or control byte (tabs allowed).
fn valid_line(line: &[u8]) -> bool {
    match line {
        [rest @ .., b'\r', b'\n'] => rest.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
        _ => false,
    }
}

/// Where the decoder is in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a chunk size line.
    Size,
    /// Inside a chunk's data; the bytes left in it.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes and fields of trailer
    /// so far.
    Trailer(usize, usize),
    /// The body has ended.
    Done,
}

/// What the first bytes of the input are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The first `n` bytes (n > 0) are body data; report what was taken with
    /// [`ChunkedDecoder::consumed`].
    Data(usize),
    /// The first `n` bytes are framing, already accounted for: skip them.
    Skip(usize),
    /// The body ended after the first `n` bytes (framing); what follows is the next request.
    Done(usize),
    /// The input holds no complete piece of framing: read more.
    NeedMore,
}

/// Decodes one chunked body.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedDecoder {
    /// Where it is; advanced by `step` and `consumed`.
    state: State,
    /// Body bytes announced so far (checked against the limit).
    total: u64,
    /// The limits on framing lines and trailers.
    limits: Limits,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub(crate) fn new(limits: Limits) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            total: 0,
            limits,
        }
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Classifies the start of `input`; the body may hold at most `max_body` bytes.
    pub(crate) fn step(&mut self, input: &[u8], max_body: u64) -> Result<Step, Fault> {
        match self.state {
            State::Size => {
                if input.is_empty() {
                    return Ok(Step::NeedMore);
                }
                // httparse reads an empty size as 0; an empty size is malformed.
                if !input[0].is_ascii_hexdigit() {
                    return Err(Fault::BadRequest);
                }
                let parsed = httparse::parse_chunk_size(input);
                if let Ok(httparse::Status::Complete((n, _))) = parsed {
                    if n > self.limits.line {
                        return Err(Fault::BadRequest);
                    }
                    // httparse lets any byte through inside an extension, bare LF included;
                    // a proxy that ends the line there would frame the body differently
                    // (request smuggling). Only CRLF may end the line, and no other control
                    // byte may appear in it.
                    if !valid_line(&input[..n]) {
                        return Err(Fault::BadRequest);
                    }
                }
                match parsed {
                    Ok(httparse::Status::Complete((n, 0))) => {
                        self.state = State::Trailer(0, 0);
                        Ok(Step::Skip(n))
                    }
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.total = self.total.saturating_add(size);
                        if self.total > max_body {
                            return Err(Fault::TooLarge);
                        }
                        self.state = State::Data(size);
                        Ok(Step::Skip(n))
                    }
                    Ok(httparse::Status::Partial) if input.len() < self.limits.line => {
                        Ok(Step::NeedMore)
                    }
                    Ok(httparse::Status::Partial) | Err(_) => Err(Fault::BadRequest),
                }
            }
            State::Data(left) => {
                if input.is_empty() {
                    Ok(Step::NeedMore)
                } else {
                    Ok(Step::Data(left.min(input.len() as u64) as usize))
                }
            }
            State::DataEnd => match input {
                [b'\r', b'\n', ..] => {
                    self.state = State::Size;
                    Ok(Step::Skip(2))
                }
                [] | [b'\r'] => Ok(Step::NeedMore),
                _ => Err(Fault::BadRequest),
            },
            State::Trailer(seen, fields) => match input.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    // Trailer lines end in CRLF too (a bare LF would end them differently
                    // for a proxy in front).
                    if !valid_line(&input[..=i]) {
                        return Err(Fault::BadRequest);
                    }
                    let line = &input[..i - 1];
                    if line.is_empty() {
                        self.state = State::Done;
                        return Ok(Step::Done(i + 1));
                    }
                    if seen + i + 1 > self.limits.trailer_bytes
                        || fields >= self.limits.trailer_fields
                    {
                        return Err(Fault::HeadersTooLarge);
                    }
                    if !valid_field(line) {
                        return Err(Fault::BadRequest);
                    }
                    self.state = State::Trailer(seen + i + 1, fields + 1);
                    Ok(Step::Skip(i + 1))
                }
                None if seen + input.len() > self.limits.trailer_bytes => {
                    Err(Fault::HeadersTooLarge)
                }
                None => Ok(Step::NeedMore),
            },
            State::Done => Ok(Step::Done(0)),
        }
    }

    /// Records that `n` data bytes of the last [`Step::Data`] were taken.
    pub(crate) fn consumed(&mut self, n: usize) {
        if let State::Data(left) = self.state {
            debug_assert!(n as u64 <= left);
            let left = left - n as u64;
            self.state = if left == 0 {
                State::DataEnd
            } else {
                State::Data(left)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes; returns the body and the bytes left
    /// after it.
    fn decode(input: &[u8], piece: usize, max: u64) -> Result<(Vec<u8>, Vec<u8>), Fault> {
        let mut d = ChunkedDecoder::new(Limits::default());
        let mut body = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            match d.step(&buf, max)? {
                Step::Data(n) => {
                    body.extend_from_slice(&buf[..n]);
                    d.consumed(n);
                    buf.drain(..n);
                }
                Step::Skip(n) => {
                    buf.drain(..n);
                }
                Step::Done(n) => {
                    buf.drain(..n);
                    buf.extend_from_slice(&input[fed..]);
                    return Ok((body, buf));
                }
                Step::NeedMore => {
                    assert!(fed < input.len(), "ran out of input");
                    let end = (fed + piece).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_whole_and_byte_by_byte() {
        let input = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\nGET /";
        for piece in [1, 2, 3, 7, input.len()] {
            let (body, rest) = decode(input, piece, 1 << 20).unwrap();
            assert_eq!(body, b"hello, world", "piece {piece}");
            assert_eq!(rest, b"GET /", "piece {piece}");
        }
    }

    #[test]
    fn skips_trailers_and_accepts_upper_hex() {
        let input = b"A\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
        let (body, rest) = decode(input, 4, 100).unwrap();
        assert_eq!(body, b"0123456789");
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_malformed_framing() {
        for bad in [
            &b"\r\nhello\r\n0\r\n\r\n"[..],
            b"x\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            // Bare LF or control bytes in a size line's extension (smuggling).
            b"2;\nxx\r\nhi\r\n0\r\n\r\n",
            b"2;a\x00b\r\nhi\r\n0\r\n\r\n",
            b"2;a\rb\r\nhi\r\n0\r\n\r\n",
            // Trailer section or trailer lines ended by a bare LF.
            b"0\r\n\n",
            b"0\r\nX: y\n\r\n",
        ] {
            assert_eq!(decode(bad, 3, u64::MAX), Err(Fault::BadRequest), "{bad:?}");
        }
        let endless = [b'1'; 4096 + 10];
        assert_eq!(
            decode(&[&b"1;"[..], &endless].concat(), 64, 1 << 20),
            Err(Fault::BadRequest)
        );
    }

    #[test]
    fn enforces_the_body_limit_per_chunk_size() {
        assert_eq!(
            decode(b"4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", 5, 8)
                .unwrap()
                .0,
            b"abcdefgh"
        );
        assert_eq!(
            decode(b"4\r\nabcd\r\n5\r\nefghi\r\n0\r\n\r\n", 5, 8),
            Err(Fault::TooLarge)
        );
    }
}
