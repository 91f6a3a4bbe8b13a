//! LoopExit, panics, and concurrency on one OS thread.

use std::time::{Duration, Instant};

use sprout::{spawn, JoinError, WaitList};

mod support;

#[test]
fn join_that_can_never_complete_is_loop_exit_not_a_hang() {
    let list = std::rc::Rc::new(WaitList::new());
    let l = list.clone();
    let h = spawn(move || l.wait(None));
    match h.join() {
        Err(JoinError::LoopExit) => {}
        other => panic!("expected LoopExit, got {other:?}"),
    }
    // The wait list itself reports LoopExit to root code too.
    assert_eq!(list.wait(None), Err(sprout::WaitError::LoopExit));
    assert!(
        JoinError::LoopExit.to_string().contains("block forever"),
        "the error says what happened"
    );
}

#[test]
fn panics_are_stored_for_the_joiner() {
    let h = spawn(|| -> u8 { panic!("handler failed") });
    match h.join() {
        Err(JoinError::Panicked(p)) => {
            assert_eq!(sprout::greenlet::panic_message(&*p), "handler failed")
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // The hub keeps running.
    assert_eq!(spawn(|| 3).join().unwrap(), 3);
}

#[test]
fn unjoined_panic_is_reported_once_on_stderr_with_the_name() {
    if std::env::var_os("SPROUT_CHILD_UNJOINED").is_some() {
        let h = sprout::Builder::new()
            .name("lonely")
            .spawn(|| panic!("nobody listens"))
            .unwrap();
        drop(h);
        let joined = sprout::Builder::new()
            .name("watched")
            .spawn(|| panic!("someone joins"))
            .unwrap();
        assert!(joined.join().is_err());
        sprout::sleep(Duration::from_millis(1));
        println!("CHILD-DONE");
        return;
    }
    let out = support::run_self(
        "unjoined_panic_is_reported_once_on_stderr_with_the_name",
        &[("SPROUT_CHILD_UNJOINED", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD-DONE"));
    assert_eq!(stderr.matches("nobody listens").count(), 1, "{stderr}");
    assert!(stderr.contains("greenlet 'lonely'"), "{stderr}");
    assert!(
        !stderr.contains("someone joins"),
        "a joined panic is not printed: {stderr}"
    );
}

#[test]
fn ten_thousand_sleepers_finish_together_on_one_thread() {
    if std::env::var_os("SPROUT_CHILD_SLEEPERS").is_some() {
        let before = support::thread_count(std::process::id());
        let t0 = Instant::now();
        let hs: Vec<_> = (0..10_000)
            .map(|_| spawn(|| sprout::sleep(Duration::from_millis(200))))
            .collect();
        // While they are all parked, this process has one OS thread.
        sprout::sleep(Duration::from_millis(50));
        let threads = support::thread_count(std::process::id());
        assert!(sprout::joinall(&hs, Some(Duration::from_secs(30))));
        println!(
            "\nCHILD elapsed_ms={} added_threads={}",
            t0.elapsed().as_millis(),
            threads - before
        );
        return;
    }
    let out = support::run_self(
        "ten_thousand_sleepers_finish_together_on_one_thread",
        &[("SPROUT_CHILD_SLEEPERS", "1")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .expect("child result line");
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    // The test harness has its own threads; the greenlets added none.
    assert_eq!(field("added_threads="), 0, "{line}");
    assert!(field("elapsed_ms=") < 2000, "{line}");
}

#[test]
fn a_waiter_waited_on_by_another_greenlet_is_a_clear_panic() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let slot: Rc<RefCell<Option<sprout::Waiter>>> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let a = spawn(move || {
        *s.borrow_mut() = Some(sprout::Waiter::new());
        sprout::sleep(Duration::from_millis(20));
    });
    let s = slot.clone();
    let b = spawn(move || {
        sprout::yield_now();
        let w = s.borrow_mut().take().expect("A made a waiter");
        let _ = w.wait(None);
    });
    match b.join() {
        Err(JoinError::Panicked(p)) => {
            assert!(sprout::greenlet::panic_message(&*p).contains("greenlet that created it"))
        }
        other => panic!("expected a clear panic, got {other:?}"),
    }
    a.join().unwrap();
}
