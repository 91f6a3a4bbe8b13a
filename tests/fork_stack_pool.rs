//! A fork while another thread holds the process-wide stack pool's lock must not leave the
//! child's pool locked forever. Alone in its binary: it forks while a thread runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_child_forked_while_another_thread_uses_the_stack_pool_can_use_it() {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // Takes and returns stacks through the process-wide pool as fast as it can: `trim`
    // empties the warm pools, so every spawn carves (mmap, madvise) under the pool's lock.
    let hammer = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let h = sprout::spawn(|| 1);
            assert_eq!(h.join().unwrap(), 1);
            sprout::stack::trim();
        }
    });
    std::thread::sleep(Duration::from_millis(20));

    let mut hung = 0;
    for _ in 0..20 {
        // SAFETY: the child only reads the stack pool's counters and ends with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let stats = sprout::stack::stats(); // locks the process-wide pool
                                                // SAFETY: ends the child without running the test harness's code.
            unsafe { libc::_exit(if stats.slabs < usize::MAX { 0 } else { 1 }) };
        }
        let until = Instant::now() + Duration::from_secs(5);
        let mut status = 0;
        loop {
            // SAFETY: reaps our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
                break;
            }
            if Instant::now() >= until {
                hung += 1;
                // SAFETY: kills and reaps our own hung child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    assert_eq!(hung, 0, "children hung on the stack pool's lock");
}
