//! Several UDP datagrams per system call (`recvmmsg(2)`, `sendmmsg(2)`):
//! what lnsd's control channel (a burst of call setups is tens of
//! datagrams per session), the voluntary client's data path and
//! lns-bench's emulated LAC need to keep up without a system call per
//! datagram.
//!
//! Guarantees: datagrams are received and sent in order; a send batch
//! the socket can only partly take is resumed where it stopped once the
//! socket is writable again, so nothing is dropped here (the kernel may
//! still drop, as for any UDP send). Refuses nothing; errors other than
//! "would block" are returned to the caller. [`recv_now`] and
//! [`send_now`] are the blocking-socket forms, for callers outside tokio
//! (lns-bench); [`recv`] and [`send`] wrap them for a tokio socket.

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Datagrams waiting to leave, in order: payload, and the destination
/// (`None` on a connected socket).
pub type Queue = Vec<(Vec<u8>, Option<SocketAddr>)>;

/// Receive buffers for [`recv`]: `BATCH` of 64 KiB.
#[derive(Debug)]
pub struct RecvBufs {
    bufs: Vec<Vec<u8>>,
}

impl Default for RecvBufs {
    fn default() -> Self {
        RecvBufs {
            bufs: vec![vec![0u8; 65_536]; BATCH],
        }
    }
}

impl RecvBufs {
    /// Datagram `i` of the last [`recv`], `len` bytes long.
    pub fn get(&self, i: usize, len: usize) -> &[u8] {
        self.bufs
            .get(i)
            .and_then(|b| b.get(..len))
            .unwrap_or_default()
    }
}

/// Takes up to [`BATCH`] datagrams from `sock` in one call: (length,
/// sender) of each, in order, their bytes in `bufs`. With
/// `MSG_DONTWAIT` it never waits ("would block" when none is there);
/// with `MSG_WAITFORONE` on a blocking socket it waits for the first (as
/// long as the socket's receive timeout allows) and then takes only what
/// has already arrived.
pub fn recv_now(
    sock: &impl AsFd,
    bufs: &mut RecvBufs,
    flags: MsgFlags,
) -> std::io::Result<Vec<(usize, Option<SocketAddr>)>> {
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(iovs.len(), None);
    let got = recvmmsg(
        sock.as_fd().as_raw_fd(),
        &mut headers,
        iovs.iter_mut(),
        flags,
        None,
    )
    .map_err(std::io::Error::from)?;
    Ok(got
        .map(|r| (r.bytes, r.address.and_then(socket_addr)))
        .collect())
}

/// Sends the first [`BATCH`] (at most) datagrams of `out` (payload,
/// destination; `None` on a connected socket) in one call, without
/// waiting; returns how many the socket took, from the front.
pub fn send_now(sock: &impl AsFd, out: &[(Vec<u8>, Option<SocketAddr>)]) -> std::io::Result<usize> {
    let n = out.len().min(BATCH);
    let Some(out) = out.get(..n) else {
        return Ok(0);
    };
    let slices: Vec<[IoSlice<'_>; 1]> = out.iter().map(|(p, _)| [IoSlice::new(p)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = out.iter().map(|(_, a)| a.map(storage)).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(n, None);
    let sent = sendmmsg(
        sock.as_fd().as_raw_fd(),
        &mut headers,
        slices.iter(),
        addrs,
        [],
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    Ok(sent.count())
}

/// Waits for datagrams and takes up to [`BATCH`] in one call: (length,
/// sender) of each, in order, their bytes in `bufs`.
pub async fn recv(
    sock: &UdpSocket,
    bufs: &mut RecvBufs,
) -> std::io::Result<Vec<(usize, Option<SocketAddr>)>> {
    loop {
        sock.readable().await?;
        match sock.try_io(Interest::READABLE, || {
            recv_now(sock, bufs, MsgFlags::MSG_DONTWAIT)
        }) {
            Ok(v) => return Ok(v),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends every datagram of `out` (payload, destination; `None` on a
/// connected socket), [`BATCH`] per call, waiting while the socket is
/// full. `out` is empty afterwards unless an error is returned, when what
/// was not sent is left in it.
pub async fn send(sock: &UdpSocket, out: &mut Queue) -> std::io::Result<()> {
    while !out.is_empty() {
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || send_now(sock, out)) {
            Ok(n) => {
                out.drain(..n.min(out.len()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn storage(a: SocketAddr) -> SockaddrStorage {
    match a {
        SocketAddr::V4(v4) => SockaddrStorage::from(v4),
        SocketAddr::V6(v6) => SockaddrStorage::from(v6),
    }
}

fn socket_addr(s: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::{BATCH, RecvBufs, recv, send};

    /// More datagrams than one batch, both ways, in order, with their
    /// senders.
    #[tokio::test]
    async fn datagrams_go_and_come_in_batches_in_order() {
        let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let n = BATCH * 2 + 5;
        let mut out: Vec<(Vec<u8>, Option<std::net::SocketAddr>)> =
            (0..n).map(|i| (vec![i as u8; 10 + i], Some(to))).collect();
        send(&a, &mut out).await.unwrap();
        assert!(out.is_empty());
        let mut bufs = RecvBufs::default();
        let mut seen = Vec::new();
        while seen.len() < n {
            for (i, (len, from)) in recv(&b, &mut bufs).await.unwrap().into_iter().enumerate() {
                assert_eq!(from, Some(a.local_addr().unwrap()));
                seen.push(bufs.get(i, len).to_vec());
            }
        }
        for (i, d) in seen.iter().enumerate() {
            assert_eq!(d, &vec![i as u8; 10 + i]);
        }
    }
}
