//! `examples/redis_server` through the `redis` crate: every command, its replies and its
//! errors, worded as redis-server 7 words them.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::time::{Duration, Instant};

use redis::Value;
use redis_support::{conn, err, info_field, q, start, wait_blocked};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";

#[test]
fn strings_and_keys() {
    let (server, addr) = start(&[]);
    let c = &mut conn(addr);
    assert_eq!(q::<String>(c, &["PING"]), "PONG");
    assert_eq!(q::<String>(c, &["ping", "hi"]), "hi");
    assert_eq!(q::<String>(c, &["ECHO", "x y"]), "x y");
    assert_eq!(q::<String>(c, &["SELECT", "0"]), "OK");
    assert_eq!(err(c, &["SELECT", "1"]), "ERR DB index is out of range");
    assert_eq!(err(c, &["SELECT", "x"]), NOT_INT);

    assert_eq!(q::<Option<String>>(c, &["GET", "k"]), None);
    assert_eq!(q::<String>(c, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(c, &["GET", "k"]), "v");
    assert_eq!(q::<Option<String>>(c, &["SET", "k", "w", "NX"]), None);
    assert_eq!(q::<String>(c, &["GET", "k"]), "v");
    assert_eq!(q::<Option<String>>(c, &["SET", "nokey", "w", "XX"]), None);
    assert_eq!(q::<Option<String>>(c, &["GET", "nokey"]), None);
    assert_eq!(q::<String>(c, &["SET", "k", "w", "XX"]), "OK");
    assert_eq!(q::<String>(c, &["SET", "k", "x", "GET"]), "w");
    assert_eq!(
        q::<String>(c, &["set", "fresh", "1", "nx", "ex", "100"]),
        "OK"
    );
    let ttl: i64 = q(c, &["TTL", "fresh"]);
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(q::<String>(c, &["SET", "fresh", "2", "KEEPTTL"]), "OK");
    assert!(
        q::<i64>(c, &["TTL", "fresh"]) > 0,
        "KEEPTTL keeps the deadline"
    );
    assert_eq!(q::<String>(c, &["SET", "fresh", "3"]), "OK");
    assert_eq!(q::<i64>(c, &["TTL", "fresh"]), -1, "a plain SET clears it");
    assert_eq!(err(c, &["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "1", "PX", "1"]),
        "ERR syntax error"
    );
    assert_eq!(err(c, &["SET", "k", "v", "EX"]), "ERR syntax error");
    assert_eq!(err(c, &["SET", "k", "v", "BOGUS"]), "ERR syntax error");
    assert_eq!(err(c, &["SET", "k", "v", "EX", "abc"]), NOT_INT);
    for bad in ["0", "-1"] {
        assert_eq!(
            err(c, &["SET", "k", "v", "PX", bad]),
            "ERR invalid expire time in 'set' command"
        );
    }
    assert_eq!(
        err(c, &["SET", "k", "v", "EX", "9223372036854775807"]),
        "ERR invalid expire time in 'set' command"
    );

    assert_eq!(q::<Option<String>>(c, &["GETSET", "gs", "a"]), None);
    assert_eq!(q::<String>(c, &["GETSET", "gs", "b"]), "a");
    assert_eq!(q::<String>(c, &["GET", "gs"]), "b");

    assert_eq!(q::<i64>(c, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(c, &["INCRBY", "n", "10"]), 11);
    assert_eq!(q::<i64>(c, &["DECR", "n"]), 10);
    assert_eq!(q::<i64>(c, &["DECRBY", "n", "-5"]), 15);
    assert_eq!(q::<String>(c, &["GET", "n"]), "15");
    assert_eq!(err(c, &["INCR", "k"]), NOT_INT);
    assert_eq!(err(c, &["INCRBY", "n", "1.5"]), NOT_INT);
    assert_eq!(q::<String>(c, &["SET", "big", "9223372036854775807"]), "OK");
    assert_eq!(
        err(c, &["INCR", "big"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(c, &["DECRBY", "n", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );

    assert_eq!(q::<i64>(c, &["APPEND", "ap", "ab"]), 2);
    assert_eq!(q::<i64>(c, &["APPEND", "ap", "cd"]), 4);
    assert_eq!(q::<i64>(c, &["STRLEN", "ap"]), 4);
    assert_eq!(q::<i64>(c, &["STRLEN", "nokey"]), 0);

    assert_eq!(q::<String>(c, &["MSET", "m1", "a", "m2", "b"]), "OK");
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["MGET", "m1", "nokey", "m2"]),
        vec![Some("a".into()), None, Some("b".into())]
    );
    assert_eq!(
        err(c, &["MSET", "m1", "a", "m2"]),
        "ERR wrong number of arguments for 'mset' command"
    );

    assert_eq!(q::<i64>(c, &["EXISTS", "m1", "m2", "m1", "nokey"]), 3);
    assert_eq!(q::<i64>(c, &["DEL", "m1", "m2", "nokey"]), 2);
    assert_eq!(q::<i64>(c, &["EXISTS", "m1"]), 0);

    assert_eq!(q::<String>(c, &["TYPE", "k"]), "string");
    assert_eq!(q::<String>(c, &["TYPE", "nokey"]), "none");
    q::<i64>(c, &["LPUSH", "l", "x"]);
    q::<i64>(c, &["HSET", "h", "f", "v"]);
    q::<i64>(c, &["SADD", "s", "m"]);
    q::<i64>(c, &["ZADD", "z", "1", "m"]);
    for (key, ty) in [("l", "list"), ("h", "hash"), ("s", "set"), ("z", "zset")] {
        assert_eq!(q::<String>(c, &["TYPE", key]), ty);
    }
    for cmd in [
        &["GET", "l"][..],
        &["INCR", "l"],
        &["APPEND", "l", "x"],
        &["STRLEN", "l"],
        &["GETSET", "l", "x"],
        &["SET", "l", "x", "GET"],
    ] {
        assert_eq!(err(c, cmd), WRONGTYPE, "{cmd:?}");
    }
    assert_eq!(q::<Vec<Option<String>>>(c, &["MGET", "l"]), vec![None]);

    let mut keys: Vec<String> = q(c, &["KEYS", "*"]);
    keys.sort();
    assert_eq!(
        keys,
        ["ap", "big", "fresh", "gs", "h", "k", "l", "n", "s", "z"]
    );
    let mut keys: Vec<String> = q(c, &["KEYS", "[fg]*"]);
    keys.sort();
    assert_eq!(keys, ["fresh", "gs"]);
    assert_eq!(q::<Vec<String>>(c, &["KEYS", "?"]).len(), 6);
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 10);
    assert_eq!(q::<String>(c, &["FLUSHDB"]), "OK");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 0);
    q::<String>(c, &["SET", "a", "1"]);
    assert_eq!(q::<String>(c, &["FLUSHALL", "SYNC"]), "OK");
    assert_eq!(q::<i64>(c, &["DBSIZE"]), 0);
    assert_eq!(err(c, &["FLUSHALL", "bogus"]), "ERR syntax error");
    // The server keeps to one OS thread, like redis-server.
    assert_eq!(support::thread_count(server.pid()), 1);
}

#[test]
fn expiry() {
    let (_server, addr) = start(&[]);
    let c = &mut conn(addr);
    q::<String>(c, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(c, &["PTTL", "nokey"]), -2);
    assert_eq!(q::<i64>(c, &["TTL", "nokey"]), -2);
    assert_eq!(q::<i64>(c, &["EXPIRE", "nokey", "10"]), 0);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "100"]), 1);
    let pttl: i64 = q(c, &["PTTL", "k"]);
    assert!(pttl > 90_000 && pttl <= 100_000, "pttl {pttl}");
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "50", "NX"]), 0);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "50", "LT"]), 1);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "200", "XX"]), 1);
    assert_eq!(q::<i64>(c, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(c, &["PERSIST", "k"]), 0);
    assert_eq!(q::<i64>(c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "50", "XX"]), 0);
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["EXPIRE", "k", "10", "YY"]),
        "ERR Unsupported option YY"
    );
    assert_eq!(err(c, &["EXPIRE", "k", "soon"]), NOT_INT);
    assert_eq!(
        err(c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err(c, &["PEXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    // A deadline in the past deletes at once.
    assert_eq!(q::<i64>(c, &["EXPIRE", "k", "-1"]), 1);
    assert_eq!(q::<i64>(c, &["EXISTS", "k"]), 0);

    // Lazy expiry: the key is gone when touched after its deadline.
    q::<String>(c, &["SET", "short", "v", "PX", "100"]);
    assert_eq!(q::<i64>(c, &["PEXPIRE", "short", "150"]), 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(q::<Option<String>>(c, &["GET", "short"]), None);
    assert_eq!(q::<i64>(c, &["TTL", "short"]), -2);

    // Active expiry: keys nobody touches leave too (DBSIZE does not touch keys).
    for i in 0..200 {
        q::<String>(c, &["SET", &format!("vol:{i}"), "v", "PX", "50"]);
    }
    q::<String>(c, &["SET", "stays", "v"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while q::<i64>(c, &["DBSIZE"]) != 1 {
        assert!(
            Instant::now() < deadline,
            "active expiry never removed the keys"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(c, "db0"), "keys=1,expires=0,avg_ttl=0");
}

#[test]
fn lists_and_blocking_pops() {
    let (_server, addr) = start(&[]);
    let c = &mut conn(addr);
    assert_eq!(q::<i64>(c, &["RPUSH", "l", "b", "c"]), 2);
    assert_eq!(q::<i64>(c, &["LPUSH", "l", "a", "z"]), 4);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "0", "-1"]),
        ["z", "a", "b", "c"]
    );
    assert_eq!(q::<Vec<String>>(c, &["LRANGE", "l", "1", "2"]), ["a", "b"]);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "-2", "100"]),
        ["b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "3", "1"]),
        Vec::<String>::new()
    );
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "nokey", "0", "-1"]),
        Vec::<String>::new()
    );
    assert_eq!(q::<i64>(c, &["LLEN", "l"]), 4);
    assert_eq!(q::<String>(c, &["LINDEX", "l", "0"]), "z");
    assert_eq!(q::<String>(c, &["LINDEX", "l", "-1"]), "c");
    assert_eq!(q::<Option<String>>(c, &["LINDEX", "l", "9"]), None);
    assert_eq!(err(c, &["LINDEX", "l", "x"]), NOT_INT);
    assert_eq!(err(c, &["LRANGE", "l", "0", "x"]), NOT_INT);
    assert_eq!(q::<String>(c, &["LPOP", "l"]), "z");
    assert_eq!(q::<String>(c, &["RPOP", "l"]), "c");
    assert_eq!(q::<Vec<String>>(c, &["LPOP", "l", "5"]), ["a", "b"]);
    assert_eq!(
        q::<i64>(c, &["EXISTS", "l"]),
        0,
        "an emptied list is deleted"
    );
    assert_eq!(q::<Option<String>>(c, &["LPOP", "l"]), None);
    assert_eq!(q::<Value>(c, &["RPOP", "l", "2"]), Value::Nil);
    assert_eq!(
        err(c, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    q::<String>(c, &["SET", "str", "v"]);
    for cmd in [
        &["LPUSH", "str", "x"][..],
        &["RPUSH", "str", "x"],
        &["LPOP", "str"],
        &["RPOP", "str"],
        &["LLEN", "str"],
        &["LRANGE", "str", "0", "1"],
        &["LINDEX", "str", "0"],
        &["BLPOP", "str", "1"],
    ] {
        assert_eq!(err(c, cmd), WRONGTYPE, "{cmd:?}");
    }
    assert_eq!(
        q::<String>(c, &["GET", "str"]),
        "v",
        "a failed push changes nothing"
    );

    // A BLPOP that finds an element returns at once; one that does not times out with nil.
    q::<i64>(c, &["RPUSH", "q2", "x", "y"]);
    assert_eq!(
        q::<Vec<String>>(c, &["BLPOP", "q1", "q2", "0"]),
        ["q2", "x"]
    );
    assert_eq!(q::<Vec<String>>(c, &["BRPOP", "q2", "0"]), ["q2", "y"]);
    let t = Instant::now();
    assert_eq!(q::<Value>(c, &["BLPOP", "q1", "0.2"]), Value::Nil);
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "waited its timeout"
    );
    assert_eq!(
        err(c, &["BLPOP", "q1", "x"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(err(c, &["BLPOP", "q1", "-1"]), "ERR timeout is negative");
    assert_eq!(
        err(c, &["BLPOP", "q1"]),
        "ERR wrong number of arguments for 'blpop' command"
    );

    // Three waiters on one key, queued in order, are served first come first served by
    // pushes from another connection; the pusher's reply counts the elements it pushed.
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let mut w = conn(addr);
            let h = std::thread::spawn(move || {
                let side = if i == 1 { "BRPOP" } else { "BLPOP" };
                q::<Vec<String>>(&mut w, &[side, "other", "jobs", "0"])
            });
            wait_blocked(c, i + 1);
            h
        })
        .collect();
    assert_eq!(q::<i64>(c, &["RPUSH", "jobs", "j1", "j2"]), 2);
    assert_eq!(q::<i64>(c, &["LPUSH", "jobs", "j3"]), 1);
    let got: Vec<Vec<String>> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [["jobs", "j1"], ["jobs", "j2"], ["jobs", "j3"]]);
    wait_blocked(c, 0);
    assert_eq!(q::<i64>(c, &["EXISTS", "jobs"]), 0);

    // A waiter whose client hangs up leaves the queue: the next push is not lost to it.
    {
        let mut gone = redis_support::raw(addr);
        use std::io::Write;
        gone.write_all(b"BLPOP lost 0\r\n").unwrap();
        wait_blocked(c, 1);
    }
    wait_blocked(c, 0);
    assert_eq!(q::<i64>(c, &["RPUSH", "lost", "kept"]), 1);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "lost", "0", "-1"]),
        ["kept"]
    );
}

#[test]
fn hashes_sets_sorted_sets() {
    let (_server, addr) = start(&[]);
    let c = &mut conn(addr);
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "3", "c", "4"]), 1);
    assert_eq!(q::<String>(c, &["HGET", "h", "a"]), "3");
    assert_eq!(q::<Option<String>>(c, &["HGET", "h", "zz"]), None);
    assert_eq!(q::<Option<String>>(c, &["HGET", "nokey", "a"]), None);
    assert_eq!(q::<i64>(c, &["HLEN", "h"]), 3);
    let mut all: Vec<(String, String)> = q(c, &["HGETALL", "h"]);
    all.sort();
    assert_eq!(
        all,
        [("a", "3"), ("b", "2"), ("c", "4")].map(|(f, v)| (f.to_string(), v.to_string()))
    );
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "a", "-5"]), -2);
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "new", "7"]), 7);
    q::<i64>(c, &["HSET", "h", "text", "x"]);
    assert_eq!(
        err(c, &["HINCRBY", "h", "text", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(err(c, &["HINCRBY", "h", "a", "x"]), NOT_INT);
    q::<i64>(c, &["HSET", "h", "max", "9223372036854775807"]);
    assert_eq!(
        err(c, &["HINCRBY", "h", "max", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(q::<i64>(c, &["HDEL", "h", "a", "b", "nope"]), 2);
    assert_eq!(
        err(c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(q::<i64>(c, &["HDEL", "h", "c", "new", "text", "max"]), 4);
    assert_eq!(
        q::<i64>(c, &["EXISTS", "h"]),
        0,
        "an emptied hash is deleted"
    );

    assert_eq!(q::<i64>(c, &["SADD", "s", "a", "b", "a"]), 2);
    assert_eq!(q::<i64>(c, &["SADD", "s", "b", "c"]), 1);
    assert_eq!(q::<i64>(c, &["SCARD", "s"]), 3);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "s", "a"]), 1);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "s", "z"]), 0);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "nokey", "z"]), 0);
    let mut m: Vec<String> = q(c, &["SMEMBERS", "s"]);
    m.sort();
    assert_eq!(m, ["a", "b", "c"]);
    assert_eq!(q::<i64>(c, &["SREM", "s", "a", "z"]), 1);
    assert_eq!(q::<i64>(c, &["SREM", "s", "b", "c"]), 2);
    assert_eq!(q::<i64>(c, &["EXISTS", "s"]), 0);
    assert_eq!(q::<i64>(c, &["SCARD", "s"]), 0);

    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "1", "a", "2.5", "b", "-inf", "c"]),
        3
    );
    assert_eq!(q::<i64>(c, &["ZADD", "z", "0.1", "d", "1", "a"]), 1);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        [
            "c",
            "-inf",
            "d",
            "0.10000000000000001",
            "a",
            "1",
            "b",
            "2.5"
        ]
    );
    assert_eq!(q::<Vec<String>>(c, &["ZRANGE", "z", "1", "2"]), ["d", "a"]);
    assert_eq!(q::<Vec<String>>(c, &["ZRANGE", "z", "-1", "-1"]), ["b"]);
    assert_eq!(q::<String>(c, &["ZSCORE", "z", "b"]), "2.5");
    assert_eq!(q::<Option<String>>(c, &["ZSCORE", "z", "nope"]), None);
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 4);
    assert_eq!(q::<i64>(c, &["ZCARD", "nokey"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "CH", "5", "a", "6", "e"]), 2);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "NX", "9", "a"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "XX", "9", "new"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "GT", "CH", "1", "a"]), 0);
    assert_eq!(q::<String>(c, &["ZSCORE", "z", "a"]), "5");
    assert_eq!(q::<String>(c, &["ZADD", "z", "INCR", "2", "a"]), "7");
    // Equal scores rank by member.
    assert_eq!(q::<i64>(c, &["ZADD", "tie", "1", "b", "1", "a"]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "tie", "0", "-1"]),
        ["a", "b"]
    );
    assert_eq!(
        err(c, &["ZADD", "z", "abc", "m"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "nan", "m"]),
        "ERR value is not a valid float"
    );
    assert_eq!(err(c, &["ZADD", "z", "1", "m", "2"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZADD", "z", "NX", "XX", "1", "m"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "NX", "GT", "1", "m"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "1", "BOGUS"]),
        "ERR syntax error"
    );
    assert_eq!(err(c, &["ZRANGE", "z", "a", "1"]), NOT_INT);

    q::<String>(c, &["SET", "str", "v"]);
    for cmd in [
        &["HSET", "str", "f", "v"][..],
        &["HGET", "str", "f"],
        &["HDEL", "str", "f"],
        &["HGETALL", "str"],
        &["HLEN", "str"],
        &["HINCRBY", "str", "f", "1"],
        &["SADD", "str", "m"],
        &["SREM", "str", "m"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "m"],
        &["SCARD", "str"],
        &["ZADD", "str", "1", "m"],
        &["ZRANGE", "str", "0", "1"],
        &["ZSCORE", "str", "m"],
        &["ZCARD", "str"],
    ] {
        assert_eq!(err(c, cmd), WRONGTYPE, "{cmd:?}");
    }
}

#[test]
fn server_commands_and_errors() {
    let (server, addr) = start(&[]);
    let c = &mut conn(addr);
    assert_eq!(
        err(c, &["NOSUCH", "a", "b"]),
        "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        err(c, &["nosuch"]),
        "ERR unknown command 'nosuch', with args beginning with: "
    );
    for (cmd, name) in [
        (&["GET"][..], "get"),
        (&["set", "k"], "set"),
        (&["ECHO"], "echo"),
        (&["PING", "a", "b"], "ping"),
        (&["DEL"], "del"),
        (&["LPUSH", "k"], "lpush"),
        (&["ZADD", "k", "1"], "zadd"),
        (&["SUBSCRIBE"], "subscribe"),
        (&["PUBLISH", "ch"], "publish"),
        (&["CONFIG", "GET"], "config|get"),
        (&["CLIENT", "SETNAME"], "client|setname"),
    ] {
        assert_eq!(
            err(c, cmd),
            format!("ERR wrong number of arguments for '{name}' command"),
            "{cmd:?}"
        );
    }

    // What redis-benchmark asks.
    assert_eq!(
        q::<Vec<String>>(c, &["CONFIG", "GET", "save"]),
        ["save", ""]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["CONFIG", "GET", "appendonly"]),
        ["appendonly", "no"]
    );
    assert_eq!(
        q::<Vec<String>>(c, &["CONFIG", "GET", "proto-max-*"]),
        ["proto-max-bulk-len", "536870912"]
    );
    assert_eq!(
        err(c, &["CONFIG", "SET", "x", "y"]),
        "ERR unknown subcommand 'SET'. Try CONFIG HELP."
    );
    // What redis-cli asks.
    assert_eq!(
        q::<Vec<Value>>(c, &["COMMAND", "DOCS"]),
        Vec::<Value>::new()
    );
    let count: i64 = q(c, &["COMMAND", "COUNT"]);
    let all: Vec<Value> = q(c, &["COMMAND"]);
    assert_eq!(all.len() as i64, count);
    assert!(count >= 60, "{count} commands");
    assert_eq!(
        err(c, &["COMMAND", "BOGUS"]),
        "ERR unknown subcommand 'BOGUS'. Try COMMAND HELP."
    );

    q::<String>(c, &["SET", "a", "1"]);
    q::<String>(c, &["SET", "b", "1", "EX", "100"]);
    let info: String = q(c, &["INFO"]);
    assert!(info.starts_with("# Server\r\n"), "{info}");
    assert!(info.contains("redis_version:"), "{info}");
    assert!(
        info.contains(&format!("tcp_port:{}\r\n", addr.port())),
        "{info}"
    );
    assert!(
        info.contains(&format!("process_id:{}\r\n", server.pid())),
        "{info}"
    );
    assert!(
        info.contains("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0"),
        "{info}"
    );
    let keyspace: String = q(c, &["INFO", "keyspace"]);
    assert_eq!(keyspace, "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n");
    assert_eq!(info_field(c, "connected_clients"), "1");

    assert_eq!(q::<Option<String>>(c, &["CLIENT", "GETNAME"]), None);
    assert_eq!(q::<String>(c, &["CLIENT", "SETNAME", "worker-1"]), "OK");
    assert_eq!(q::<String>(c, &["CLIENT", "GETNAME"]), "worker-1");
    assert_eq!(
        err(c, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        err(c, &["CLIENT", "BOGUS"]),
        "ERR unknown subcommand 'BOGUS'. Try CLIENT HELP."
    );
    let other = &mut conn(addr);
    assert_eq!(
        q::<Option<String>>(other, &["CLIENT", "GETNAME"]),
        None,
        "names are per connection"
    );

    assert_eq!(q::<String>(c, &["QUIT"]), "OK");
}

#[test]
fn pubsub_through_the_client() {
    let (_server, addr) = start(&[]);
    let mut sub_con = conn(addr);
    let c = &mut conn(addr);
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").unwrap();
    sub.psubscribe("n*").unwrap();
    assert_eq!(q::<i64>(c, &["PUBLISH", "news", "hello"]), 2);
    assert_eq!(q::<i64>(c, &["PUBLISH", "nothing-here", "x"]), 1);
    assert_eq!(q::<i64>(c, &["PUBLISH", "other", "x"]), 0);
    let m = sub.get_message().unwrap();
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("news", "hello".into())
    );
    assert!(!m.from_pattern());
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("news", "hello".into())
    );
    let m = sub.get_message().unwrap();
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap()),
        ("nothing-here", "x".into())
    );
    sub.unsubscribe("news").unwrap();
    sub.punsubscribe("n*").unwrap();
    drop(sub);
    // Out of subscriber mode, ordinary commands work again on the same connection.
    assert_eq!(q::<i64>(c, &["PUBLISH", "news", "again"]), 0);
    assert_eq!(q::<String>(&mut sub_con, &["SET", "k", "v"]), "OK");
}
