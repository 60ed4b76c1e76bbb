//! Forwarding queries to the upstream name servers, over UDP (with TCP when the answer is
//! truncated) or over TCP.

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long one upstream gets to answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a query handed to the host-namespace thread may take (UDP, then TCP, plus slack).
const HOST_TIMEOUT: Duration = Duration::from_secs(5);

/// A query for a loopback upstream, to be sent from the host's namespace.
pub(super) struct HostJob {
    upstream: SocketAddr,
    packet: Vec<u8>,
    tcp: bool,
    reply: mpsc::Sender<Option<Vec<u8>>>,
}

/// Serve [`HostJob`]s, each on a thread of its own, until every sender is gone. Runs on a thread
/// started in the host's namespace, so its threads and their sockets are there too.
pub(super) fn host_dispatch(jobs: mpsc::Receiver<HostJob>) {
    for job in jobs {
        let _ = thread::Builder::new()
            .name("dns-host-forward".into())
            .spawn(move || {
                let answer = exchange(job.upstream, &job.packet, job.tcp);
                let _ = job.reply.send(answer);
            });
    }
}

/// [`exchange`] run from the host's namespace through `host`.
pub(super) fn via_host(
    host: &mpsc::Sender<HostJob>,
    upstream: SocketAddr,
    packet: &[u8],
    tcp: bool,
) -> Option<Vec<u8>> {
    let (reply, answer) = mpsc::channel();
    let job = HostJob {
        upstream,
        packet: packet.to_vec(),
        tcp,
        reply,
    };
    host.send(job).ok()?;
    answer.recv_timeout(HOST_TIMEOUT).ok().flatten()
}

/// Send `packet` to `upstream` and return its answer (over TCP if `tcp`, or if the UDP answer is
/// truncated), or None if it fails, times out, or answers SERVFAIL or REFUSED.
pub(super) fn exchange(upstream: SocketAddr, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let answer = if tcp {
        over_tcp(upstream, packet).ok()?
    } else {
        let answer = over_udp(upstream, packet).ok()?;
        if answer[2] & 0x02 != 0 {
            // Truncated: the full answer over TCP, or else the truncated one.
            over_tcp(upstream, packet).unwrap_or(answer)
        } else {
            answer
        }
    };
    // SERVFAIL (2) and REFUSED (5): let the next upstream try.
    match answer[3] & 0x0f {
        2 | 5 => None,
        _ => Some(answer),
    }
}

/// Whether `answer` is a response to `packet` (same id, QR set, a whole header).
fn answers(answer: &[u8], packet: &[u8]) -> bool {
    answer.len() >= 12 && packet.len() >= 2 && answer[..2] == packet[..2] && answer[2] & 0x80 != 0
}

fn over_udp(upstream: SocketAddr, packet: &[u8]) -> io::Result<Vec<u8>> {
    let local = match upstream {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local)?;
    // Connected: only the upstream's datagrams are received, and a refusal is reported at once.
    socket.connect(upstream)?;
    socket.send(packet)?;
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        socket.set_read_timeout(Some(left))?;
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if answers(&buf[..len], packet) {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

fn over_tcp(upstream: SocketAddr, packet: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    super::write_frame(&mut stream, packet)?;
    stream.flush()?;
    let answer = super::read_frame(&mut stream)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    if !answers(&answer, packet) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an answer to the query",
        ));
    }
    Ok(answer)
}
