//! The keyspace: one database of typed values with millisecond expiry, and the FIFO queues of
//! connections blocked in `BLPOP`/`BRPOP`.
//!
//! It lives on the server's one hub and is only touched between blocking calls, so a
//! `RefCell` around it is never borrowed across a switch.
//!
//! Expiry works as in redis-server: a key past its deadline is removed when a command touches
//! it (lazy expiry), and the active-expiry greenlet removes the ones nobody touches. Deadlines
//! are Unix milliseconds, as `PEXPIREAT` would take them; the active side keeps a min-heap of
//! `(deadline, key)` that is rebuilt when stale entries outnumber live ones.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use sprout::sync::Event;

/// The current time in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A value and its type.
pub enum Value {
    /// A string (`SET`, `INCR`, `APPEND`).
    Str(Vec<u8>),
    /// A list (`LPUSH`, `RPUSH`).
    List(VecDeque<Vec<u8>>),
    /// A hash (`HSET`).
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    /// A set (`SADD`).
    Set(HashSet<Vec<u8>>),
    /// A sorted set (`ZADD`).
    ZSet(ZSet),
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }
}

/// A key's value and deadline.
pub struct Entry {
    /// The value.
    pub value: Value,
    /// When the key expires, in Unix milliseconds; `None` for a persistent key.
    pub expire: Option<u64>,
}

/// A score with a total order (scores are never NaN: the parser rejects it).
#[derive(Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members by name, and members ordered by (score, member) as redis-server
/// orders them.
#[derive(Default)]
pub struct ZSet {
    /// Each member's score.
    pub scores: HashMap<Vec<u8>, f64>,
    /// Every (score, member), in rank order.
    pub ranked: BTreeSet<(Score, Vec<u8>)>,
}

impl ZSet {
    /// Sets `member`'s score; returns whether the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self.scores.get_mut(member) {
            Some(old) => {
                if *old != score {
                    self.ranked.remove(&(Score(*old), member.to_vec()));
                    self.ranked.insert((Score(score), member.to_vec()));
                    *old = score;
                }
                false
            }
            None => {
                self.scores.insert(member.to_vec(), score);
                self.ranked.insert((Score(score), member.to_vec()));
                true
            }
        }
    }
}

/// A connection parked in `BLPOP`/`BRPOP`, queued on each of its keys.
pub struct Blocked {
    /// Pops from the head (`BLPOP`) or the tail (`BRPOP`).
    pub left: bool,
    /// The (key, element) handed over by a push; set once, by [`Store::serve_blocked`].
    pub served: RefCell<Option<(Vec<u8>, Vec<u8>)>>,
    /// Whether the waiter is finished (served, timed out or gone): queues skip it.
    pub done: Cell<bool>,
    /// Set when `served` is filled; the blocked connection waits on it.
    pub wake: Event,
}

/// The keyspace of the one database, and its blocked clients.
#[derive(Default)]
pub struct Store {
    /// Every key.
    map: HashMap<Vec<u8>, Entry>,
    /// Deadlines for the active-expiry greenlet, soonest first; entries whose key changed
    /// deadline since are stale and skipped.
    deadlines: BinaryHeap<Reverse<(u64, Vec<u8>)>>,
    /// Per key, the connections blocked on it, oldest first.
    blocked: HashMap<Vec<u8>, VecDeque<Rc<Blocked>>>,
}

impl Store {
    /// Removes `key` if its deadline passed; returns whether it exists afterwards.
    fn live(&mut self, key: &[u8]) -> bool {
        match self.map.get(key) {
            None => false,
            Some(Entry {
                expire: Some(t), ..
            }) if *t <= now_ms() => {
                self.map.remove(key);
                false
            }
            Some(_) => true,
        }
    }

    /// The live entry for `key`.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        if !self.live(key) {
            return None;
        }
        self.map.get(key)
    }

    /// The live entry for `key`, to modify in place.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        if !self.live(key) {
            return None;
        }
        self.map.get_mut(key)
    }

    /// The live entry for `key`, created with `make` (persistent) if missing.
    pub fn get_or_insert(&mut self, key: &[u8], make: impl FnOnce() -> Value) -> &mut Entry {
        if !self.live(key) {
            self.map.insert(
                key.to_vec(),
                Entry {
                    value: make(),
                    expire: None,
                },
            );
        }
        self.map.get_mut(key).expect("inserted above")
    }

    /// Sets `key` to the string `val` with deadline `expire` (or keeping the old deadline
    /// when `keep_ttl`), reusing the old string's allocation when there is one.
    pub fn set_str(&mut self, key: &[u8], val: &[u8], expire: Option<u64>, keep_ttl: bool) {
        let live = self.live(key);
        let expire = match self.map.get_mut(key) {
            Some(e) if live => {
                match &mut e.value {
                    Value::Str(s) => {
                        s.clear();
                        s.extend_from_slice(val);
                    }
                    other => *other = Value::Str(val.to_vec()),
                }
                if !keep_ttl {
                    e.expire = expire;
                }
                e.expire
            }
            _ => {
                self.map.insert(
                    key.to_vec(),
                    Entry {
                        value: Value::Str(val.to_vec()),
                        expire,
                    },
                );
                expire
            }
        };
        if let Some(t) = expire {
            if !keep_ttl {
                self.schedule(key, t);
            }
        }
    }

    /// Sets or clears the deadline of a live key; returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], expire: Option<u64>) -> bool {
        let Some(e) = self.get_mut(key) else {
            return false;
        };
        e.expire = expire;
        if let Some(t) = expire {
            self.schedule(key, t);
        }
        true
    }

    fn schedule(&mut self, key: &[u8], at: u64) {
        self.deadlines.push(Reverse((at, key.to_vec())));
        // Overwritten deadlines stay in the heap until they pass; rebuild before they can
        // outgrow the keyspace.
        if self.deadlines.len() > 2 * self.map.len() + 1024 {
            self.deadlines = self
                .map
                .iter()
                .filter_map(|(k, e)| e.expire.map(|t| Reverse((t, k.clone()))))
                .collect();
        }
    }

    /// Removes `key`; returns whether a live key was removed.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.live(key) && self.map.remove(key).is_some()
    }

    /// Removes `key` if its value is an empty collection (Redis never keeps one).
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        let empty = match self.map.get(key).map(|e| &e.value) {
            Some(Value::List(l)) => l.is_empty(),
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::ZSet(z)) => z.scores.is_empty(),
            _ => false,
        };
        if empty {
            self.map.remove(key);
        }
    }

    /// Number of keys (some may be past their deadline and not yet removed, as in Redis).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Number of keys with a deadline.
    pub fn expires(&self) -> usize {
        self.map.values().filter(|e| e.expire.is_some()).count()
    }

    /// Every live key matching the glob `pattern`.
    pub fn keys(&self, pattern: &[u8]) -> Vec<&[u8]> {
        let now = now_ms();
        self.map
            .iter()
            .filter(|(_, e)| e.expire.is_none_or(|t| t > now))
            .filter(|(k, _)| glob_match(pattern, k))
            .map(|(k, _)| k.as_slice())
            .collect()
    }

    /// Removes every key. Blocked clients stay blocked.
    pub fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
    }

    /// Removes up to `budget` keys whose deadline passed; returns how many were removed.
    pub fn expire_some(&mut self, budget: usize) -> usize {
        let now = now_ms();
        let mut removed = 0;
        for _ in 0..budget {
            match self.deadlines.peek() {
                Some(Reverse((t, _))) if *t <= now => {}
                _ => break,
            }
            let Reverse((t, key)) = self.deadlines.pop().expect("peeked");
            if self.map.get(&key).is_some_and(|e| e.expire == Some(t)) {
                self.map.remove(&key);
                removed += 1;
            }
        }
        removed
    }

    /// Queues `waiter` on each of `keys`.
    pub fn block(&mut self, keys: &[Vec<u8>], waiter: &Rc<Blocked>) {
        for k in keys {
            self.blocked
                .entry(k.clone())
                .or_default()
                .push_back(waiter.clone());
        }
    }

    /// Removes `waiter` from the queues of `keys` (it timed out or its connection ended).
    pub fn unblock(&mut self, keys: &[Vec<u8>], waiter: &Rc<Blocked>) {
        waiter.done.set(true);
        for k in keys {
            if let Some(q) = self.blocked.get_mut(k) {
                q.retain(|w| !Rc::ptr_eq(w, waiter));
                if q.is_empty() {
                    self.blocked.remove(k);
                }
            }
        }
    }

    /// Returns an element popped for a client that went away to the end it came from, and
    /// serves the next blocked client with it.
    pub fn give_back(&mut self, key: &[u8], elem: Vec<u8>, left: bool) {
        if let Value::List(l) = &mut self
            .get_or_insert(key, || Value::List(VecDeque::new()))
            .value
        {
            if left {
                l.push_front(elem);
            } else {
                l.push_back(elem);
            }
        }
        self.serve_blocked(key);
    }

    /// After a push to `key`: hands its elements to the connections blocked on it, oldest
    /// first, while both last. Each served waiter is woken; it runs after the pushing command.
    pub fn serve_blocked(&mut self, key: &[u8]) {
        let Some(queue) = self.blocked.get_mut(key) else {
            return;
        };
        let Some(Entry {
            value: Value::List(list),
            ..
        }) = self.map.get_mut(key)
        else {
            return;
        };
        while !list.is_empty() {
            let Some(w) = queue.pop_front() else { break };
            if w.done.get() {
                continue;
            }
            let elem = if w.left {
                list.pop_front()
            } else {
                list.pop_back()
            }
            .expect("checked non-empty");
            *w.served.borrow_mut() = Some((key.to_vec(), elem));
            w.done.set(true);
            w.wake.set();
        }
        if queue.iter().all(|w| w.done.get()) {
            self.blocked.remove(key);
        }
        self.remove_if_empty(key);
    }
}

/// Glob-style matching as redis-server's `stringmatchlen`: `*`, `?`, `[abc]`, `[^a]`,
/// `[a-z]`, and `\` escaping the next byte.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after a mismatch: the pattern after the last `*`, and the input
    // position that `*` will swallow next.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p + 1, i));
                    p += 1;
                    continue;
                }
                _ if i < s.len() => {
                    if let Some(np) = match_one(pattern, p, s[i]) {
                        p = np;
                        i += 1;
                        continue;
                    }
                }
                _ => {}
            }
        } else if i == s.len() {
            return true;
        }
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one input byte `c` against the pattern element at `p`; returns the position after
/// the element on success.
fn match_one(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => {
            let mut q = p + 1;
            let not = pattern.get(q) == Some(&b'^');
            if not {
                q += 1;
            }
            let mut hit = false;
            while q < pattern.len() && pattern[q] != b']' {
                if pattern[q] == b'\\' && q + 1 < pattern.len() {
                    hit |= pattern[q + 1] == c;
                    q += 2;
                } else if q + 2 < pattern.len() && pattern[q + 1] == b'-' && pattern[q + 2] != b']'
                {
                    let (a, b) = (pattern[q], pattern[q + 2]);
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    hit |= (lo..=hi).contains(&c);
                    q += 3;
                } else {
                    hit |= pattern[q] == c;
                    q += 1;
                }
            }
            // An unclosed class ends at the end of the pattern, as in redis-server.
            let next = (q + 1).min(pattern.len());
            (hit != not).then_some(next)
        }
        other => (other == c).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("news.*", "news.tech"));
        assert!(!m("news.*", "new"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxx"));
    }
}
