//! `sprout::signal`'s signal numbers, usable without a `libc` dependency, and the clear error
//! for the numbers glibc reserves (32 and 33).

use std::io::ErrorKind;

use sprout::signal::{SIGCHLD, SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};

#[test]
fn the_signal_numbers_are_linuxs() {
    assert_eq!(
        [SIGHUP, SIGINT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD, SIGWINCH],
        [1, 2, 9, 10, 12, 15, 17, 28]
    );
    assert_eq!(sprout::signal::SIGQUIT, libc::SIGQUIT);
    assert_eq!(sprout::signal::SIGPIPE, libc::SIGPIPE);
    assert_eq!(sprout::signal::SIGALRM, libc::SIGALRM);
}

#[test]
fn glibcs_reserved_signals_get_a_clear_error() {
    for sig in [32, 33] {
        let e = sprout::signal_handler(sig, || {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "signal {sig}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("sprout:") && msg.contains("reserved"),
            "{msg}"
        );
        let e = sprout::signal::wait(&[sig]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "wait for {sig}");
    }
    // The first real-time signal is fine.
    let mut h = sprout::signal_handler(libc::SIGRTMIN(), || {}).unwrap();
    h.cancel();
}
