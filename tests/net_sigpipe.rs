//! Writing to a connection the peer closed fails with an error and never raises SIGPIPE,
//! even with SIGPIPE's default action (kill the process) restored. Alone in its binary,
//! because the signal disposition is process-wide.

mod support;

use std::io::{self, Write};
use std::net::Shutdown;
use std::time::Duration;

use sprout::net::UnixStream;

fn restore_default_sigpipe() {
    // SAFETY: setting a standard disposition for SIGPIPE; no handler code is involved.
    let prev = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(prev, libc::SIG_ERR);
}

#[test]
fn writes_to_a_closed_peer_fail_instead_of_killing_the_process() {
    restore_default_sigpipe();

    let (mut client, server) = support::tcp_pair();
    drop(server);
    sprout::sleep(Duration::from_millis(20));
    let mut err = None;
    for _ in 0..100 {
        if let Err(e) = client.write_all(&[0u8; 1024]) {
            err = Some(e);
            break;
        }
        sprout::sleep(Duration::from_millis(1));
    }
    let err = err.expect("a write to a closed peer fails");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    // A second write after EPIPE: still an error, still alive.
    assert!(client.write_all(b"again").is_err());

    // Unix streams: EPIPE at once, vectored too.
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let err = (&a).write(b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let err = (&a).write_vectored(&[io::IoSlice::new(b"x")]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    let (a, _b) = UnixStream::pair().unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        (&a).write(b"x").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
}
