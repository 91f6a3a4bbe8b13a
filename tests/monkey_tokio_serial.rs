//! Monkey patching with the epoll hooks turned off (`set_cooperative_epoll(false)`): several
//! greenlets of one thread can use tokio-wrapping sync clients; their `block_on` calls run one
//! after another instead of hitting tokio's "Cannot start a runtime from within a runtime".
//! Its own test binary: the setting is process-wide.

use std::time::{Duration, Instant};

#[test]
fn with_epoll_hooks_off_concurrent_block_on_calls_serialise_instead_of_panicking() {
    sprout::monkey::patch_all();
    sprout::monkey::set_cooperative_epoll(false);
    let start = Instant::now();
    let hs: Vec<_> = (0..3u64)
        .map(|i| {
            sprout::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    i
                })
            })
        })
        .collect();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 3);
    // One after another: at least 3 x 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    // Turned back on, one greenlet's block_on cooperates again.
    sprout::monkey::set_cooperative_epoll(true);
    let ticker = sprout::spawn(|| {
        let mut n = 0u32;
        let end = Instant::now() + Duration::from_millis(100);
        while Instant::now() < end {
            sprout::sleep(Duration::from_millis(1));
            n += 1;
        }
        n
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = sprout::spawn(move || {
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(150)).await })
    });
    h.join().unwrap();
    assert!(
        ticker.join().unwrap() > 10,
        "the ticker ran during block_on"
    );
}
