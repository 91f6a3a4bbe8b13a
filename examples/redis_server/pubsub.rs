//! Publish/subscribe: the channel and pattern registry, and each subscriber's outgoing queue.
//!
//! A connection that subscribes gets a [`Subscriber`]: a bounded [`Queue`] of encoded
//! replies and a writer greenlet that drains it into the socket. From then on every reply of
//! that connection goes through the queue, so its own replies and published messages keep
//! their order. `PUBLISH` encodes a message once and puts the same `Rc` into each
//! subscriber's queue with `try_put`: it never parks, so a slow subscriber cannot stall the
//! publisher or the other subscribers. A subscriber whose unsent bytes would pass the
//! output-buffer limit, or whose queue is full, is disconnected, as redis-server does with
//! `client-output-buffer-limit pubsub`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::net::Shutdown;
use std::rc::Rc;

use sprout::net::TcpStream;
use sprout::sync::Queue;

use crate::resp;
use crate::store::glob_match;

/// Most replies a subscriber's queue holds before it counts as too slow.
const QUEUE_CAPACITY: usize = 64 * 1024;

/// Write batches at most this large (bytes) from a subscriber's queue.
const WRITE_BATCH: usize = 64 * 1024;

/// One subscribed connection's outgoing side.
pub struct Subscriber {
    /// The connection's id (the registry's key for it).
    pub id: u64,
    /// Encoded replies waiting for the writer greenlet; closed when the connection ends.
    queue: Queue<Rc<Vec<u8>>>,
    /// Bytes in `queue`; the writer subtracts what it wrote.
    pending: Cell<usize>,
    /// The output-buffer limit in bytes.
    limit: usize,
    /// The socket, shared with the connection's reader greenlet.
    stream: Rc<TcpStream>,
}

impl Subscriber {
    /// Creates the subscriber and spawns its writer greenlet.
    pub fn start(id: u64, stream: Rc<TcpStream>, limit: usize) -> Rc<Subscriber> {
        let sub = Rc::new(Subscriber {
            id,
            queue: Queue::bounded(QUEUE_CAPACITY),
            pending: Cell::new(0),
            limit,
            stream,
        });
        let writer = sub.clone();
        sprout::spawn(move || writer.write_loop());
        sub
    }

    /// Queues `msg`; returns false (after disconnecting the subscriber) if it is over its
    /// limit, or false if it is already gone.
    pub fn send(&self, msg: Rc<Vec<u8>>) -> bool {
        if self.queue.is_closed() {
            return false;
        }
        let len = msg.len();
        if self.pending.get() + len > self.limit || self.queue.try_put(msg).is_err() {
            self.disconnect();
            return false;
        }
        self.pending.set(self.pending.get() + len);
        true
    }

    /// Ends the connection: no more messages are queued, and both directions of the socket
    /// are shut down, so the reader greenlet sees the end too.
    pub fn disconnect(&self) {
        self.queue.close();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Stops queueing; the writer sends what is queued and ends.
    pub fn finish(&self) {
        self.queue.close();
    }

    fn write_loop(&self) {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        while let Ok(first) = self.queue.get() {
            batch.clear();
            batch.extend_from_slice(&first);
            let mut taken = first.len();
            while batch.len() < WRITE_BATCH {
                let Ok(next) = self.queue.try_get() else {
                    break;
                };
                batch.extend_from_slice(&next);
                taken += next.len();
            }
            // The socket's write timeout bounds a subscriber that stops reading.
            if (&*self.stream).write_all(&batch).is_err() {
                self.disconnect();
                return;
            }
            self.pending.set(self.pending.get() - taken);
        }
    }
}

/// Who is subscribed to what.
#[derive(Default)]
pub struct PubSub {
    /// Channel name to its subscribers, by connection id.
    channels: HashMap<Vec<u8>, HashMap<u64, Rc<Subscriber>>>,
    /// Pattern to its subscribers, by connection id.
    patterns: HashMap<Vec<u8>, HashMap<u64, Rc<Subscriber>>>,
}

impl PubSub {
    /// Adds `sub` to `channel` (or pattern); returns false if it was there already.
    pub fn add(&mut self, pattern: bool, name: &[u8], sub: &Rc<Subscriber>) -> bool {
        let map = if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        };
        map.entry(name.to_vec())
            .or_default()
            .insert(sub.id, sub.clone())
            .is_none()
    }

    /// Removes subscriber `id` from `name`; returns whether it was subscribed.
    pub fn remove(&mut self, pattern: bool, name: &[u8], id: u64) -> bool {
        let map = if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        };
        let Some(subs) = map.get_mut(name) else {
            return false;
        };
        let had = subs.remove(&id).is_some();
        if subs.is_empty() {
            map.remove(name);
        }
        had
    }

    /// Delivers `msg` on `channel` to its subscribers and to the matching patterns'; returns
    /// how many received it.
    pub fn publish(&self, channel: &[u8], msg: &[u8]) -> i64 {
        let mut n = 0;
        if let Some(subs) = self.channels.get(channel) {
            let mut m = Vec::with_capacity(channel.len() + msg.len() + 40);
            resp::array(&mut m, 3);
            resp::bulk(&mut m, b"message");
            resp::bulk(&mut m, channel);
            resp::bulk(&mut m, msg);
            let m = Rc::new(m);
            for s in subs.values() {
                n += s.send(m.clone()) as i64;
            }
        }
        for (pat, subs) in &self.patterns {
            if !glob_match(pat, channel) {
                continue;
            }
            let mut m = Vec::with_capacity(pat.len() + channel.len() + msg.len() + 50);
            resp::array(&mut m, 4);
            resp::bulk(&mut m, b"pmessage");
            resp::bulk(&mut m, pat);
            resp::bulk(&mut m, channel);
            resp::bulk(&mut m, msg);
            let m = Rc::new(m);
            for s in subs.values() {
                n += s.send(m.clone()) as i64;
            }
        }
        n
    }
}

/// A connection's own record of its subscriptions, in subscription order.
#[derive(Default)]
pub struct Subscriptions {
    /// Subscribed channels.
    pub channels: Vec<Vec<u8>>,
    /// Subscribed patterns.
    pub patterns: Vec<Vec<u8>>,
}

impl Subscriptions {
    /// Channels plus patterns: the count the (un)subscribe replies carry.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The list for channels or patterns.
    pub fn list(&mut self, pattern: bool) -> &mut Vec<Vec<u8>> {
        if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }
}

/// Borrowed handle used by the reader to leave every subscription when it ends.
pub fn leave_all(reg: &RefCell<PubSub>, subs: &Subscriptions, id: u64) {
    let mut reg = reg.borrow_mut();
    for c in &subs.channels {
        reg.remove(false, c, id);
    }
    for p in &subs.patterns {
        reg.remove(true, p, id);
    }
}
