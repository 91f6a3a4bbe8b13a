//! `ThreadAsyncResult`: set once on any thread, awaited by greenlets and threads.

use std::sync::Arc;
use std::time::Duration;

use sprout::spawn;
use sprout::sync::{GetError, ThreadAsyncResult};

#[test]
fn set_from_another_thread_reaches_every_greenlet() {
    let r: ThreadAsyncResult<String> = ThreadAsyncResult::new();
    let readers: Vec<_> = (0..5)
        .map(|_| {
            let r = r.clone();
            spawn(move || r.get_timeout(Duration::from_secs(20)))
        })
        .collect();
    let setter = {
        let r = r.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            r.set("done".to_string()).unwrap();
            // Set once: a second value is handed back.
            r.set("again".to_string()).unwrap_err()
        })
    };
    for h in readers {
        assert_eq!(h.join().unwrap().unwrap(), "done");
    }
    assert_eq!(setter.join().unwrap(), "again");
    assert!(r.is_ready() && r.is_successful());
    assert_eq!(r.take().unwrap(), "done");
    assert!(matches!(r.get(), Err(GetError::Taken)));
}

#[test]
fn an_error_from_another_thread() {
    let r: ThreadAsyncResult<u8> = ThreadAsyncResult::new();
    let r2 = r.clone();
    let t = std::thread::spawn(move || {
        r2.set_error(Arc::new(std::io::Error::other("no luck")))
            .unwrap();
    });
    let got = spawn(move || r.get_timeout(Duration::from_secs(20)))
        .join()
        .unwrap();
    match got {
        Err(GetError::Failed(e)) => assert_eq!(e.to_string(), "no luck"),
        other => panic!("expected the error, got {other:?}"),
    }
    t.join().unwrap();
}

#[test]
fn a_plain_thread_gets_a_result_a_greenlet_sets_and_timeouts_work() {
    let r: ThreadAsyncResult<u32, ()> = ThreadAsyncResult::new();
    assert_eq!(
        r.get_timeout(Duration::from_millis(20)),
        Err(GetError::TimedOut)
    );
    let t = {
        let r = r.clone();
        std::thread::spawn(move || {
            assert_eq!(
                r.get_timeout(Duration::from_millis(1)),
                Err(GetError::TimedOut)
            );
            r.get_timeout(Duration::from_secs(20))
        })
    };
    let r2 = r.clone();
    spawn(move || {
        sprout::sleep(Duration::from_millis(50));
        r2.set(9).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(t.join().unwrap(), Ok(9));
    assert_eq!(r.try_get(), Some(Ok(9)));
}
