//! The embedded DNS responder of user-defined networks: what a container on a user-defined bridge
//! finds at 127.0.0.11. It answers the names of the members of the container's networks itself and
//! forwards every other query, unchanged, to the upstream name servers it was given.
//!
//! Plain std threads and blocking sockets: one UDP loop, one TCP accept loop with a thread per
//! connection, and a worker thread per forwarded UDP query so that a slow upstream never delays the
//! answers for member names.

mod forward;
mod reply;
#[cfg(test)]
mod tests;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use nix::sched::{setns, CloneFlags};

use forward::HostJob;

/// The address the responder listens on inside a container's network namespace.
pub const LISTEN_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Forwarded UDP queries in flight at once; beyond it a query is answered SERVFAIL at once.
const MAX_FORWARDS: usize = 100;
/// TCP connections served at once; beyond it new connections are closed.
const MAX_CONNECTIONS: usize = 64;
/// How long a TCP connection may stay idle (or stall mid-message) before it is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Who the responder can name: the members of the container's networks.
pub trait Names: Send + Sync + 'static {
    /// IPv4 addresses for `name` (lower-case, no trailing dot), or None if not a member name.
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// The name for a member address (PTR), if any.
    fn reverse(&self, addr: Ipv4Addr) -> Option<String>;
}

/// An embedded DNS responder, not yet serving: build it with [`Responder::new`], then start it with
/// [`Responder::serve`] or [`Responder::spawn_in`].
pub struct Responder {
    names: Arc<dyn Names>,
    upstream: Vec<SocketAddr>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A responder answering from `names` and forwarding everything else to `upstream` (the name
    /// servers the host's resolv.conf or the engine's config gives; may be empty).
    pub fn new(names: Arc<dyn Names>, upstream: Vec<SocketAddr>) -> Responder {
        Responder { names, upstream }
    }

    /// Serve on already-bound sockets; returns at once, serving on background threads for the
    /// life of the process. An upstream equal to one of the sockets' own addresses is ignored.
    pub fn serve(self, udp: UdpSocket, tcp: TcpListener) -> io::Result<()> {
        let own = [udp.local_addr()?, tcp.local_addr()?];
        let upstream = self
            .upstream
            .into_iter()
            .filter(|u| !own.contains(u))
            .collect();
        let server = Server::new(self.names, upstream, None);
        start(server, udp, tcp)
    }

    /// Bind 127.0.0.11:53 (UDP and TCP) inside the network namespace `netns` (an fd of
    /// /proc/PID/ns/net, whose `lo` must be up) and serve there, on threads of their own.
    ///
    /// Queries are forwarded from inside that namespace, except to loopback upstream servers,
    /// which are reached from the caller's namespace (by a thread started before any `setns`).
    pub fn spawn_in(self, netns: OwnedFd) -> io::Result<()> {
        let (host_tx, host_rx) = mpsc::channel::<HostJob>();
        // Started from the caller's thread, so it (and the threads it starts) stay in the caller's
        // namespace: the sockets to loopback upstreams are made there.
        thread::Builder::new()
            .name("dns-host".into())
            .spawn(move || forward::host_dispatch(host_rx))?;
        let server = Server::new(self.names, self.upstream, Some(host_tx));
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        thread::Builder::new()
            .name("dns-netns".into())
            .spawn(move || {
                let bound = (|| {
                    setns(&netns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                    let addr = SocketAddr::from((LISTEN_ADDR, 53));
                    let udp = UdpSocket::bind(addr)?;
                    let tcp = TcpListener::bind(addr)?;
                    start(server, udp, tcp)
                })();
                let _ = ready_tx.send(bound);
            })?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("dns: the namespace thread died")))
    }
}

/// How a query arrived (and so how its answer leaves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

/// What to do with one incoming packet.
enum Action {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not a member name: forward the packet to the upstream servers.
    Forward(Message),
    /// Say nothing.
    Drop,
}

/// The state the serving threads share.
struct Server {
    names: Arc<dyn Names>,
    upstream: Vec<SocketAddr>,
    /// Where loopback upstreams are reached from the host's namespace (`spawn_in` only).
    host: Option<mpsc::Sender<HostJob>>,
    forwards: AtomicUsize,
    connections: AtomicUsize,
}

impl Server {
    fn new(
        names: Arc<dyn Names>,
        upstream: Vec<SocketAddr>,
        host: Option<mpsc::Sender<HostJob>>,
    ) -> Server {
        Server {
            names,
            upstream,
            host,
            forwards: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        }
    }

    /// Decide what one incoming packet gets.
    fn handle(&self, packet: &[u8], transport: Transport) -> Action {
        let query = match Message::from_vec(packet) {
            Ok(query) => query,
            Err(_) => {
                return match reply::header_error(packet, ResponseCode::FormErr) {
                    Some(bytes) => Action::Reply(bytes),
                    None => Action::Drop,
                };
            }
        };
        if query.metadata.message_type != MessageType::Query {
            return Action::Drop;
        }
        if query.metadata.op_code != OpCode::Query {
            return self.reply(
                reply::response(&query, ResponseCode::NotImp),
                &query,
                transport,
            );
        }
        if query.queries.len() != 1 {
            return self.reply(
                reply::response(&query, ResponseCode::FormErr),
                &query,
                transport,
            );
        }
        match reply::local_answer(self.names.as_ref(), &query) {
            Some(answer) => self.reply(answer, &query, transport),
            None => Action::Forward(query),
        }
    }

    /// Encode `answer` to fit what the client of `query` can take.
    fn reply(&self, answer: Message, query: &Message, transport: Transport) -> Action {
        match reply::encode(answer, limit(query, transport)) {
            Some(bytes) => Action::Reply(bytes),
            None => Action::Drop,
        }
    }

    /// Forward `packet` (whose parsed form is `query`) to each upstream in turn and return what to
    /// send back: the first answer, fitted to the client, or SERVFAIL.
    fn forward(&self, packet: &[u8], query: &Message, transport: Transport) -> Option<Vec<u8>> {
        let tcp = transport == Transport::Tcp;
        for &upstream in &self.upstream {
            let answer = match (&self.host, upstream.ip().is_loopback()) {
                (Some(host), true) => forward::via_host(host, upstream, packet, tcp),
                _ => forward::exchange(upstream, packet, tcp),
            };
            if let Some(mut answer) = answer {
                answer[..2].copy_from_slice(&query.metadata.id.to_be_bytes());
                return Some(reply::fit_relayed(answer, limit(query, transport)));
            }
        }
        reply::encode(
            reply::response(query, ResponseCode::ServFail),
            limit(query, transport),
        )
    }
}

/// The largest answer the client of `query` takes over `transport`.
fn limit(query: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Udp => usize::from(query.max_payload()),
        Transport::Tcp => usize::from(u16::MAX),
    }
}

/// Start the UDP loop and the TCP accept loop of `server` on their own threads.
fn start(server: Server, udp: UdpSocket, tcp: TcpListener) -> io::Result<()> {
    udp.set_nonblocking(false)?;
    udp.set_read_timeout(None)?;
    tcp.set_nonblocking(false)?;
    let server = Arc::new(server);
    let udp = Arc::new(udp);
    let for_udp = server.clone();
    thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || udp_loop(&for_udp, &udp))?;
    thread::Builder::new()
        .name("dns-tcp".into())
        .spawn(move || tcp_loop(&server, &tcp))?;
    Ok(())
}

/// Which capped count a [`Slot`] holds.
#[derive(Clone, Copy)]
enum Cap {
    Forwards,
    Connections,
}

/// One unit of a capped count of `server`, given back when dropped.
struct Slot {
    server: Arc<Server>,
    cap: Cap,
}

impl Slot {
    /// Take a unit of `cap`, unless it is used up.
    fn take(server: &Arc<Server>, cap: Cap) -> Option<Slot> {
        let (counter, max) = Slot::counter(server, cap);
        if counter.fetch_add(1, Ordering::SeqCst) >= max {
            counter.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot {
            server: server.clone(),
            cap,
        })
    }

    fn counter(server: &Server, cap: Cap) -> (&AtomicUsize, usize) {
        match cap {
            Cap::Forwards => (&server.forwards, MAX_FORWARDS),
            Cap::Connections => (&server.connections, MAX_CONNECTIONS),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        Slot::counter(&self.server, self.cap)
            .0
            .fetch_sub(1, Ordering::SeqCst);
    }
}

fn udp_loop(server: &Arc<Server>, udp: &Arc<UdpSocket>) {
    let mut buf = vec![0u8; usize::from(u16::MAX)];
    loop {
        let (len, peer) = match udp.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let packet = &buf[..len];
        match server.handle(packet, Transport::Udp) {
            Action::Reply(bytes) => {
                let _ = udp.send_to(&bytes, peer);
            }
            Action::Drop => {}
            Action::Forward(query) => {
                if !spawn_forward(server, udp, packet.to_vec(), query.clone(), peer) {
                    let fail = reply::response(&query, ResponseCode::ServFail);
                    if let Some(bytes) = reply::encode(fail, limit(&query, Transport::Udp)) {
                        let _ = udp.send_to(&bytes, peer);
                    }
                }
            }
        }
    }
}

/// Forward a UDP query on a worker thread; false if too many are in flight or no thread could be
/// had.
fn spawn_forward(
    server: &Arc<Server>,
    udp: &Arc<UdpSocket>,
    packet: Vec<u8>,
    query: Message,
    peer: SocketAddr,
) -> bool {
    let Some(slot) = Slot::take(server, Cap::Forwards) else {
        return false;
    };
    let udp = udp.clone();
    thread::Builder::new()
        .name("dns-forward".into())
        .spawn(move || {
            if let Some(bytes) = slot.server.forward(&packet, &query, Transport::Udp) {
                let _ = udp.send_to(&bytes, peer);
            }
        })
        .is_ok()
}

fn tcp_loop(server: &Arc<Server>, tcp: &TcpListener) {
    loop {
        let stream = match tcp.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(slot) = Slot::take(server, Cap::Connections) else {
            continue; // dropping the stream closes it
        };
        let _ = thread::Builder::new()
            .name("dns-tcp-conn".into())
            .spawn(move || {
                let _ = serve_connection(&slot.server, stream);
            });
    }
}

/// Answer length-prefixed queries on one TCP connection until the client closes it or idles.
fn serve_connection(server: &Server, mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(TCP_IDLE))?;
    stream.set_write_timeout(Some(TCP_IDLE))?;
    while let Some(packet) = read_frame(&mut stream)? {
        let bytes = match server.handle(&packet, Transport::Tcp) {
            Action::Reply(bytes) => bytes,
            Action::Drop => return Ok(()),
            Action::Forward(query) => match server.forward(&packet, &query, Transport::Tcp) {
                Some(bytes) => bytes,
                None => return Ok(()),
            },
        };
        write_frame(&mut stream, &bytes)?;
    }
    Ok(())
}

/// Read one length-prefixed DNS message; None at a clean end of stream.
fn read_frame(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut packet)?;
    Ok(Some(packet))
}

/// Write one DNS message with its length prefix.
fn write_frame(stream: &mut impl Write, packet: &[u8]) -> io::Result<()> {
    let len = u16::try_from(packet.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "dns message too long"))?;
    let mut framed = Vec::with_capacity(packet.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(packet);
    stream.write_all(&framed)
}
