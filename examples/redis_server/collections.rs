//! The list, hash, set and sorted-set commands.

use std::collections::HashSet;
use std::time::Duration;

use crate::commands::{
    eq, typed, typed_mut, typed_or_insert, wrong_arity, BlockOn, Client, Flow, Server, NOT_FLOAT,
    NOT_INT, OVERFLOW, SYNTAX, WRONGTYPE,
};
use crate::resp::{self, parse_f64, parse_i64, Args};
use crate::store::{Value, ZSet};

// Lists.

fn push(srv: &Server, a: &Args, left: bool, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let key = a.get(1);
    // Type check before creating, so a WRONGTYPE leaves nothing behind.
    if let Some(e) = st.get(key) {
        if !matches!(e.value, Value::List(_)) {
            return resp::error(out, WRONGTYPE);
        }
    }
    let Ok(list) = typed_or_insert!(st, key, List) else {
        unreachable!("checked above")
    };
    for v in a.iter_from(2) {
        if left {
            list.push_front(v.to_vec());
        } else {
            list.push_back(v.to_vec());
        }
    }
    resp::int(out, list.len() as i64);
    st.serve_blocked(key);
}

pub(crate) fn lpush(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    push(srv, a, true, out);
}

pub(crate) fn rpush(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    push(srv, a, false, out);
}

fn pop(srv: &Server, a: &Args, left: bool, out: &mut Vec<u8>) {
    if a.len() > 3 {
        return wrong_arity(if left { "lpop" } else { "rpop" }, out);
    }
    let count = if a.len() == 3 {
        match parse_i64(a.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return resp::error(out, "ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let mut st = srv.store.borrow_mut();
    let key = a.get(1);
    let list = match typed_mut!(st, key, List) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => {
            return match count {
                Some(_) => resp::null_array(out),
                None => resp::null(out),
            }
        }
        Ok(Some(l)) => l,
    };
    let mut one = || {
        if left {
            list.pop_front()
        } else {
            list.pop_back()
        }
    };
    match count {
        None => match one() {
            Some(v) => resp::bulk(out, &v),
            None => resp::null(out),
        },
        Some(n) => {
            let items: Vec<Vec<u8>> = std::iter::from_fn(one).take(n).collect();
            resp::array(out, items.len());
            for v in &items {
                resp::bulk(out, v);
            }
        }
    }
    st.remove_if_empty(key);
}

pub(crate) fn lpop(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    pop(srv, a, true, out);
}

pub(crate) fn rpop(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    pop(srv, a, false, out);
}

pub(crate) fn llen(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), List) {
        Ok(l) => resp::int(out, l.map_or(0, |l| l.len() as i64)),
        Err(()) => resp::error(out, WRONGTYPE),
    }
}

/// Clamps Redis's inclusive, possibly negative `start..=stop` to a range of a `len`-long
/// sequence; `None` if empty.
fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

pub(crate) fn lrange(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let (Some(start), Some(stop)) = (parse_i64(a.get(2)), parse_i64(a.get(3))) else {
        return resp::error(out, NOT_INT);
    };
    let mut st = srv.store.borrow_mut();
    let list = match typed!(st, a.get(1), List) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => return resp::array(out, 0),
        Ok(Some(l)) => l,
    };
    match index_range(start, stop, list.len()) {
        None => resp::array(out, 0),
        Some((s, e)) => {
            resp::array(out, e - s + 1);
            for v in list.range(s..=e) {
                resp::bulk(out, v);
            }
        }
    }
}

pub(crate) fn lindex(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let Some(i) = parse_i64(a.get(2)) else {
        return resp::error(out, NOT_INT);
    };
    let mut st = srv.store.borrow_mut();
    match typed!(st, a.get(1), List) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(None) => resp::null(out),
        Ok(Some(l)) => {
            let idx = if i < 0 { l.len() as i64 + i } else { i };
            match usize::try_from(idx).ok().and_then(|i| l.get(i)) {
                Some(v) => resp::bulk(out, v),
                None => resp::null(out),
            }
        }
    }
}

fn bpop(srv: &Server, a: &Args, left: bool, out: &mut Vec<u8>) -> Flow {
    let timeout = match parse_f64(a.get(a.len() - 1)) {
        Some(t) if t < 0.0 => {
            resp::error(out, "ERR timeout is negative");
            return Flow::Go;
        }
        Some(t) if t.is_finite() && t < 1e15 => t,
        _ => {
            resp::error(out, "ERR timeout is not a float or out of range");
            return Flow::Go;
        }
    };
    let keys: Vec<&[u8]> = (1..a.len() - 1).map(|i| a.get(i)).collect();
    let mut st = srv.store.borrow_mut();
    for &k in &keys {
        match typed_mut!(st, k, List) {
            Err(()) => {
                resp::error(out, WRONGTYPE);
                return Flow::Go;
            }
            Ok(Some(l)) => {
                let v = if left { l.pop_front() } else { l.pop_back() };
                if let Some(v) = v {
                    resp::array(out, 2);
                    resp::bulk(out, k);
                    resp::bulk(out, &v);
                    st.remove_if_empty(k);
                    return Flow::Go;
                }
            }
            Ok(None) => {}
        }
    }
    Flow::Block(BlockOn {
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        left,
        timeout: (timeout > 0.0).then(|| Duration::from_secs_f64(timeout)),
    })
}

pub(crate) fn blpop(srv: &Server, _: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    bpop(srv, a, true, out)
}

pub(crate) fn brpop(srv: &Server, _: &mut Client, a: &Args, out: &mut Vec<u8>) -> Flow {
    bpop(srv, a, false, out)
}

// Hashes.

pub(crate) fn hset(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    if a.len() % 2 != 0 {
        return wrong_arity("hset", out);
    }
    let mut st = srv.store.borrow_mut();
    if st
        .get(a.get(1))
        .is_some_and(|e| !matches!(e.value, Value::Hash(_)))
    {
        return resp::error(out, WRONGTYPE);
    }
    let Ok(h) = typed_or_insert!(st, a.get(1), Hash) else {
        unreachable!("checked above")
    };
    let mut added = 0;
    for i in (2..a.len()).step_by(2) {
        added += h.insert(a.get(i).to_vec(), a.get(i + 1).to_vec()).is_none() as i64;
    }
    resp::int(out, added);
}

pub(crate) fn hget(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Hash) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(h) => match h.and_then(|h| h.get(a.get(2))) {
            Some(v) => resp::bulk(out, v),
            None => resp::null(out),
        },
    }
}

pub(crate) fn hdel(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let n = match typed_mut!(st, a.get(1), Hash) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(h)) => a.iter_from(2).filter(|f| h.remove(*f).is_some()).count(),
    };
    st.remove_if_empty(a.get(1));
    resp::int(out, n as i64);
}

pub(crate) fn hgetall(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Hash) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(None) => resp::array(out, 0),
        Ok(Some(h)) => {
            resp::array(out, h.len() * 2);
            for (f, v) in h {
                resp::bulk(out, f);
                resp::bulk(out, v);
            }
        }
    }
}

pub(crate) fn hlen(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Hash) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(h) => resp::int(out, h.map_or(0, |h| h.len() as i64)),
    }
}

pub(crate) fn hincrby(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let Some(by) = parse_i64(a.get(3)) else {
        return resp::error(out, NOT_INT);
    };
    let mut st = srv.store.borrow_mut();
    if st
        .get(a.get(1))
        .is_some_and(|e| !matches!(e.value, Value::Hash(_)))
    {
        return resp::error(out, WRONGTYPE);
    }
    let Ok(h) = typed_or_insert!(st, a.get(1), Hash) else {
        unreachable!("checked above")
    };
    let cur = match h.get(a.get(2)) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(n) => n,
            None => return resp::error(out, "ERR hash value is not an integer"),
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return resp::error(out, OVERFLOW);
    };
    let mut s = Vec::with_capacity(20);
    resp::push_int(&mut s, new);
    h.insert(a.get(2).to_vec(), s);
    resp::int(out, new);
}

// Sets.

pub(crate) fn sadd(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    if st
        .get(a.get(1))
        .is_some_and(|e| !matches!(e.value, Value::Set(_)))
    {
        return resp::error(out, WRONGTYPE);
    }
    let Ok(s) = typed_or_insert!(st, a.get(1), Set) else {
        unreachable!("checked above")
    };
    let s: &mut HashSet<Vec<u8>> = s;
    let n = a.iter_from(2).filter(|m| s.insert(m.to_vec())).count();
    resp::int(out, n as i64);
}

pub(crate) fn srem(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut st = srv.store.borrow_mut();
    let n = match typed_mut!(st, a.get(1), Set) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => 0,
        Ok(Some(s)) => a.iter_from(2).filter(|m| s.remove(*m)).count(),
    };
    st.remove_if_empty(a.get(1));
    resp::int(out, n as i64);
}

pub(crate) fn smembers(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Set) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(None) => resp::array(out, 0),
        Ok(Some(s)) => {
            resp::array(out, s.len());
            for m in s {
                resp::bulk(out, m);
            }
        }
    }
}

pub(crate) fn sismember(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Set) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(s) => resp::int(out, s.is_some_and(|s| s.contains(a.get(2))) as i64),
    }
}

pub(crate) fn scard(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), Set) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(s) => resp::int(out, s.map_or(0, |s| s.len() as i64)),
    }
}

// Sorted sets.

pub(crate) fn zadd(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = a.get(i);
        match () {
            _ if eq(o, "nx") => nx = true,
            _ if eq(o, "xx") => xx = true,
            _ if eq(o, "gt") => gt = true,
            _ if eq(o, "lt") => lt = true,
            _ if eq(o, "ch") => ch = true,
            _ if eq(o, "incr") => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = a.len() - i;
    if pairs == 0 || pairs % 2 != 0 {
        return resp::error(out, SYNTAX);
    }
    if nx && xx {
        return resp::error(
            out,
            "ERR XX and NX options at the same time are not compatible",
        );
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return resp::error(
            out,
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        );
    }
    if incr && pairs > 2 {
        return resp::error(
            out,
            "ERR INCR option supports a single increment-element pair",
        );
    }
    let mut scores = Vec::with_capacity(pairs / 2);
    for j in (i..a.len()).step_by(2) {
        match parse_f64(a.get(j)) {
            Some(s) => scores.push((s, a.get(j + 1))),
            None => return resp::error(out, NOT_FLOAT),
        }
    }
    let mut st = srv.store.borrow_mut();
    if st
        .get(a.get(1))
        .is_some_and(|e| !matches!(e.value, Value::ZSet(_)))
    {
        return resp::error(out, WRONGTYPE);
    }
    if xx && st.get(a.get(1)).is_none() {
        // Nothing can be updated; redis-server creates nothing either.
        return if incr {
            resp::null(out)
        } else {
            resp::int(out, 0)
        };
    }
    let Ok(z) = typed_or_insert!(st, a.get(1), ZSet) else {
        unreachable!("checked above")
    };
    let z: &mut ZSet = z;
    let (mut added, mut changed) = (0i64, 0i64);
    let mut incr_result = None;
    for (score, member) in scores {
        let old = z.scores.get(member).copied();
        if (nx && old.is_some()) || (xx && old.is_none()) {
            continue;
        }
        let new = match (incr, old) {
            (true, Some(o)) => o + score,
            _ => score,
        };
        if new.is_nan() {
            st.remove_if_empty(a.get(1));
            return resp::error(out, "ERR resulting score is not a number (NaN)");
        }
        if let Some(o) = old {
            if (gt && new <= o) || (lt && new >= o) {
                continue;
            }
        }
        if z.insert(member, new) {
            added += 1;
        } else if old != Some(new) {
            changed += 1;
        }
        incr_result = Some(new);
    }
    st.remove_if_empty(a.get(1));
    if incr {
        match incr_result {
            Some(v) => resp::bulk_f64(out, v),
            None => resp::null(out),
        }
    } else {
        resp::int(out, if ch { added + changed } else { added });
    }
}

pub(crate) fn zrange(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    let mut with_scores = false;
    for o in a.iter_from(4) {
        if eq(o, "withscores") {
            with_scores = true;
        } else {
            return resp::error(out, SYNTAX);
        }
    }
    let (Some(start), Some(stop)) = (parse_i64(a.get(2)), parse_i64(a.get(3))) else {
        return resp::error(out, NOT_INT);
    };
    let mut st = srv.store.borrow_mut();
    let z = match typed!(st, a.get(1), ZSet) {
        Err(()) => return resp::error(out, WRONGTYPE),
        Ok(None) => return resp::array(out, 0),
        Ok(Some(z)) => z,
    };
    let Some((s, e)) = index_range(start, stop, z.ranked.len()) else {
        return resp::array(out, 0);
    };
    let n = e - s + 1;
    resp::array(out, if with_scores { 2 * n } else { n });
    for (score, m) in z.ranked.iter().skip(s).take(n) {
        resp::bulk(out, m);
        if with_scores {
            resp::bulk_f64(out, score.0);
        }
    }
}

pub(crate) fn zscore(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), ZSet) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(z) => match z.and_then(|z| z.scores.get(a.get(2))) {
            Some(&s) => resp::bulk_f64(out, s),
            None => resp::null(out),
        },
    }
}

pub(crate) fn zcard(srv: &Server, a: &Args, out: &mut Vec<u8>) {
    match typed!(srv.store.borrow_mut(), a.get(1), ZSet) {
        Err(()) => resp::error(out, WRONGTYPE),
        Ok(z) => resp::int(out, z.map_or(0, |z| z.scores.len() as i64)),
    }
}
