//! Monkey patching: a libc sleep longer than any `Instant` deadline (`std::thread::sleep`
//! of `Duration::MAX`, `clock_nanosleep` of `time_t::MAX` seconds) parks the greenlet as a
//! sleep that never ends instead of panicking; a `Timeout` or a kill still ends it.

use std::time::Duration;

use sprout::{with_timeout, Elapsed};

const SHORT: Duration = Duration::from_millis(20);

#[test]
fn std_sleep_max_in_a_greenlet_ends_only_by_timeout_or_kill() {
    sprout::monkey::patch_all();
    let timed = sprout::spawn(|| with_timeout(SHORT, || std::thread::sleep(Duration::MAX)));
    assert_eq!(timed.join().unwrap(), Err(Elapsed));

    let sleeper = sprout::spawn(|| {
        std::thread::sleep(Duration::MAX);
        // A kill that ended the hooked sleep is raised here.
        sprout::sleep(SHORT);
    });
    sprout::sleep(SHORT);
    assert!(!sleeper.is_finished(), "the sleep returned early");
    assert!(sleeper.kill_timeout(Duration::from_secs(20)));
    assert!(sleeper.is_killed());
}

#[test]
fn clock_nanosleep_with_the_largest_timespec_parks() {
    sprout::monkey::patch_all();
    let r = sprout::spawn(|| {
        with_timeout(SHORT, || {
            let ts = libc::timespec {
                tv_sec: libc::time_t::MAX,
                tv_nsec: 999_999_999,
            };
            // SAFETY: a valid timespec; no remainder is asked for.
            unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) }
        })
    });
    assert_eq!(r.join().unwrap(), Err(Elapsed));
}
