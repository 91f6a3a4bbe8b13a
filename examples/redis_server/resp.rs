//! RESP2, the Redis wire protocol: a resumable request parser (multibulk and inline
//! commands) and the reply encoders.
//!
//! Requests (<https://redis.io/docs/reference/protocol-spec/>):
//!
//! - **Multibulk**: `*<n>\r\n` then `n` bulk strings `$<len>\r\n<bytes>\r\n`. A count of zero
//!   or less is an empty command that is skipped.
//! - **Inline**: one line of space-separated words ended by `\n` (an optional `\r` before it
//!   is dropped), with `"..."` (C-style escapes) and `'...'` quoting, as redis-server's
//!   `sdssplitargs` reads it. An empty line is skipped.
//!
//! Limits and their error replies are redis-server 7's (`networking.c`): a count line or an
//! inline line still unterminated after 64 KiB, a count that is not a number or out of range,
//! a bulk longer than `proto-max-bulk-len`. Every one is fatal: the server answers
//! `-ERR Protocol error: ...` and closes the connection.
//!
//! The parser never copies a multibulk argument: a command is a list of spans into the read
//! buffer. Parsing resumes where it stopped when a command arrives in pieces, so a large
//! command costs one pass however it is split.

use std::ops::Range;

/// The longest unterminated inline line or count line (redis-server's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;

/// The most arguments a multibulk command may announce (redis-server's `INT_MAX` bound).
const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// Where the current command's arguments live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Spans into the buffer passed to [`Parser::next`] (multibulk).
    Input,
    /// Spans into the parser's own scratch buffer (inline, after unquoting).
    Scratch,
}

/// A multibulk command being read: how far parsing got, relative to the command's start.
#[derive(Clone, Copy)]
struct Partial {
    /// Offset of the next unparsed byte.
    pos: usize,
    /// Arguments still to read.
    left: usize,
}

/// A resumable RESP2 request parser. Feed it the unconsumed input each time more arrives; it
/// remembers how far the command at the front was parsed.
pub struct Parser {
    /// The largest bulk string accepted (`proto-max-bulk-len`), in bytes.
    max_bulk: usize,
    /// The current command's arguments, relative to the command's start (or to `scratch`).
    spans: Vec<Range<usize>>,
    /// Where `spans` point; set by `next`.
    source: Source,
    /// Unquoted inline arguments; rewritten for every inline command.
    scratch: Vec<u8>,
    /// A multibulk command parsed part-way; `None` between commands.
    partial: Option<Partial>,
    /// The input length, from the command's start, below which parsing cannot progress.
    need: usize,
}

/// A parsed command's arguments, borrowed from the parser and the input.
pub struct Args<'a> {
    /// The bytes the spans index.
    base: &'a [u8],
    /// One span per argument.
    spans: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Argument `i` (0 is the command name). Panics if out of range, like slice indexing.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.base[self.spans[i].clone()]
    }

    /// Arguments `from..` as an iterator.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.spans[from..].iter().map(move |r| &base[r.clone()])
    }
}

/// What [`Parser::next`] found at the front of the input.
pub enum Parsed {
    /// A command of `len` input bytes; read it with [`Parser::args`]. It may have no arguments
    /// (`*0`, an empty line): skip it.
    Command(usize),
    /// The command at the front is not complete; call again with more input.
    Incomplete,
}

impl Parser {
    /// A parser accepting bulk strings of at most `max_bulk` bytes.
    pub fn new(max_bulk: usize) -> Parser {
        Parser {
            max_bulk,
            spans: Vec::with_capacity(8),
            source: Source::Input,
            scratch: Vec::new(),
            partial: None,
            need: 0,
        }
    }

    /// How many input bytes, from the front command's start, parsing needs before it can make
    /// progress: the read buffer must be able to hold at least this much.
    pub fn need(&self) -> usize {
        self.need
    }

    /// Parses the command at the front of `input` (which starts where the previous command
    /// ended, and grows between `Incomplete` calls).
    ///
    /// # Errors
    ///
    /// The protocol error message (without `ERR `) for input no Redis command can start with.
    pub fn next(&mut self, input: &[u8]) -> Result<Parsed, String> {
        if input.len() < self.need {
            return Ok(Parsed::Incomplete);
        }
        if self.partial.is_none() {
            match input.first() {
                None => return Ok(Parsed::Incomplete),
                Some(b'*') => {}
                Some(_) => return self.inline(input),
            }
        }
        self.multibulk(input)
    }

    /// The arguments of the command `next` just returned; `input` is the same slice.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        let base = match self.source {
            Source::Input => input,
            Source::Scratch => &self.scratch,
        };
        Args {
            base,
            spans: &self.spans,
        }
    }

    fn multibulk(&mut self, input: &[u8]) -> Result<Parsed, String> {
        self.source = Source::Input;
        let mut st = match self.partial {
            Some(p) => p,
            None => {
                let Some((n, end)) = count_line(input, 1, "too big mbulk count string")? else {
                    self.need = input.len() + 1;
                    return Ok(Parsed::Incomplete);
                };
                let n = n.ok_or("invalid multibulk length")?;
                if n > MULTIBULK_MAX {
                    return Err("invalid multibulk length".into());
                }
                self.spans.clear();
                if n <= 0 {
                    self.need = 0;
                    return Ok(Parsed::Command(end));
                }
                Partial {
                    pos: end,
                    left: n as usize,
                }
            }
        };
        while st.left > 0 {
            let rest = &input[st.pos..];
            match rest.first() {
                None => return self.suspend(st, st.pos + 1),
                Some(b'$') => {}
                Some(&c) => return Err(expected_dollar(c)),
            }
            let Some((len, end)) = count_line(rest, 1, "too big bulk count string")? else {
                return self.suspend(st, input.len() + 1);
            };
            let len = match len {
                Some(l) if l >= 0 && l as u64 <= self.max_bulk as u64 => l as usize,
                _ => return Err("invalid bulk length".into()),
            };
            let start = st.pos + end;
            // redis-server skips the two bytes after a bulk without checking them.
            let after = start + len + 2;
            if input.len() < after {
                return self.suspend(st, after);
            }
            self.spans.push(start..start + len);
            st = Partial {
                pos: after,
                left: st.left - 1,
            };
        }
        self.partial = None;
        self.need = 0;
        Ok(Parsed::Command(st.pos))
    }

    fn suspend(&mut self, st: Partial, need: usize) -> Result<Parsed, String> {
        self.partial = Some(st);
        self.need = need;
        Ok(Parsed::Incomplete)
    }

    fn inline(&mut self, input: &[u8]) -> Result<Parsed, String> {
        let Some(nl) = memchr(b'\n', input) else {
            if input.len() > INLINE_MAX {
                return Err("too big inline request".into());
            }
            self.need = input.len() + 1;
            return Ok(Parsed::Incomplete);
        };
        self.need = 0;
        let mut line = &input[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.source = Source::Scratch;
        self.spans.clear();
        self.scratch.clear();
        split_args(line, &mut self.scratch, &mut self.spans).map_err(String::from)?;
        Ok(Parsed::Command(nl + 1))
    }
}

/// Reads `<prefix><number>\r\n` at the front of `buf` (the prefix byte already checked).
/// `Ok(None)`: the line is not complete yet. `Ok(Some((None, _)))`: not a number.
/// Returns the number and the offset after the line.
#[allow(clippy::type_complexity)]
fn count_line(
    buf: &[u8],
    skip: usize,
    too_big: &'static str,
) -> Result<Option<(Option<i64>, usize)>, &'static str> {
    let Some(cr) = memchr(b'\r', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(too_big);
        }
        return Ok(None);
    };
    // redis-server also needs the '\n' in the buffer before it parses the line.
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    Ok(Some((parse_i64(&buf[skip..cr]), cr + 2)))
}

fn expected_dollar(c: u8) -> String {
    format!("expected '$', got '{}'", c as char)
}

/// Splits an inline line into arguments the way redis-server's `sdssplitargs` does: blanks
/// separate words; `"..."` takes `\n \r \t \b \a \\ \"` and `\xHH` escapes; `'...'` takes
/// `\'`; a closing quote must be followed by a blank or the end of the line.
fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    spans: &mut Vec<Range<usize>>,
) -> Result<(), &'static str> {
    const UNBALANCED: &str = "unbalanced quotes in request";
    let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' | 0);
    let mut i = 0;
    loop {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let Some(&c) = line.get(i) else {
                    return Err(UNBALANCED);
                };
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        out.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    out.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    if i + 1 < line.len() && !blank(line[i + 1]) {
                        return Err(UNBALANCED);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                    i += 1;
                }
            } else if in_sq {
                let Some(&c) = line.get(i) else {
                    return Err(UNBALANCED);
                };
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    out.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if i + 1 < line.len() && !blank(line[i + 1]) {
                        return Err(UNBALANCED);
                    }
                    i += 1;
                    break;
                } else {
                    out.push(c);
                    i += 1;
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(&c) if blank(c) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => out.push(c),
                }
                i += 1;
            }
        }
        spans.push(start..out.len());
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The first `needle` in `hay`.
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == needle)
}

/// Parses a decimal integer the way redis-server's `string2ll` does: an optional `-`, no
/// `+`, no leading zeros, no blanks, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// Parses a float the way redis-server's `string2ld`/`strtod` accept scores and timeouts:
/// decimal or exponent notation and `inf`/`+inf`/`-inf`; never NaN, never blanks.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Formats a double as redis-server 7.0 does in RESP2 replies (`%.17g`; `inf`, `-inf`).
pub fn format_f64(v: f64, out: &mut Vec<u8>) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // %.17g: 17 significant digits; scientific when the exponent is < -4 or >= 17; trailing
    // zeros (and a trailing '.') removed.
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is a number");
    if !(-4..17).contains(&exp) {
        let m = strip_zeros(mantissa);
        out.extend_from_slice(m.as_bytes());
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(e.to_string().as_bytes());
    } else {
        let decimals = (16 - exp).max(0) as usize;
        let fixed = format!("{v:.decimals$}");
        out.extend_from_slice(strip_zeros(&fixed).as_bytes());
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Appends `v` in decimal.
pub fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

fn header(out: &mut Vec<u8>, tag: u8, n: i64) {
    out.push(tag);
    push_int(out, n);
    out.extend_from_slice(b"\r\n");
}

/// `+OK`.
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// A simple string `+s`.
pub fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An error reply `-msg`; `msg` carries its own prefix (`ERR`, `WRONGTYPE`). Line breaks in it
/// become spaces, as redis-server does, so an echoed argument cannot break the framing.
pub fn error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    out.extend(
        msg.bytes()
            .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

/// An integer reply `:n`.
pub fn int(out: &mut Vec<u8>, n: i64) {
    header(out, b':', n);
}

/// A bulk string reply.
pub fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    header(out, b'$', s.len() as i64);
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// A double as a bulk string (RESP2).
pub fn bulk_f64(out: &mut Vec<u8>, v: f64) {
    let mut s = Vec::with_capacity(24);
    format_f64(v, &mut s);
    bulk(out, &s);
}

/// The null bulk string `$-1`.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// The null array `*-1`.
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// An array header for `n` elements that follow.
pub fn array(out: &mut Vec<u8>, n: usize) {
    header(out, b'*', n as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut Parser, input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, String> {
        let mut cmds = Vec::new();
        let mut pos = 0;
        while let Parsed::Command(n) = p.next(&input[pos..])? {
            let a = p.args(&input[pos..]);
            cmds.push(a.iter_from(0).map(<[u8]>::to_vec).collect());
            pos += n;
        }
        Ok(cmds)
    }

    #[test]
    fn multibulk_in_pieces() {
        let req = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
        for split in 0..req.len() {
            let mut p = Parser::new(1 << 20);
            assert!(all(&mut p, &req[..split]).unwrap().len() < 2);
            let mut p = Parser::new(1 << 20);
            let _ = p.next(&req[..split]);
            let got = all(&mut p, req).unwrap();
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0], vec![b"GET".to_vec(), b"hello".to_vec()]);
        }
    }

    #[test]
    fn inline_quotes() {
        let mut p = Parser::new(1 << 20);
        let got = all(&mut p, b"set \"a b\\x41\" 'c\\'d'\r\n").unwrap();
        assert_eq!(
            got,
            vec![vec![b"set".to_vec(), b"a bA".to_vec(), b"c'd".to_vec()]]
        );
        assert_eq!(
            all(&mut Parser::new(9), b"set \"a\r\n"),
            Err("unbalanced quotes in request".to_string())
        );
    }

    #[test]
    fn doubles_like_redis() {
        let f = |v: f64| {
            let mut o = Vec::new();
            format_f64(v, &mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(2.0), "2");
        assert_eq!(f(0.1), "0.10000000000000001");
        assert_eq!(f(1e300), "1.0000000000000001e+300");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(1e-5), "1.0000000000000001e-05");
        assert_eq!(f(123456.0), "123456");
    }

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"012"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }
}
