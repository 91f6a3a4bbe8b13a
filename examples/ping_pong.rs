//! Greenlet ping-pong: two greenlets hand a counter back and forth with explicit `switch`.
//!
//! Run: `cargo run --release --example ping_pong -- --rounds 3`
//!
//! Prints `ping 1`, `pong 1`, `ping 2`, ... for the given number of rounds (default 5). No
//! hub is involved: this is the `greenlet` layer on its own.

use sprout::greenlet::Greenlet;

fn main() {
    let rounds = parse_rounds();

    // pong waits for a counter, prints it, and hands it back to whoever sent it (ping).
    let pong = Greenlet::new(move |(ping, mut n): (Greenlet, u32)| loop {
        println!("pong {n}");
        n = match ping.switch::<u32, u32>(n) {
            Ok(n) => n,
            Err(_) => return,
        };
    });

    // ping prints each round and sends the counter to pong, which switches back.
    let ping = Greenlet::new(move |rounds: u32| {
        let me = Greenlet::current();
        let mut n = 1;
        println!("ping {n}");
        let mut back: u32 = pong.switch((me, n)).expect("pong answers");
        while back < rounds {
            n = back + 1;
            println!("ping {n}");
            back = pong.switch(n).expect("pong answers");
        }
        back
    });

    if rounds == 0 {
        return;
    }
    let last: u32 = ping.switch(rounds).expect("ping finishes");
    assert_eq!(last, rounds);
}

fn parse_rounds() -> u32 {
    let mut args = std::env::args().skip(1);
    let mut rounds = 5;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                let v = args.next().unwrap_or_default();
                rounds = v
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --rounds value {v:?}")));
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    rounds
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("ping_pong: {msg}");
    }
    eprintln!("usage: ping_pong [--rounds N]");
    std::process::exit(2)
}
