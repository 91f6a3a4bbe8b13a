//! `sprout::run_info()`: a snapshot of the calling thread's hub naming every greenlet and what
//! it waits on.

mod support;

use std::io::Read;
use std::time::Duration;

use sprout::sync::Queue;

#[test]
fn lists_each_parked_greenlet_with_what_it_waits_on() {
    let (client, server) = support::tcp_pair();
    let server_fd = {
        use std::os::fd::AsRawFd;
        server.as_raw_fd()
    };
    let reader = sprout::Builder::new()
        .name("reader")
        .spawn(move || {
            let mut buf = [0u8; 16];
            (&server).read(&mut buf).unwrap()
        })
        .unwrap();
    let sleeper = sprout::Builder::new()
        .name("sleeper")
        .spawn(|| sprout::sleep(Duration::from_secs(30)))
        .unwrap();
    let joiner = sprout::Builder::new()
        .name("joiner")
        .spawn(|| {
            let inner = sprout::Builder::new()
                .name("joined")
                .spawn(|| sprout::sleep(Duration::from_secs(30)))
                .unwrap();
            let id = inner.id();
            let _ = inner.join();
            id
        })
        .unwrap();
    let q: Queue<u32> = Queue::new();
    let q2 = q.clone();
    let getter = sprout::Builder::new()
        .name("getter")
        .spawn(move || q2.get().unwrap())
        .unwrap();
    // Let all of them start and park.
    sprout::sleep(Duration::from_millis(20));

    let info = sprout::run_info();
    let text = info.to_string();
    let line_of = |name: &str| -> &str {
        text.lines()
            .find(|l| l.contains(&format!("'{name}'")))
            .unwrap_or_else(|| panic!("{name} listed:\n{text}"))
    };
    let here = "spawned at tests/run_info.rs:";
    let r = line_of("reader");
    assert!(r.contains(here) && r.contains("parked"), "{r}");
    assert!(
        r.contains(&format!("waits on fd {server_fd} readable")),
        "{r}"
    );
    let s = line_of("sleeper");
    assert!(s.contains("waits on sleep until +"), "{s}");
    let joined_id = info
        .greenlets
        .iter()
        .find(|g| g.name.as_deref() == Some("joined"))
        .expect("joined listed")
        .id;
    let j = line_of("joiner");
    assert!(
        j.contains(&format!("waits on join of greenlet #{joined_id}")),
        "{j}"
    );
    let g = line_of("getter");
    assert!(g.contains("waits on Queue (get)"), "{g}");
    // The root is the caller, running; counts are there.
    assert!(text.contains("#0 'root': running"), "{text}");
    assert!(info.timers >= 2, "two sleeps armed: {text}");
    assert!(info.fd_waiters >= 1 && info.fds >= 1, "{text}");
    assert!(
        text.starts_with("sprout run info: hub of thread '"),
        "{text}"
    );

    // Wake them all and check that finished greenlets leave the list.
    q.put(7).unwrap();
    (&client).write_all_helper(b"x");
    sleeper.kill();
    joiner.kill();
    assert_eq!(getter.join().unwrap(), 7);
    assert_eq!(reader.join().unwrap(), 1);
    let after = sprout::run_info();
    let names: Vec<_> = after
        .greenlets
        .iter()
        .filter_map(|g| g.name.clone())
        .collect();
    // `joined` is still sleeping: killing its joiner does not kill it.
    assert_eq!(
        names,
        vec!["root".to_owned(), "joined".to_owned()],
        "{after}"
    );
    let joined = after.greenlets.iter().find(|g| g.id == joined_id).unwrap();
    assert!(
        matches!(joined.waits_on, sprout::run_info::WaitsOn::Sleep { .. }),
        "{after}"
    );
}

/// A greenlet asking sees itself running and the root parked.
#[test]
fn a_greenlet_sees_itself_running() {
    let g = sprout::Builder::new()
        .name("asker")
        .spawn(|| sprout::run_info().to_string())
        .unwrap();
    let text = g.join().unwrap();
    assert!(
        text.contains("'asker' spawned at tests/run_info.rs:"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("'asker'") && l.ends_with(": running")),
        "{text}"
    );
    assert!(text.contains("#0 'root': parked"), "{text}");
}

trait WriteAll {
    fn write_all_helper(self, b: &[u8]);
}

impl WriteAll for &sprout::net::TcpStream {
    fn write_all_helper(self, b: &[u8]) {
        use std::io::Write;
        let mut s = self;
        s.write_all(b).unwrap();
    }
}

#[test]
fn lists_sync_waits_thread_pool_jobs_and_counts() {
    use sprout::sync::{Event, Semaphore};
    let ev = Event::new();
    let ev2 = ev.clone();
    let waiter = sprout::Builder::new()
        .name("on-event")
        .spawn(move || ev2.wait().unwrap())
        .unwrap();
    let sem = Semaphore::new(0);
    let sem2 = sem.clone();
    let acquirer = sprout::Builder::new()
        .name("on-semaphore")
        .spawn(move || sem2.acquire().unwrap())
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let blocking = sprout::Builder::new()
        .name("on-pool")
        .spawn(move || sprout::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20))))
        .unwrap();
    sprout::sleep(Duration::from_millis(20));
    let info = sprout::run_info();
    let text = info.to_string();
    let line_of = |name: &str| -> String {
        text.lines()
            .find(|l| l.contains(&format!("'{name}'")))
            .unwrap_or_else(|| panic!("{name} listed:\n{text}"))
            .to_owned()
    };
    assert!(line_of("on-event").ends_with("waits on Event"), "{text}");
    assert!(
        line_of("on-semaphore").ends_with("waits on Semaphore/Mutex"),
        "{text}"
    );
    assert!(
        line_of("on-pool").ends_with("waits on thread-pool job"),
        "{text}"
    );
    assert!(info.pool_threads >= 1, "{text}");
    assert!(info.external_waits >= 1, "{text}");
    tx.send(()).unwrap();
    ev.set();
    sem.release();
    waiter.join().unwrap();
    drop(acquirer.join().unwrap());
    assert!(blocking.join().unwrap().is_ok());
}
