//! Name resolution off the hub: host names are looked up on the thread pool.
//!
//! `getaddrinfo` blocks its thread for as long as the resolver takes (seconds, for a slow or
//! unreachable DNS server), and glibc's internal sockets never reach sprout's reactor. So
//! [`ToSocketAddrs`] resolves numeric addresses in place and hands host names to the thread
//! pool's resolver lane (`sprout::threadpool::spawn_resolver`): the
//! calling greenlet parks, the hub keeps serving the others (gevent's thread-pool resolver).
//! The lane has threads of its own (8 by default), so a lookup never queues behind long jobs
//! that fill the main pool; at most that many lookups run at once, the rest queue in order.
//!
//! ```
//! use sprout::net::lookup_host;
//!
//! let addrs = lookup_host(("localhost", 80))?; // resolved on a pool thread
//! assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Values that name socket addresses: sprout's version of `std::net::ToSocketAddrs`, with the
/// same implementations, except that host names are resolved on the thread pool.
pub trait ToSocketAddrs {
    /// The addresses this value names, in resolver order.
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

/// Resolves `addr` (for example `"example.com:80"` or `("localhost", 8080)`), parking only
/// the calling greenlet while a host name is looked up on the thread pool.
///
/// # Errors
///
/// `InvalidInput` for a string that is not `HOST:PORT` or has a bad port; the resolver's error for
/// a name it cannot resolve (glibc's `getaddrinfo` codes, reported by std as `Uncategorized` with
/// messages such as "failed to lookup address information: Name or service not known"); an empty
/// list is `Ok`. A kill or `Timeout` scope unwinds while the lookup runs (the lookup itself
/// finishes on its thread and is dropped).
pub fn lookup_host<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    addr.to_socket_addrs()
}

/// Looks `host` up on the thread pool (or parses it, when it is an IP address).
fn resolve_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    sprout_runtime::threadpool::spawn_resolver(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect)
    })
}

impl ToSocketAddrs for SocketAddr {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V6(*self)])
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V4(self.0), self.1)])
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V6(self.0), self.1)])
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_host(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_host(&self.0, self.1)
    }
}

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
        let (host, port) = self.rsplit_once(':').ok_or_else(invalid)?;
        let port: u16 = port.parse().map_err(|_| invalid())?;
        resolve_host(host, port)
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.clone())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_forms_parse_without_the_pool() {
        let want: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!("127.0.0.1:80".to_socket_addrs().unwrap(), vec![want]);
        assert_eq!(("127.0.0.1", 80).to_socket_addrs().unwrap(), vec![want]);
        assert_eq!(
            (Ipv4Addr::LOCALHOST, 80).to_socket_addrs().unwrap(),
            vec![want]
        );
        assert_eq!(
            "[::1]:9".to_socket_addrs().unwrap(),
            vec!["[::1]:9".parse().unwrap()]
        );
        assert!("no-port".to_socket_addrs().is_err());
        assert!("host:notaport".to_socket_addrs().is_err());
    }
}
