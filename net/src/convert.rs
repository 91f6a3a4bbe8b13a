//! What the socket types share: conversions from and into their std counterparts and the fd
//! traits (every type), `Read`/`Write` for the value and for a shared reference (the stream
//! types), and the hub-timer timeouts (the connected and datagram types). Macros, so the
//! types cannot drift apart.

/// Implements `from_std`, `into_std`, `From<std type>`, `AsFd`, `AsRawFd`, `FromRawFd` and
/// `IntoRawFd` for a type whose only field is `sock: Socket`.
macro_rules! fd_conversions {
    ($ty:ident, $std:ty, tcp = $tcp:expr) => {
        impl $ty {
            #[doc = concat!("Converts a [`", stringify!($std), "`]: sets it non-blocking and ")]
            /// registers it with this thread's reactor.
            ///
            /// # Errors
            ///
            /// The OS error of `fcntl(2)` setting `O_NONBLOCK`, or an error of `epoll_ctl(2)`
            /// registering the fd with this thread's reactor (`ENOMEM`, `ENOSPC`).
            pub fn from_std(s: $std) -> std::io::Result<$ty> {
                let sock =
                    $crate::socket::Socket::from_blocking(std::os::fd::OwnedFd::from(s), $tcp)?;
                Ok($ty { sock })
            }

            #[doc = concat!("Converts into a [`", stringify!($std), "`], in blocking mode ")]
            /// again (sprout's timeouts are not carried over: they are not kernel options).
            ///
            /// # Errors
            ///
            /// The OS error of `fcntl(2)` clearing `O_NONBLOCK` (the fd is deregistered either
            /// way).
            pub fn into_std(self) -> std::io::Result<$std> {
                Ok(<$std>::from(self.sock.into_blocking()?))
            }
        }

        impl From<$std> for $ty {
            /// See `from_std`.
            ///
            /// # Panics
            /// If the fd cannot be made non-blocking or registered with the reactor (out of
            /// memory, or epoll's `max_user_watches` reached); `from_std` returns that error.
            fn from(s: $std) -> $ty {
                $ty::from_std(s).unwrap_or_else(|e| {
                    panic!(
                        "sprout: cannot register a {} with the reactor: {e}",
                        stringify!($ty)
                    )
                })
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.sock.fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.sock.fd())
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// Deregisters the fd and hands it over as it is: still non-blocking.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.sock.into_fd())
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            /// Takes ownership of the fd, makes it non-blocking and registers it.
            ///
            /// # Safety
            /// `fd` must be an open socket of the right kind, owned by nobody else (the
            /// contract of `OwnedFd::from_raw_fd`).
            ///
            /// # Panics
            /// As `From`, if the fd cannot be registered.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller hands over an open socket it owns (this fn's contract).
                let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
                $ty::from(<$std>::from(owned))
            }
        }
    };
}

pub(crate) use fd_conversions;

/// Implements `Read` and `Write` for a stream type and for a shared reference to it, through
/// its `sock: Socket` (one retry loop underneath).
macro_rules! stream_io {
    ($ty:ident) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.sock.recv(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.sock.recv_vectored(bufs)
            }
        }

        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.sock.recv(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.sock.recv_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.sock.send(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.sock.send_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.sock.send(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.sock.send_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_io;

/// Implements the read and write timeouts (hub timers, kept in its `sock: Socket`).
macro_rules! socket_timeouts {
    ($ty:ident) => {
        impl $ty {
            /// Bounds each read or receive: after `timeout` of waiting it fails with
            /// `ErrorKind::TimedOut`. A hub timer, not `SO_RCVTIMEO`. `None` waits forever; a
            /// zero duration is an error.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for `Some(Duration::ZERO)`, as std does.
            pub fn set_read_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.sock.set_read_timeout(timeout)
            }

            /// Bounds each write or send the same way.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for `Some(Duration::ZERO)`, as std does.
            pub fn set_write_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.sock.set_write_timeout(timeout)
            }

            /// The read timeout.
            ///
            /// # Errors
            ///
            /// Never; the `Result` mirrors std.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.sock.read_timeout())
            }

            /// The write timeout.
            ///
            /// # Errors
            ///
            /// Never; the `Result` mirrors std.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.sock.write_timeout())
            }
        }
    };
}
pub(crate) use socket_timeouts;
