//! With `patch_all`, std's name resolution (`getaddrinfo`) from a greenlet runs on the thread
//! pool: the hub keeps serving other greenlets meanwhile.

use std::cell::Cell;
use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn std_lookups_from_greenlets_run_on_the_pool() {
    sprout::monkey::patch_all();
    assert!(sprout::monkey::PATCHED.contains(&"getaddrinfo"));
    assert_eq!(
        sprout::threadpool::resolver_threads(),
        0,
        "no pool thread before any lookup"
    );
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || loop {
        t.set(t.get() + 1);
        sprout::sleep(Duration::from_millis(1));
    });
    let lookups: Vec<_> = (0..20u16)
        .map(|i| {
            sprout::spawn(move || {
                let addrs: Vec<_> = ("localhost", 1000 + i).to_socket_addrs().unwrap().collect();
                assert!(!addrs.is_empty());
                assert!(addrs
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == 1000 + i));
            })
        })
        .collect();
    for h in lookups {
        h.join().unwrap();
    }
    assert!(
        sprout::threadpool::resolver_threads() >= 1,
        "the lookups ran on the pool's resolver lane"
    );
    // A failing lookup reports the resolver's error, as without the hook.
    let bad = sprout::spawn(|| "no-such-host.invalid:80".to_socket_addrs().is_err());
    assert!(bad.join().unwrap());
    ticker.kill();
    assert!(ticks.get() >= 1);
}

#[test]
fn lookups_on_plain_threads_pass_through() {
    sprout::monkey::patch_all();
    let n = std::thread::spawn(|| ("localhost", 80).to_socket_addrs().unwrap().count())
        .join()
        .unwrap();
    assert!(n >= 1);
}
