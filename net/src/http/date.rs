//! The `Date` header, formatted at most once per second per thread.
//!
//! Every response carries `Date` (RFC 9110, section 6.6.1) in the IMF-fixdate form
//! `Sun, 06 Nov 1994 08:49:37 GMT`. The clock read is the coarse one (the kernel's last
//! tick, from the vDSO: no syscall and no hardware clock read, which costs about 100 ns on
//! this project's VMs and showed as 7% of a pipelined server's profile); formatting is done
//! only when the second changes, and the 29 bytes are copied otherwise.

use std::cell::Cell;

use crate::sys;

/// Length of an IMF-fixdate.
pub(crate) const DATE_LEN: usize = 29;

/// `HTTP/1.1 200 OK\r\nDate: ` before the date.
const OK_START: &[u8] = b"HTTP/1.1 200 OK\r\nDate: ";

/// Length of the start of a `200 OK` head up to the end of its `Date` line.
pub(crate) const OK_HEAD_LEN: usize = OK_START.len() + DATE_LEN + 2;

/// One thread's formatted date.
struct Cached {
    /// The second `text` was formatted for (seconds since the Unix epoch).
    secs: Cell<u64>,
    /// `HTTP/1.1 200 OK\r\nDate: <date>\r\n`: the most common head start, copied in one
    /// piece; the date alone is at `OK_START.len()..`.
    ok_head: Cell<[u8; OK_HEAD_LEN]>,
}

thread_local! {
    /// This thread's cache; `secs` 0 means "never formatted".
    static CACHE: Cached = const {
        Cached {
            secs: Cell::new(0),
            ok_head: Cell::new([0; OK_HEAD_LEN]),
        }
    };
}

/// `HTTP/1.1 200 OK\r\nDate: <now>\r\n`, the date reformatted only when the second has
/// changed.
pub(crate) fn ok_head() -> [u8; OK_HEAD_LEN] {
    let secs = sys::coarse_unix_secs();
    CACHE.with(|c| {
        if c.secs.get() != secs {
            let mut head = [0u8; OK_HEAD_LEN];
            head[..OK_START.len()].copy_from_slice(OK_START);
            head[OK_START.len()..OK_START.len() + DATE_LEN].copy_from_slice(&format(secs));
            head[OK_HEAD_LEN - 2..].copy_from_slice(b"\r\n");
            c.ok_head.set(head);
            c.secs.set(secs);
        }
        c.ok_head.get()
    })
}

/// The current date as an IMF-fixdate, reformatted only when the second has changed.
pub(crate) fn now() -> [u8; DATE_LEN] {
    let head = ok_head();
    let mut date = [0u8; DATE_LEN];
    date.copy_from_slice(&head[OK_START.len()..OK_START.len() + DATE_LEN]);
    date
}

/// Formats `secs` since the Unix epoch as an IMF-fixdate.
pub(crate) fn format(secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two_digits(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    two_digits(&mut out[12..14], year / 100);
    two_digits(&mut out[14..16], year % 100);
    two_digits(&mut out[17..19], rem / 3600);
    two_digits(&mut out[20..22], rem / 60 % 60);
    two_digits(&mut out[23..25], rem % 60);
    out
}

fn two_digits(dst: &mut [u8], n: u64) {
    dst[0] = b'0' + (n / 10 % 10) as u8;
    dst[1] = b'0' + (n % 10) as u8;
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative counts).
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(secs: u64) -> String {
        String::from_utf8(format(secs).to_vec()).unwrap()
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(text(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // RFC 9110's example.
        assert_eq!(text(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(text(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(text(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(text(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
    }

    #[test]
    fn now_is_cached_within_a_second() {
        let a = now();
        let b = now();
        // Equal unless the second turned between the calls.
        assert!(a == b || a[23..25] != b[23..25]);
        assert_eq!(&a[25..], b" GMT");
        let precise = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(precise.abs_diff(sys::coarse_unix_secs()) <= 1);
        let head = ok_head();
        assert!(head.starts_with(b"HTTP/1.1 200 OK\r\nDate: "));
        assert!(head.ends_with(b" GMT\r\n"));
    }
}
