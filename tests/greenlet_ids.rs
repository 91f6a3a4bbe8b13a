//! One id space for explicit and hub greenlets (issue 18 item 1).

use std::collections::HashSet;

use sprout::greenlet::Greenlet;

#[test]
fn inside_a_hub_greenlet_current_ids_agree() {
    let h = sprout::spawn(|| {
        let g = Greenlet::current();
        (
            g.id(),
            g.is_main(),
            sprout::current_id(),
            sprout::current().id(),
        )
    });
    let hid = h.id();
    let (gid, is_main, cur, handle) = h.join().unwrap();
    assert!(is_main, "hub greenlet code is the explicit layer's main");
    assert_eq!(
        gid, hid,
        "the main greenlet reports the hub greenlet's id, not 0"
    );
    assert_eq!(cur, hid);
    assert_eq!(handle, hid);
    assert_eq!(Greenlet::current().id(), 0, "root code is 0");
}

#[test]
fn explicit_and_hub_ids_never_collide_and_current_id_sees_explicit_ones() {
    let mut ids = HashSet::new();
    for _ in 0..5 {
        let hub = sprout::spawn(|| ());
        assert!(ids.insert(hub.id()));
        let g = Greenlet::new(|_: ()| (sprout::current_id(), Greenlet::current().id()));
        assert!(ids.insert(g.id()), "explicit id {} reused", g.id());
        let (cur, own) = g.switch::<(), (u64, u64)>(()).unwrap();
        assert_eq!(cur, own);
        assert_eq!(cur, g.id());
        hub.join().unwrap();
    }
    assert!(!ids.contains(&0));
}
