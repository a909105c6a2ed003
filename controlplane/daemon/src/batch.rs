//! Several UDP datagrams per system call (`recvmmsg(2)`, `sendmmsg(2)`):
//! what lnsd's control channel (a burst of call setups is tens of
//! datagrams per session), the voluntary client's data path and
//! lns-bench's emulated LAC need to keep up without a system call per
//! datagram.
//!
//! Guarantees: datagrams are received and sent in order; a send batch
//! the socket can only partly take is resumed where it stopped once the
//! socket is writable again, so nothing is dropped here (the kernel may
//! still drop, as for any UDP send). The buffers of datagrams [`send`]
//! sent go back to `lns_protocol::buffers` for the engine's next
//! encodings. Refuses nothing; errors other than
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

/// Receive buffers for [`recv`] and [`recv_now`]: `BATCH` of 64 KiB,
/// kept from call to call. (The message headers are made per call: they
/// hold raw pointers, and a reader task's buffers must be `Send`; and the
/// kernel leaves each header's address length at the last sender's, which
/// a socket of another family would find too short.)
pub struct RecvBufs {
    bufs: Vec<Vec<u8>>,
    /// Length and sender of each datagram of the last batch.
    got: Vec<(usize, Option<SocketAddr>)>,
}

impl std::fmt::Debug for RecvBufs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBufs")
            .field("got", &self.got.len())
            .finish_non_exhaustive()
    }
}

impl Default for RecvBufs {
    fn default() -> Self {
        RecvBufs {
            bufs: vec![vec![0u8; 65_536]; BATCH],
            got: Vec::with_capacity(BATCH),
        }
    }
}

impl RecvBufs {
    /// The datagrams of the last batch, in order: sender and bytes.
    pub fn iter(&self) -> impl Iterator<Item = (Option<SocketAddr>, &[u8])> {
        self.got
            .iter()
            .zip(&self.bufs)
            .map(|(&(n, from), b)| (from, b.get(..n).unwrap_or_default()))
    }
}

/// Send headers and addresses for [`send`] and [`send_now`], kept from
/// call to call (every call sets each header's address and its length).
/// Not `Send`: the headers hold raw pointers, so a sending loop owns
/// them.
pub struct SendBufs {
    headers: MultiHeaders<SockaddrStorage>,
    addrs: Vec<Option<SockaddrStorage>>,
}

impl std::fmt::Debug for SendBufs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBufs").finish_non_exhaustive()
    }
}

impl Default for SendBufs {
    fn default() -> Self {
        SendBufs {
            headers: MultiHeaders::preallocate(BATCH, None),
            addrs: Vec::with_capacity(BATCH),
        }
    }
}

/// Takes up to [`BATCH`] datagrams from `sock` in one call into `bufs`
/// ([`RecvBufs::iter`]), returning how many. With `MSG_DONTWAIT` it never
/// waits ("would block" when none is there); with `MSG_WAITFORONE` on a
/// blocking socket it waits for the first (as long as the socket's
/// receive timeout allows) and then takes only what has already arrived.
pub fn recv_now(sock: &impl AsFd, bufs: &mut RecvBufs, flags: MsgFlags) -> std::io::Result<usize> {
    bufs.got.clear();
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let got = recvmmsg(
        sock.as_fd().as_raw_fd(),
        &mut headers,
        iovs.iter_mut(),
        flags,
        None,
    )
    .map_err(std::io::Error::from)?;
    bufs.got
        .extend(got.map(|r| (r.bytes, r.address.and_then(socket_addr))));
    Ok(bufs.got.len())
}

/// Sends the first [`BATCH`] (at most) datagrams of `out` (payload,
/// destination; `None` on a connected socket) in one call, without
/// waiting; returns how many the socket took, from the front.
pub fn send_now(
    sock: &impl AsFd,
    bufs: &mut SendBufs,
    out: &[(Vec<u8>, Option<SocketAddr>)],
) -> std::io::Result<usize> {
    let Some(out) = out.get(..out.len().min(BATCH)) else {
        return Ok(0);
    };
    let slices: Vec<[IoSlice<'_>; 1]> = out.iter().map(|(p, _)| [IoSlice::new(p)]).collect();
    bufs.addrs.clear();
    bufs.addrs.extend(out.iter().map(|(_, a)| a.map(storage)));
    let sent = sendmmsg(
        sock.as_fd().as_raw_fd(),
        &mut bufs.headers,
        slices.iter(),
        &bufs.addrs,
        [],
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    Ok(sent.count())
}

/// Waits for datagrams and takes up to [`BATCH`] in one call into `bufs`
/// ([`RecvBufs::iter`]), returning how many.
pub async fn recv(sock: &UdpSocket, bufs: &mut RecvBufs) -> std::io::Result<usize> {
    loop {
        sock.readable().await?;
        match sock.try_io(Interest::READABLE, || {
            recv_now(sock, bufs, MsgFlags::MSG_DONTWAIT)
        }) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sends every datagram of `out` (payload, destination; `None` on a
/// connected socket), [`BATCH`] per call, waiting while the socket is
/// full. `out` is empty afterwards unless an error is returned, when what
/// was not sent is left in it.
pub async fn send(sock: &UdpSocket, bufs: &mut SendBufs, out: &mut Queue) -> std::io::Result<()> {
    while !out.is_empty() {
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || send_now(sock, bufs, out)) {
            Ok(n) => {
                // Sent: the buffers go back for the next encodings.
                for (payload, _) in out.drain(..n.min(out.len())) {
                    lns_protocol::buffers::give(payload);
                }
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
    use super::{BATCH, RecvBufs, SendBufs, recv, send};

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
        send(&a, &mut SendBufs::default(), &mut out).await.unwrap();
        assert!(out.is_empty());
        let mut bufs = RecvBufs::default();
        let mut seen = Vec::new();
        while seen.len() < n {
            recv(&b, &mut bufs).await.unwrap();
            for (from, bytes) in bufs.iter() {
                assert_eq!(from, Some(a.local_addr().unwrap()));
                seen.push(bytes.to_vec());
            }
        }
        for (i, d) in seen.iter().enumerate() {
            assert_eq!(d, &vec![i as u8; 10 + i]);
        }
    }
}
