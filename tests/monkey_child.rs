//! Monkey patching, child waits: `waitpid`/`wait4`/`waitid` for one child park the calling
//! greenlet on a pidfd after `patch_all`.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn fifty_greenlets_wait_for_their_children_at_once() {
    sprout::monkey::patch_all();
    let ticks = Rc::new(Cell::new(0u32));
    let stop = Rc::new(Cell::new(false));
    let ticker = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        sprout::spawn(move || {
            while !stop.get() {
                sprout::sleep(Duration::from_millis(1));
                ticks.set(ticks.get() + 1);
            }
        })
    };
    let start = Instant::now();
    let hs: Vec<_> = (0..50)
        .map(|_| sprout::spawn(|| Command::new("sleep").arg("0.3").status().unwrap()))
        .collect();
    for h in hs {
        assert!(h.join().unwrap().success());
    }
    let elapsed = start.elapsed();
    eprintln!("50 children of `sleep 0.3` waited by 50 greenlets: {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "50 children of 300 ms each took {elapsed:?}: the waits did not overlap"
    );
    assert!(ticks.get() > 30, "the hub ran during the waits");
    stop.set(true);
    ticker.join().unwrap();
}

#[test]
// The children below are reaped with raw `wait4` and `waitid`, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn exit_codes_output_and_wait4_waitid_come_through() {
    sprout::monkey::patch_all();
    let h = sprout::spawn(|| Command::new("sh").args(["-c", "exit 3"]).status().unwrap());
    assert_eq!(h.join().unwrap().code(), Some(3));
    let h = sprout::spawn(|| {
        Command::new("sh")
            .args(["-c", "sleep 0.1; echo hi"])
            .output()
    });
    let out = h.join().unwrap().unwrap();
    assert_eq!(out.stdout, b"hi\n");

    let h = sprout::spawn(|| {
        let child = Command::new("sh")
            .args(["-c", "sleep 0.1; exit 5"])
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: a valid status pointer and a null rusage.
        let r = unsafe { libc::wait4(pid, &mut status, 0, std::ptr::null_mut()) };
        assert_eq!(r, pid);
        assert_eq!(libc::WEXITSTATUS(status), 5);
        let child = Command::new("sh")
            .args(["-c", "sleep 0.1; exit 6"])
            .spawn()
            .unwrap();
        // SAFETY: a zeroed siginfo_t for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid siginfo_t pointer.
        let r = unsafe { libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED) };
        assert_eq!(r, 0);
        // SAFETY: waitid filled a CLD_EXITED record.
        unsafe {
            assert_eq!(info.si_pid(), child.id() as libc::pid_t);
            assert_eq!(info.si_status(), 6);
        }
    });
    let tick = sprout::spawn(|| sprout::sleep(Duration::from_millis(50)));
    h.join().unwrap();
    tick.join().unwrap();
}

#[test]
fn a_killed_wait_fails_at_once_and_the_child_can_be_waited_again() {
    sprout::monkey::patch_all();
    let mut child = Command::new("sleep").arg("0.3").spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let h = sprout::spawn(move || {
        let mut status = 0;
        // SAFETY: a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        (r, std::io::Error::last_os_error().raw_os_error())
    });
    sprout::sleep(Duration::from_millis(20));
    let start = Instant::now();
    assert!(h.kill_timeout(Duration::from_secs(2)));
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "the kill ended the wait"
    );
    assert!(h.join().unwrap_err().is_killed());
    assert!(
        child.wait().unwrap().success(),
        "not reaped by the cancelled wait"
    );
}
