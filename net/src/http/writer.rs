//! [`BodyWriter`]: the `Write` a streamed response body goes through, and the connection's
//! one way of sending bytes ([`send`]: the pending output and any extra parts in as few
//! gather writes as the socket allows, normally one).

use std::fmt;
use std::io::{self, IoSlice, Write};

use crate::conn_stream::ConnStream;

/// Writes a streamed response body (see `Response::stream`): each `write` is sent at once,
/// as one chunk for HTTP/1.1 or as raw bytes for HTTP/1.0. `flush` does nothing more.
pub struct BodyWriter<'a> {
    /// The connection.
    stream: &'a ConnStream,
    /// The connection's output buffer: the response head (and earlier pipelined responses)
    /// go out with the first write.
    wbuf: &'a mut Vec<u8>,
    /// Whether writes are framed as chunks (HTTP/1.1).
    chunked: bool,
    /// Body bytes written so far.
    written: u64,
}

impl<'a> BodyWriter<'a> {
    pub(crate) fn new(stream: &'a ConnStream, wbuf: &'a mut Vec<u8>, chunked: bool) -> Self {
        BodyWriter {
            stream,
            wbuf,
            chunked,
            written: 0,
        }
    }

    /// Body bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends the end of the body (the last chunk) to the output buffer; it goes out with
    /// the connection's next batch.
    pub(crate) fn finish(self) {
        if self.chunked {
            self.wbuf.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.chunked {
            let mut size = [0u8; 18];
            let n = hex(&mut size, buf.len());
            self.wbuf.extend_from_slice(&size[..n]);
            send(self.stream, self.wbuf, &[buf, b"\r\n"])?;
        } else {
            send(self.stream, self.wbuf, &[buf])?;
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for BodyWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("chunked", &self.chunked)
            .field("written", &self.written)
            .finish()
    }
}

/// Writes `n` as a chunk size line (`1a2\r\n`) into `out`; returns its length.
fn hex(out: &mut [u8; 18], mut n: usize) -> usize {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    out[len..len + 2].copy_from_slice(b"\r\n");
    len + 2
}

/// Sends `wbuf` followed by `extra` (at most three parts), then clears `wbuf`. One write
/// (a gather write when there are several parts) unless the socket takes less; parks the
/// greenlet while the socket's buffer is full.
pub(crate) fn send(mut stream: &ConnStream, wbuf: &mut Vec<u8>, extra: &[&[u8]]) -> io::Result<()> {
    let mut parts: [&[u8]; 4] = [&[]; 4];
    parts[0] = wbuf;
    parts[1..=extra.len()].copy_from_slice(extra);
    let mut first = 0;
    loop {
        while first < parts.len() && parts[first].is_empty() {
            first += 1;
        }
        let live = match parts[first..].iter().rposition(|p| !p.is_empty()) {
            Some(last) => &parts[first..=first + last],
            None => break,
        };
        let n = if live.len() == 1 {
            stream.write(live[0])?
        } else {
            let slices: [IoSlice<'_>; 4] =
                std::array::from_fn(|i| IoSlice::new(live.get(i).copied().unwrap_or_default()));
            stream.write_vectored(&slices[..live.len()])?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut left = n;
        while left > 0 {
            let k = left.min(parts[first].len());
            parts[first] = &parts[first][k..];
            left -= k;
            if parts[first].is_empty() {
                first += 1;
            }
        }
    }
    wbuf.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines() {
        let mut out = [0u8; 18];
        for (n, s) in [(1usize, "1\r\n"), (26, "1a\r\n"), (4096, "1000\r\n")] {
            let len = hex(&mut out, n);
            assert_eq!(&out[..len], s.as_bytes());
        }
    }
}
