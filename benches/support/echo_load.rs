//! The echo load generator the `echo` and `monkey` benches share: `CONNS` connections,
//! each driven by one greenlet on the bench thread, writing `MSG` bytes and reading them back.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sprout::net::TcpStream;

/// Connections the load generator keeps open.
pub const CONNS: usize = 100;
/// Bytes per message.
pub const MSG: usize = 64;

/// The load generator: `CONNS` open connections, driven by one greenlet each.
pub struct Load {
    /// The client connections, shared with the greenlets of each run.
    conns: Vec<Rc<TcpStream>>,
}

impl Load {
    pub fn connect(addr: SocketAddr) -> Load {
        let conns = (0..CONNS)
            .map(|_| {
                let c = TcpStream::connect(addr).unwrap();
                c.set_nodelay(true).unwrap();
                Rc::new(c)
            })
            .collect();
        Load { conns }
    }

    /// Runs `rounds` round trips on every connection at once; returns the wall time.
    pub fn run(&self, rounds: usize) -> Duration {
        let start = Instant::now();
        let clients: Vec<_> = self
            .conns
            .iter()
            .map(|c| {
                let c = c.clone();
                sprout::spawn(move || {
                    let msg = [0x5au8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..rounds {
                        (&*c).write_all(&msg).unwrap();
                        (&*c).read_exact(&mut buf).unwrap();
                    }
                    assert_eq!(buf, msg);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        start.elapsed()
    }
}
