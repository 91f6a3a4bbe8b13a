//! Monkey patching, sleeps: `std::thread::sleep` and the C sleep functions park only the
//! calling greenlet after `patch_all`, run the hub from root code, and stay real sleeps on
//! plain threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn a_thousand_std_sleeps_overlap_on_one_thread() {
    sprout::monkey::patch_all();
    assert!(sprout::monkey::is_patched());
    let start = Instant::now();
    let sleepers: Vec<_> = (0..1000)
        .map(|i| {
            sprout::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                i
            })
        })
        .collect();
    let sum: u64 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(sum, 999 * 1000 / 2);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "1,000 sleeps of 200 ms took {elapsed:?}: they did not overlap"
    );
}

#[test]
fn std_sleep_in_root_code_runs_the_hub() {
    sprout::monkey::patch_all();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    sprout::spawn(move || r.set(true));
    let before = sprout::switch_count();
    std::thread::sleep(Duration::from_millis(20));
    assert!(ran.get(), "the greenlet ran while main slept");
    assert!(
        sprout::switch_count() > before,
        "the sleep switched to the hub"
    );
}

#[test]
fn c_sleep_functions_park_the_greenlet() {
    sprout::monkey::patch_all();
    let start = Instant::now();
    let handles: Vec<_> = (0..40)
        .map(|i| {
            sprout::spawn(move || match i % 4 {
                0 => {
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 150_000_000,
                    };
                    // SAFETY: a valid timespec; no remainder wanted.
                    assert_eq!(unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) }, 0);
                }
                1 => {
                    // SAFETY: usleep takes an integer.
                    assert_eq!(unsafe { libc::usleep(150_000) }, 0);
                }
                2 => {
                    // An absolute deadline 150 ms from now on the monotonic clock.
                    let mut now = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    // SAFETY: a valid timespec to fill.
                    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
                    let mut ns = now.tv_nsec + 150_000_000;
                    let mut s = now.tv_sec;
                    if ns >= 1_000_000_000 {
                        ns -= 1_000_000_000;
                        s += 1;
                    }
                    let at = libc::timespec {
                        tv_sec: s,
                        tv_nsec: ns,
                    };
                    // SAFETY: a valid timespec; no remainder for an absolute sleep.
                    let r = unsafe {
                        libc::clock_nanosleep(
                            libc::CLOCK_MONOTONIC,
                            libc::TIMER_ABSTIME,
                            &at,
                            std::ptr::null_mut(),
                        )
                    };
                    assert_eq!(r, 0);
                }
                _ => {
                    // SAFETY: sleep takes an integer.
                    assert_eq!(unsafe { libc::sleep(0) }, 0);
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[test]
fn invalid_sleep_arguments_get_the_real_error() {
    sprout::monkey::patch_all();
    let h = sprout::spawn(|| {
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000_000,
        };
        // SAFETY: a valid pointer to an invalid duration.
        let r = unsafe { libc::nanosleep(&bad, std::ptr::null_mut()) };
        (r, std::io::Error::last_os_error().raw_os_error())
    });
    assert_eq!(h.join().unwrap(), (-1, Some(libc::EINVAL)));
}

#[test]
fn a_plain_thread_sleeps_for_real() {
    sprout::monkey::patch_all();
    let t = std::thread::spawn(|| {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(100));
        start.elapsed()
    });
    let slept = t.join().unwrap();
    assert!(slept >= Duration::from_millis(100), "{slept:?}");
}

#[test]
fn a_kill_ends_a_std_sleep_early_and_is_raised_at_the_next_sprout_call() {
    sprout::monkey::patch_all();
    let woke = Rc::new(Cell::new(false));
    let after = Rc::new(Cell::new(false));
    let (w, a) = (woke.clone(), after.clone());
    let h = sprout::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        w.set(true);
        sprout::sleep(Duration::from_millis(1)); // the kill is raised here
        a.set(true);
    });
    sprout::sleep(Duration::from_millis(20));
    let start = Instant::now();
    assert!(h.kill_timeout(Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(woke.get(), "the hooked sleep returned instead of unwinding");
    assert!(
        !after.get(),
        "the next sprout blocking call raised the kill"
    );
    assert!(h.join().unwrap_err().is_killed());
}

#[test]
fn poll_with_no_fds_is_a_cooperative_sleep() {
    sprout::monkey::patch_all();
    let start = Instant::now();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            // SAFETY: no fds; poll with a 150 ms timeout is a sleep.
            sprout::spawn(|| unsafe { libc::poll(std::ptr::null_mut(), 0, 150) })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0);
    }
    assert!(start.elapsed() < Duration::from_millis(1000));
}

#[test]
fn a_std_sleep_loop_that_ignores_a_kill_yields_on_each_sleep() {
    // The cancellation contract (see `sprout::monkey`): while a kill is pending, a hooked
    // sleep yields once and returns, so a loop that ignores the kill neither sleeps its full
    // length nor starves the hub.
    sprout::monkey::patch_all();
    let sleeps = Rc::new(Cell::new(0u32));
    let s = sleeps.clone();
    let h = sprout::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(20));
        s.set(s.get() + 1);
    });
    sprout::sleep(Duration::from_millis(5));
    h.kill_nowait();
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || {
        for _ in 0..20 {
            sprout::sleep(Duration::from_millis(1));
            t.set(t.get() + 1);
        }
    });
    let start = Instant::now();
    let before = sleeps.get();
    sprout::sleep(Duration::from_millis(100));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "the hub was not starved"
    );
    ticker.join().unwrap();
    assert_eq!(ticks.get(), 20, "other greenlets kept running");
    let n = sleeps.get() - before;
    assert!(
        n > 10,
        "sleeps returned after a yield ({n} in 100 ms), not after 20 ms"
    );
}
