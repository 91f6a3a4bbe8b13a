//! The tracing hook sees a greenlet's spawn, switches and finish, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sprout::trace::{self, TraceEvent};

#[test]
fn hook_sees_spawn_switches_and_finish_in_order() {
    let seen: Arc<Mutex<Vec<TraceEvent>>> = Arc::default();
    let log = seen.clone();
    let me = std::thread::current().id();
    trace::set_hook(move |e| {
        if std::thread::current().id() == me {
            log.lock().unwrap().push(*e);
        }
    });
    let g = sprout::Builder::new()
        .name("traced")
        .spawn(|| {
            sprout::yield_now();
            sprout::sleep(Duration::from_millis(5));
        })
        .unwrap();
    let id = g.id();
    g.join().unwrap();
    trace::clear_hook();
    // Nothing is recorded once the hook is cleared.
    sprout::spawn(|| ()).join().unwrap();

    let events: Vec<TraceEvent> = seen
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|e| match e {
            TraceEvent::Spawn { id: i, .. }
            | TraceEvent::SwitchIn { id: i }
            | TraceEvent::SwitchOut { id: i }
            | TraceEvent::Finish { id: i } => *i == id,
            _ => false,
        })
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.to_string().split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "spawn",
            "switch-in",
            "switch-out",
            "switch-in",
            "switch-out",
            "switch-in",
            "finish"
        ],
        "{events:?}"
    );
    match events[0] {
        TraceEvent::Spawn { location, .. } => assert_eq!(location.file(), "tests/trace_hook.rs"),
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.lock().unwrap().len(), 7, "nothing after clear_hook");
}
