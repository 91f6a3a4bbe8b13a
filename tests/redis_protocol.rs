//! `examples/redis_server` over raw sockets: RESP framing, pipelining, inline commands,
//! protocol errors (answered and closed as redis-server 7 does), subscriber mode, clients
//! that stop reading, and 1,000 subscribers on the server's one thread.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_support::{conn, exchange, q, raw, read_n, read_until_close, start};

#[test]
fn protocol_errors_answer_and_close() {
    let (_server, addr) = start(&["--proto-max-bulk-len", "1024"]);
    let long_inline = [b"PING".as_slice(), &[b'a'; 70_000]].concat();
    let long_count = [b"*1".as_slice(), &[b'1'; 70_000]].concat();
    let long_bulk_count = [b"*1\r\n$1".as_slice(), &[b'1'; 70_000]].concat();
    let cases: [(&[u8], &[u8]); 12] = [
        (
            b"*1\r\n$4\r\nPING\r\n*x\r\n",
            b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-1\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        // Over --proto-max-bulk-len.
        (b"*2\r\n$3\r\nSET\r\n$1025\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\nx4\r\nPING\r\n", b"-ERR Protocol error: expected '$', got 'x'\r\n"),
        (&long_inline, b"-ERR Protocol error: too big inline request\r\n"),
        (&long_count, b"-ERR Protocol error: too big mbulk count string\r\n"),
        (&long_bulk_count, b"-ERR Protocol error: too big bulk count string\r\n"),
        (b"set a \"b\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        // QUIT answers, then closes; what follows is not executed.
        (b"QUIT\r\nSET after quit\r\n", b"+OK\r\n"),
        // A subscriber's error goes out through its queue, after its earlier replies.
        (
            b"SUBSCRIBE a\r\n*1\r\n$-1\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (req, want) in cases {
        let (got, closed) = exchange(addr, req);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "request {:?}",
            String::from_utf8_lossy(&req[..req.len().min(40)])
        );
        assert!(
            closed,
            "the server closes after {:?}",
            &req[..req.len().min(40)]
        );
    }
    let c = &mut conn(addr);
    assert_eq!(q::<Option<String>>(c, &["GET", "after"]), None);
    // A bulk of exactly the maximum is fine.
    let v = "v".repeat(1024);
    assert_eq!(q::<String>(c, &["SET", "k", &v]), "OK");
    assert_eq!(q::<String>(c, &["GET", "k"]), v);
}

#[test]
fn empty_commands_inline_commands_and_pieces() {
    let (_server, addr) = start(&[]);
    // Counts of zero or less and blank lines are skipped, not errors.
    let (got, closed) = exchange(addr, b"*0\r\n*-1\r\n  \r\n\r\nPING\r\n");
    assert_eq!(got, b"+PONG\r\n");
    assert!(!closed);
    // Inline commands with quotes and escapes.
    let (got, _) = exchange(
        addr,
        b"SET \"a key\" 'it''s'\r\nset k2 \"tab\\there\\x41\"\r\nGET \"a key\"\r\nget k2\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    let (got, _) = exchange(
        addr,
        b"SET \"a key\" 'it\\'s'\r\nset k2 \"tab\\there\\x41\"\r\nGET \"a key\"\r\nget k2\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "+OK\r\n+OK\r\n$4\r\nit's\r\n$9\r\ntab\there\x41\r\n"
    );
    // A command split into single bytes, the bulk body included.
    let mut s = raw(addr);
    s.set_nodelay(true).unwrap();
    let req = b"*3\r\n$3\r\nSET\r\n$5\r\npiece\r\n$10\r\n0123456789\r\n*2\r\n$3\r\nGET\r\n$5\r\npiece\r\n";
    for b in req {
        s.write_all(&[*b]).unwrap();
    }
    assert_eq!(read_n(&mut s, 5 + 17), b"+OK\r\n$10\r\n0123456789\r\n");
}

#[test]
fn pipelined_commands_all_answered_in_order() {
    let (_server, addr) = start(&[]);
    let mut s = raw(addr);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..2000 {
        let v = format!("value-{i}");
        req.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n$4\r\nkey{}\r\n${}\r\n{v}\r\n",
                i % 10,
                v.len()
            )
            .as_bytes(),
        );
        req.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$4\r\nkey{}\r\n", i % 10).as_bytes());
        req.extend_from_slice(b"INCR counter\r\n");
        want.extend_from_slice(format!("+OK\r\n${}\r\n{v}\r\n:{}\r\n", v.len(), i + 1).as_bytes());
    }
    // One write: every complete command in it is executed, replies in order.
    s.write_all(&req).unwrap();
    assert_eq!(
        String::from_utf8(read_n(&mut s, want.len())).unwrap(),
        String::from_utf8(want).unwrap()
    );
}

#[test]
fn subscriber_mode_rules() {
    let (_server, addr) = start(&[]);
    let mut s = raw(addr);
    s.write_all(b"SUBSCRIBE a b\r\nGET k\r\nPING\r\nPING x\r\nPSUBSCRIBE p*\r\nUNSUBSCRIBE\r\n")
        .unwrap();
    let want = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
                *3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n\
                -ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
                RESET are allowed in this context\r\n\
                *2\r\n$4\r\npong\r\n$0\r\n\r\n\
                *2\r\n$4\r\npong\r\n$1\r\nx\r\n\
                *3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n\
                *3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n\
                *3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n";
    assert_eq!(String::from_utf8(read_n(&mut s, want.len())).unwrap(), want);
    // Still in subscriber mode through the pattern; a message on it arrives in order.
    let c = &mut conn(addr);
    assert_eq!(q::<i64>(c, &["PUBLISH", "pq", "hi"]), 1);
    let msg = "*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npq\r\n$2\r\nhi\r\n";
    assert_eq!(String::from_utf8(read_n(&mut s, msg.len())).unwrap(), msg);
    s.write_all(b"PUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nSET k v\r\nQUIT\r\n")
        .unwrap();
    let want = "*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n\
                *3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n+OK\r\n+OK\r\n";
    let (got, closed) = read_until_close(&mut s, Duration::from_secs(30));
    assert_eq!(String::from_utf8(got).unwrap(), want);
    assert!(closed, "QUIT closes a (former) subscriber too");
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_stalls_nobody() {
    let (_server, addr) = start(&["--write-timeout", "1"]);
    let c = &mut conn(addr);
    let big = "x".repeat(1 << 20);
    q::<String>(c, &["SET", "big", &big]);

    // 200 MB of replies requested, none read.
    let mut hog = raw(addr);
    let mut writer = hog.try_clone().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let sender = std::thread::spawn(move || {
        let req = b"GET big\r\n".repeat(200);
        while !stop2.load(Ordering::Relaxed) {
            if writer.write_all(&req).is_err() {
                break;
            }
        }
    });
    // Meanwhile the server answers everyone else.
    let t = Instant::now();
    let mut pings = 0;
    while t.elapsed() < Duration::from_secs(3) {
        assert_eq!(q::<String>(c, &["PING"]), "PONG");
        pings += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pings >= 10, "only {pings} pings answered in 3 s");
    // The hog is disconnected: reading now drains what was sent before, then the end.
    let (got, closed) = {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 20];
        hog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            assert!(Instant::now() < deadline, "the hog was never disconnected");
            match hog.read(&mut buf) {
                Ok(0) => break (total, true),
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break (total, true),
                Err(_) => break (total, false),
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    assert!(closed, "the hog's connection ends");
    assert!(got < 200 << 20, "it was cut off early ({got} bytes)");
    sender.join().unwrap();
    assert_eq!(q::<String>(c, &["PING"]), "PONG");
}

#[test]
fn a_slow_subscriber_is_disconnected_past_the_output_limit() {
    let (_server, addr) = start(&["--client-output-limit", "1000000"]);
    let mut slow = raw(addr);
    slow.write_all(b"SUBSCRIBE feed\r\n").unwrap();
    let sub_reply = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n";
    assert_eq!(read_n(&mut slow, sub_reply.len()), sub_reply);
    let mut fast = raw(addr);
    fast.write_all(b"SUBSCRIBE feed\r\n").unwrap();
    assert_eq!(read_n(&mut fast, sub_reply.len()), sub_reply);

    const MESSAGES: usize = 300;
    let payload = "p".repeat(100_000);
    let msg_len = format!("*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$100000\r\n{payload}\r\n").len();
    let read = Arc::new(AtomicUsize::new(0));
    let read2 = read.clone();
    let reader = std::thread::spawn(move || {
        while read2.load(Ordering::SeqCst) < MESSAGES {
            read_n(&mut fast, msg_len);
            read2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let c = &mut conn(addr);
    let mut receivers = Vec::new();
    for i in 0..MESSAGES {
        // The fast subscriber keeps within a few messages (well under the limit); the slow
        // one never reads.
        let deadline = Instant::now() + Duration::from_secs(60);
        while read.load(Ordering::SeqCst) + 3 < i {
            assert!(
                Instant::now() < deadline,
                "the fast subscriber stopped receiving"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        receivers.push(q::<i64>(c, &["PUBLISH", "feed", &payload]));
    }
    // Every publish completed (the publisher never waited on the slow one); the slow one
    // was dropped part-way, the fast one got everything.
    assert_eq!(receivers[0], 2);
    assert_eq!(*receivers.last().unwrap(), 1, "{receivers:?}");
    assert!(receivers.windows(2).all(|w| w[0] >= w[1]));
    reader.join().unwrap();
    assert_eq!(read.load(Ordering::SeqCst), MESSAGES);
    let (_, closed) = read_until_close(&mut slow, Duration::from_secs(30));
    assert!(closed, "the slow subscriber's connection ends");
}

#[test]
fn a_thousand_subscribers_on_one_thread_all_receive_a_publish() {
    const SUBS: usize = 1000;
    let (server, addr) = start(&[]);
    let mut subs: Vec<TcpStream> = Vec::with_capacity(SUBS);
    let reply = b"*3\r\n$9\r\nsubscribe\r\n$5\r\nnews!\r\n:1\r\n";
    for _ in 0..SUBS {
        let mut s = raw(addr);
        s.write_all(b"SUBSCRIBE news!\r\n").unwrap();
        subs.push(s);
    }
    for s in &mut subs {
        assert_eq!(read_n(s, reply.len()), reply);
    }
    let c = &mut conn(addr);
    assert_eq!(q::<i64>(c, &["PUBLISH", "news!", "hello"]), SUBS as i64);
    let msg = b"*3\r\n$7\r\nmessage\r\n$5\r\nnews!\r\n$5\r\nhello\r\n";
    for s in &mut subs {
        assert_eq!(read_n(s, msg.len()), msg);
    }
    assert_eq!(
        support::thread_count(server.pid()),
        1,
        "one OS thread serves them all"
    );
    assert_eq!(
        redis_support::info_field(c, "connected_clients"),
        (SUBS + 1).to_string()
    );
}
