//! The command table and its dispatch, and the string, key, pub/sub and server commands
//! (the list, hash, set and sorted-set ones are in `collections`). Each command checks its
//! arguments, runs the store operation and appends its reply.
//!
//! Error replies copy redis-server 7.0's wording (checked against `redis-server` 7.0.15): an
//! unknown command, a wrong number of arguments, `WRONGTYPE`, a value that is not an integer
//! or float, an overflow, a syntax error, and the subscriber-mode refusal.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::TcpStream;

use crate::collections::*;
use crate::pubsub::{PubSub, Subscriber, Subscriptions};
use crate::resp::{self, parse_i64, Args};
use crate::store::{glob_match, now_ms, Store, Value};

pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
pub(crate) const NOT_INT: &str = "ERR value is not an integer or out of range";
pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
pub(crate) const SYNTAX: &str = "ERR syntax error";
pub(crate) const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// Settings from the command line.
pub struct Config {
    /// The largest bulk string a request may carry, in bytes (`proto-max-bulk-len`).
    pub max_bulk: usize,
    /// Unsent bytes a subscriber may have queued before it is disconnected.
    pub output_limit: usize,
    /// How long a write may make no progress before the client is disconnected.
    pub write_timeout: Duration,
    /// The port the server listens on (for `INFO` and `CONFIG GET port`).
    pub port: u16,
}

/// State shared by every connection of the server; it lives on the server's one hub.
pub struct Server {
    /// The keyspace.
    pub store: RefCell<Store>,
    /// Channel and pattern subscriptions.
    pub pubsub: RefCell<PubSub>,
    /// Settings.
    pub cfg: Config,
    /// When the server started (`uptime_in_seconds`).
    pub started: Instant,
    /// Connections open now.
    pub clients: Cell<usize>,
    /// Connections parked in `BLPOP`/`BRPOP` now.
    pub blocked: Cell<usize>,
    /// Connections accepted since start.
    pub total_connections: Cell<u64>,
    /// Commands executed since start.
    pub total_commands: Cell<u64>,
}

/// One connection's state seen by commands.
pub struct Client {
    /// A server-unique id (`CLIENT ID`).
    pub id: u64,
    /// Set by `CLIENT SETNAME`.
    pub name: Option<Vec<u8>>,
    /// The socket.
    pub stream: Rc<TcpStream>,
    /// The outgoing queue, once the connection has subscribed to something; from then on all
    /// its replies go through it.
    pub sub: Option<Rc<Subscriber>>,
    /// Its channels and patterns; non-empty means subscriber mode.
    pub subs: Subscriptions,
}

/// A `BLPOP`/`BRPOP` that found nothing to pop: the connection parks on these keys.
pub struct BlockOn {
    /// The keys, in argument order.
    pub keys: Vec<Vec<u8>>,
    /// `BLPOP` (head) or `BRPOP` (tail).
    pub left: bool,
    /// How long to wait; `None` forever.
    pub timeout: Option<Duration>,
}

/// What the connection does after a command.
pub enum Flow {
    /// Go on with the next command.
    Go,
    /// Send the replies so far and close (`QUIT`).
    Close,
    /// Park until a push serves it or the timeout passes.
    Block(BlockOn),
}

type Plain = fn(&Server, &Args, &mut Vec<u8>);
type WithClient = fn(&Server, &mut Client, &Args, &mut Vec<u8>) -> Flow;

/// How a command runs.
#[derive(Clone, Copy)]
enum Run {
    /// Needs only the server.
    Plain(Plain),
    /// Needs the connection too, and may block or close it.
    Client(WithClient),
}

/// One entry of the command table.
pub struct Command {
    /// Lower-case name, as errors print it.
    pub name: &'static str,
    /// redis-server's arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// The implementation.
    run: Run,
    /// Allowed in subscriber mode.
    pubsub_ok: bool,
}

macro_rules! table {
    ($($name:literal $arity:literal $kind:ident $f:ident $($ps:ident)?;)*) => {
        /// Every command, hot ones first (lookup is a scan).
        pub static COMMANDS: &[Command] = &[
            $(Command { name: $name, arity: $arity, run: Run::$kind($f), pubsub_ok: table!(@ps $($ps)?) },)*
        ];
    };
    (@ps) => { false };
    (@ps pubsub) => { true };
}

table! {
    "get" 2 Plain get;
    "set" -3 Plain set;
    "incr" 2 Plain incr;
    "lpush" -3 Plain lpush;
    "rpush" -3 Plain rpush;
    "lpop" -2 Plain lpop;
    "rpop" -2 Plain rpop;
    "ping" -1 Client ping pubsub;
    "decr" 2 Plain decr;
    "incrby" 3 Plain incrby;
    "decrby" 3 Plain decrby;
    "getset" 3 Plain getset;
    "del" -2 Plain del;
    "exists" -2 Plain exists;
    "append" 3 Plain append;
    "strlen" 2 Plain strlen;
    "mget" -2 Plain mget;
    "mset" -3 Plain mset;
    "expire" -3 Plain expire;
    "pexpire" -3 Plain pexpire;
    "ttl" 2 Plain ttl;
    "pttl" 2 Plain pttl;
    "persist" 2 Plain persist;
    "keys" 2 Plain keys;
    "dbsize" 1 Plain dbsize;
    "flushall" -1 Plain flushall;
    "flushdb" -1 Plain flushall;
    "type" 2 Plain type_;
    "select" 2 Plain select;
    "echo" 2 Plain echo;
    "llen" 2 Plain llen;
    "lrange" 4 Plain lrange;
    "lindex" 3 Plain lindex;
    "blpop" -3 Client blpop;
    "brpop" -3 Client brpop;
    "hset" -4 Plain hset;
    "hget" 3 Plain hget;
    "hdel" -3 Plain hdel;
    "hgetall" 2 Plain hgetall;
    "hlen" 2 Plain hlen;
    "hincrby" 4 Plain hincrby;
    "sadd" -3 Plain sadd;
    "srem" -3 Plain srem;
    "smembers" 2 Plain smembers;
    "sismember" 3 Plain sismember;
    "scard" 2 Plain scard;
    "zadd" -4 Plain zadd;
    "zrange" -4 Plain zrange;
    "zscore" 3 Plain zscore;
    "zcard" 2 Plain zcard;
    "publish" 3 Plain publish;
    "subscribe" -2 Client subscribe pubsub;
    "unsubscribe" -1 Client unsubscribe pubsub;
    "psubscribe" -2 Client psubscribe pubsub;
    "punsubscribe" -1 Client punsubscribe pubsub;
    "config" -2 Plain config;
    "command" -1 Plain command;
    "info" -1 Client info;
    "client" -2 Client client;
    "quit" -1 Client quit pubsub;
}

/// Runs the command in `args` (non-empty) and appends its reply to `out`.
pub fn execute(srv: &Server, c: &mut Client, args: &Args, out: &mut Vec<u8>) -> Flow {
    srv.total_commands.set(srv.total_commands.get() + 1);
    let name = args.get(0);
    let Some(cmd) = COMMANDS
        .iter()
        .find(|cmd| cmd.name.len() == name.len() && cmd.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        unknown_command(args, out);
        return Flow::Go;
    };
    let n = args.len() as i32;
    if (cmd.arity > 0 && n != cmd.arity) || n < -cmd.arity {
        wrong_arity(cmd.name, out);
        return Flow::Go;
    }
    if c.subs.count() > 0 && !cmd.pubsub_ok {
        resp::error(
            out,
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
                 QUIT / RESET are allowed in this context",
                cmd.name
            ),
        );
        return Flow::Go;
    }
    match cmd.run {
        Run::Plain(f) => {
            f(srv, args, out);
            Flow::Go
        }
        Run::Client(f) => f(srv, c, args, out),
    }
}

fn unknown_command(args: &Args, out: &mut Vec<u8>) {
    // redis-server: the name and the first arguments, 128 bytes at most of each part.
    let name = lossy(args.get(0), 128);
    let mut rest = String::new();
    for a in args.iter_from(1) {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push_str(&format!("'{}' ", lossy(a, room)));
    }
    resp::error(
        out,
        &format!("ERR unknown command '{name}', with args beginning with: {rest}"),
    );
}

fn lossy(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

pub(crate) fn wrong_arity(name: &str, out: &mut Vec<u8>) {
    resp::error(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    );
}

pub(crate) fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// The value of `key` if it holds the variant `pat`; `Err(())` if it holds another type.
macro_rules! typed {
    ($st:expr, $key:expr, $pat:ident) => {
        match $st.get($key) {
            None => Ok(None),
            Some(e) => match &e.value {
                Value::$pat(v) => Ok(Some(v)),
                _ => Err(()),
            },
        }
    };
}
pub(crate) use typed;

/// Like `typed!` but mutable.
macro_rules! typed_mut {
    ($st:expr, $key:expr, $pat:ident) => {
        match $st.get_mut($key) {
            None => Ok(None),
            Some(e) => match &mut e.value {
                Value::$pat(v) => Ok(Some(v)),
                _ => Err(()),
            },
        }
    };
}
pub(crate) use typed_mut;

/// The value of `key` of variant `pat`, created empty if missing; `Err(())` on another type.
macro_rules! typed_or_insert {
    ($st:expr, $key:expr, $pat:ident) => {
        match &mut $st
            .get_or_insert($key, || Value::$pat(Default::default()))
            .value
        {
            Value::$pat(v) => Ok(v),
            _ => Err(()),
        }
    };
}
pub(crate) use typed_or_insert;

// Strings and keys.

fn get(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Str) {
        Ok(Some(v)) => resp::bulk(out, v),
        Ok(None) => resp::null(out),
        Err(()) => resp::error(out, WRONGTYPE),
    }
}

/// Turns a relative expire time into a Unix-millisecond deadline; `None` on overflow.
fn deadline(amount: i64, unit_ms: i64) -> Option<u64> {
    let ms = amount.checked_mul(unit_ms)?;
    let at = (now_ms() as i64).checked_add(ms)?;
    Some(at.max(0) as u64)
}

fn set(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let (mut nx, mut xx, mut want_get, mut keep_ttl) = (false, false, false, false);
    let mut expire: Option<u64> = None;
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i);
        if eq(opt, "nx") && !xx {
            nx = true;
        } else if eq(opt, "xx") && !nx {
            xx = true;
        } else if eq(opt, "get") {
            want_get = true;
        } else if eq(opt, "keepttl") && expire.is_none() {
            keep_ttl = true;
        } else if (eq(opt, "ex") || eq(opt, "px")) && expire.is_none() && !keep_ttl {
            let Some(v) = (i + 1 < a.len()).then(|| a.get(i + 1)) else {
                return resp::error(out, SYNTAX);
            };
            let Some(v) = parse_i64(v) else {
                return resp::error(out, NOT_INT);
            };
            let unit = if eq(opt, "ex") { 1000 } else { 1 };
            match deadline(v, unit) {
                Some(t) if v > 0 => expire = Some(t),
                _ => return resp::error(out, "ERR invalid expire time in 'set' command"),
            }
            i += 1;
        } else {
            return resp::error(out, SYNTAX);
        }
        i += 1;
    }
    let mut st = srv.store.borrow_mut();
    let (key, val) = (a.get(1), a.get(2));
    let old = st.get(key);
    if want_get {
        match old.map(|e| &e.value) {
            None => resp::null(out),
            Some(Value::Str(s)) => resp::bulk(out, s),
            Some(_) => return resp::error(out, WRONGTYPE),
        }
    }
    let exists = old.is_some();
    if (nx && exists) || (xx && !exists) {
        if !want_get {
            resp::null(out);
        }
        return;
    }
    st.set_str(key, val, expire, keep_ttl);
    if !want_get {
        resp::ok(out);
    }
}

fn getset(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    match typed!(st, a.get(1), Str) {
        Ok(Some(v)) => resp::bulk(out, v),
        Ok(None) => resp::null(out),
        Err(()) => return resp::error(out, WRONGTYPE),
    }
    st.set_str(a.get(1), a.get(2), None, false);
}

fn del(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let n = a.iter_from(1).filter(|k| st.remove(k)).count();
    resp::int(out, n as i64);
}

fn exists(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let n = a.iter_from(1).filter(|k| st.get(k).is_some()).count();
    resp::int(out, n as i64);
}

fn incr_by(srv: &Server, key: &[u8], by: i64, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let cur = match typed_mut!(st, key, Str) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(v)) => match parse_i64(v) {
            Some(n) => n,
            None => return resp::error(out, NOT_INT),
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return resp::error(out, OVERFLOW);
    };
    let mut s = Vec::with_capacity(20);
    resp::push_int(&mut s, new);
    st.set_str(key, &s, None, true);
    resp::int(out, new);
}

fn incr(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    incr_by(srv, a.get(1), 1, out);
}

fn decr(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    incr_by(srv, a.get(1), -1, out);
}

fn incrby(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match parse_i64(a.get(2)) {
        Some(by) => incr_by(srv, a.get(1), by, out),
        None => resp::error(out, NOT_INT),
    }
}

fn decrby(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match parse_i64(a.get(2)) {
        Some(i64::MIN) => resp::error(out, "ERR decrement would overflow"),
        Some(by) => incr_by(srv, a.get(1), -by, out),
        None => resp::error(out, NOT_INT),
    }
}

fn append(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    match typed_or_insert!(st, a.get(1), Str) {
        Ok(s) => {
            s.extend_from_slice(a.get(2));
            resp::int(out, s.len() as i64);
        }
        Err(()) => resp::error(out, WRONGTYPE),
    }
}

fn strlen(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Str) {
        Ok(v) => resp::int(out, v.map_or(0, |s| s.len() as i64)),
        Err(()) => resp::error(out, WRONGTYPE),
    }
}

fn mget(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    resp::array(out, a.len() - 1);
    for k in a.iter_from(1) {
        match st.get(k).map(|e| &e.value) {
            Some(Value::Str(s)) => resp::bulk(out, s),
            _ => resp::null(out),
        }
    }
}

fn mset(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    if a.len() % 2 == 0 {
        wrong_arity("mset", out);
        return;
    }
    let mut st = srv.store.borrow_mut();
    for i in (1..a.len()).step_by(2) {
        st.set_str(a.get(i), a.get(i + 1), None, false);
    }
    resp::ok(out);
}

fn expire_generic(srv: &Server, a: &Args, unit_ms: i64, name: &str, out: &mut Vec<u8>) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter_from(3) {
        if eq(opt, "nx") {
            nx = true;
        } else if eq(opt, "xx") {
            xx = true;
        } else if eq(opt, "gt") {
            gt = true;
        } else if eq(opt, "lt") {
            lt = true;
        } else {
            let opt = lossy(opt, 128);
            return resp::error(out, &format!("ERR Unsupported option {opt}"));
        }
    }
    if nx && (xx || gt || lt) {
        return resp::error(
            out,
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        );
    }
    if gt && lt {
        return resp::error(
            out,
            "ERR GT and LT options at the same time are not compatible",
        );
    }
    let Some(amount) = parse_i64(a.get(2)) else {
        return resp::error(out, NOT_INT);
    };
    let Some(at) = deadline(amount, unit_ms) else {
        return resp::error(out, &format!("ERR invalid expire time in '{name}' command"));
    };
    let mut st = srv.store.borrow_mut();
    let key = a.get(1);
    let Some(cur) = st.get(key).map(|e| e.expire) else {
        return resp::int(out, 0);
    };
    // No deadline counts as an infinite one for GT and LT.
    let applies = !(nx && cur.is_some()
        || xx && cur.is_none()
        || gt && cur.is_none_or(|c| at <= c)
        || lt && cur.is_some_and(|c| at >= c));
    if !applies {
        return resp::int(out, 0);
    }
    if at <= now_ms() {
        st.remove(key);
    } else {
        st.set_expire(key, Some(at));
    }
    resp::int(out, 1);
}

fn expire(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    expire_generic(srv, a, 1000, "expire", out);
}

fn pexpire(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    expire_generic(srv, a, 1, "pexpire", out);
}

fn ttl_generic(srv: &Server, a: &Args, ms: bool, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let n = match st.get(a.get(1)) {
        None => -2,
        Some(e) => match e.expire {
            None => -1,
            Some(t) => {
                let left = t.saturating_sub(now_ms()) as i64;
                if ms {
                    left
                } else {
                    (left + 500) / 1000
                }
            }
        },
    };
    resp::int(out, n);
}

fn ttl(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    ttl_generic(srv, a, false, out);
}

fn pttl(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    ttl_generic(srv, a, true, out);
}

fn persist(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let had = st.get(a.get(1)).is_some_and(|e| e.expire.is_some());
    if had {
        st.set_expire(a.get(1), None);
    }
    resp::int(out, had as i64);
}

fn keys(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let st = srv.store.borrow();
    let found = st.keys(a.get(1));
    resp::array(out, found.len());
    for k in found {
        resp::bulk(out, k);
    }
}

fn dbsize(srv: &Server, _: &Args, out: &mut Vec<u8>) {
    resp::int(out, srv.store.borrow().len() as i64);
}

fn flushall(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    if a.len() > 2 || (a.len() == 2 && !eq(a.get(1), "sync") && !eq(a.get(1), "async")) {
        return resp::error(out, SYNTAX);
    }
    srv.store.borrow_mut().clear();
    resp::ok(out);
}

fn type_(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    resp::simple(
        out,
        st.get(a.get(1)).map_or("none", |e| e.value.type_name()),
    );
}

fn select(_: &Server, a: &Args, out: &mut Vec<u8>) {
    match parse_i64(a.get(1)) {
        Some(0) => resp::ok(out),
        Some(_) => resp::error(out, "ERR DB index is out of range"),
        None => resp::error(out, NOT_INT),
    }
}

fn echo(_: &Server, a: &Args, out: &mut Vec<u8>) {
    resp::bulk(out, a.get(1));
}

fn ping(_: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    if a.len() > 2 {
        wrong_arity("ping", out);
        return Flow::Go;
    }
    if c.subs.count() > 0 {
        // In subscriber mode redis-server answers with a two-element array.
        resp::array(out, 2);
        resp::bulk(out, b"pong");
        resp::bulk(out, if a.len() == 2 { a.get(1) } else { b"" });
    } else if a.len() == 2 {
        resp::bulk(out, a.get(1));
    } else {
        out.extend_from_slice(b"+PONG\r\n");
    }
    Flow::Go
}

// Publish/subscribe.

fn publish(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let n = srv.pubsub.borrow().publish(a.get(1), a.get(2));
    resp::int(out, n);
}

fn subscribe_generic(srv: &Server, c: &mut Client, a: &Args, pattern: bool, out: &mut Vec<u8>) {
    let sub = c
        .sub
        .get_or_insert_with(|| Subscriber::start(c.id, c.stream.clone(), srv.cfg.output_limit))
        .clone();
    let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
    for name in a.iter_from(1) {
        if srv.pubsub.borrow_mut().add(pattern, name, &sub) {
            c.subs.list(pattern).push(name.to_vec());
        }
        resp::array(out, 3);
        resp::bulk(out, kind);
        resp::bulk(out, name);
        resp::int(out, c.subs.count() as i64);
    }
}

fn unsubscribe_generic(srv: &Server, c: &mut Client, a: &Args, pattern: bool, out: &mut Vec<u8>) {
    let kind: &[u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter_from(1).map(<[u8]>::to_vec).collect()
    } else {
        c.subs.list(pattern).clone()
    };
    if names.is_empty() {
        resp::array(out, 3);
        resp::bulk(out, kind);
        resp::null(out);
        resp::int(out, c.subs.count() as i64);
        return;
    }
    for name in names {
        srv.pubsub.borrow_mut().remove(pattern, &name, c.id);
        c.subs.list(pattern).retain(|n| *n != name);
        resp::array(out, 3);
        resp::bulk(out, kind);
        resp::bulk(out, &name);
        resp::int(out, c.subs.count() as i64);
    }
}

fn subscribe(srv: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    subscribe_generic(srv, c, a, false, out);
    Flow::Go
}

fn psubscribe(srv: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    subscribe_generic(srv, c, a, true, out);
    Flow::Go
}

fn unsubscribe(srv: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    unsubscribe_generic(srv, c, a, false, out);
    Flow::Go
}

fn punsubscribe(srv: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    unsubscribe_generic(srv, c, a, true, out);
    Flow::Go
}

// Server and connection.

/// The parameters `CONFIG GET` knows (redis-benchmark asks for `save` and `appendonly`).
fn config_params(srv: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("databases", "1".into()),
        ("maxmemory", "0".into()),
        ("port", srv.cfg.port.to_string()),
        ("timeout", "0".into()),
        ("proto-max-bulk-len", srv.cfg.max_bulk.to_string()),
        (
            "client-output-buffer-limit",
            format!(
                "normal 0 0 0 slave 0 0 0 pubsub {} {} {}",
                srv.cfg.output_limit,
                srv.cfg.output_limit,
                srv.cfg.write_timeout.as_secs()
            ),
        ),
    ]
}

fn config(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let sub = a.get(1);
    if !eq(sub, "get") {
        let sub = lossy(sub, 128);
        return resp::error(
            out,
            &format!("ERR unknown subcommand '{sub}'. Try CONFIG HELP."),
        );
    }
    if a.len() < 3 {
        return wrong_arity("config|get", out);
    }
    let params = config_params(srv);
    let found: Vec<&(&str, String)> = params
        .iter()
        .filter(|(name, _)| {
            a.iter_from(2)
                .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .collect();
    resp::array(out, found.len() * 2);
    for (name, value) in found {
        resp::bulk(out, name.as_bytes());
        resp::bulk(out, value.as_bytes());
    }
}

fn command(_: &Server, a: &Args, out: &mut Vec<u8>) {
    if a.len() == 1 {
        // COMMAND: name, arity, flags, first key, last key, step, ACL categories, tips, key
        // specs, subcommands (redis-server 7's shape, with empty flags and specs).
        resp::array(out, COMMANDS.len());
        for c in COMMANDS {
            resp::array(out, 10);
            resp::bulk(out, c.name.as_bytes());
            resp::int(out, c.arity as i64);
            for _ in 0..1 {
                resp::array(out, 0);
            }
            for _ in 0..3 {
                resp::int(out, 0);
            }
            for _ in 0..4 {
                resp::array(out, 0);
            }
        }
        return;
    }
    let sub = a.get(1);
    if eq(sub, "docs") {
        // A minimal answer: no documentation, which redis-cli accepts.
        resp::array(out, 0);
    } else if eq(sub, "count") && a.len() == 2 {
        resp::int(out, COMMANDS.len() as i64);
    } else {
        let sub = lossy(sub, 128);
        resp::error(
            out,
            &format!("ERR unknown subcommand '{sub}'. Try COMMAND HELP."),
        );
    }
}

fn info(srv: &Server, _: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    let want = |s: &str| {
        a.len() == 1
            || a.iter_from(1)
                .any(|w| eq(w, s) || eq(w, "all") || eq(w, "everything") || eq(w, "default"))
    };
    let mut s = String::new();
    if want("server") {
        let up = srv.started.elapsed().as_secs();
        s.push_str(&format!(
            "# Server\r\nredis_version:7.0.15\r\nsprout_example:redis_server\r\n\
             redis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nmultiplexing_api:epoll\r\n\
             process_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\n\
             hz:10\r\nexecutable:{}\r\n\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            usize::BITS,
            std::process::id(),
            srv.cfg.port,
            up / 86400,
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ));
    }
    if want("clients") {
        s.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{}\r\n\r\n",
            srv.clients.get(),
            srv.blocked.get()
        ));
    }
    if want("stats") {
        s.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\r\n",
            srv.total_connections.get(),
            srv.total_commands.get()
        ));
    }
    if want("keyspace") {
        s.push_str("# Keyspace\r\n");
        let st = srv.store.borrow();
        if st.len() > 0 {
            s.push_str(&format!(
                "db0:keys={},expires={},avg_ttl=0\r\n",
                st.len(),
                st.expires()
            ));
        }
        s.push_str("\r\n");
    }
    // Sections are separated by a blank line; none follows the last.
    resp::bulk(out, s.strip_suffix("\r\n").unwrap_or(&s).as_bytes());
    Flow::Go
}

fn client(_: &Server, c: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    let sub = a.get(1);
    if eq(sub, "setname") && a.len() == 3 {
        let name = a.get(2);
        if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            resp::error(
                out,
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        } else {
            c.name = (!name.is_empty()).then(|| name.to_vec());
            resp::ok(out);
        }
    } else if eq(sub, "getname") && a.len() == 2 {
        match &c.name {
            Some(n) => resp::bulk(out, n),
            None => resp::null(out),
        }
    } else if eq(sub, "id") && a.len() == 2 {
        resp::int(out, c.id as i64);
    } else if eq(sub, "setname") || eq(sub, "getname") || eq(sub, "id") {
        let full = format!("client|{}", String::from_utf8_lossy(sub).to_lowercase());
        resp::error(
            out,
            &format!("ERR wrong number of arguments for '{full}' command"),
        );
    } else {
        let sub = lossy(sub, 128);
        resp::error(
            out,
            &format!("ERR unknown subcommand '{sub}'. Try CLIENT HELP."),
        );
    }
    Flow::Go
}

fn quit(_: &Server, _: &mut Client, _: &Args, out: &mut Vec<u8>) -> Flow {
    resp::ok(out);
    Flow::Close
}
