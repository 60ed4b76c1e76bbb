//! Tests of the responder, on loopback only (and one in a namespace the test makes).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::sched::{setns, CloneFlags};

use super::{reply, Names, Responder};

const WEB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const FROM_UPSTREAM: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

/// Members: `web` (one address), `db` (two), `many` (100 addresses).
struct Members(HashMap<String, Vec<Ipv4Addr>>);

impl Members {
    fn new() -> Arc<Members> {
        let mut map = HashMap::new();
        map.insert("web".to_string(), vec![WEB]);
        map.insert(
            "db".to_string(),
            vec![Ipv4Addr::new(192, 0, 2, 20), Ipv4Addr::new(192, 0, 2, 21)],
        );
        let many = (0..100).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
        map.insert("many".to_string(), many);
        Arc::new(Members(map))
    }
}

impl Names for Members {
    fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.0.get(name).cloned()
    }
    fn reverse(&self, addr: Ipv4Addr) -> Option<String> {
        self.0
            .iter()
            .find(|(_, addrs)| addrs.contains(&addr))
            .map(|(name, _)| name.clone())
    }
}

/// A responder serving on fresh loopback sockets: its UDP and TCP addresses.
fn serve(upstream: Vec<SocketAddr>) -> (SocketAddr, SocketAddr) {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addrs = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    Responder::new(Members::new(), upstream)
        .serve(udp, tcp)
        .unwrap();
    addrs
}

fn query(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg
}

/// Ask over UDP; the answer and its length on the wire.
fn ask_udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(wait))?;
    socket.send_to(packet, server)?;
    let mut buf = vec![0u8; 65535];
    let len = socket.recv(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn ask_udp(server: SocketAddr, msg: &Message) -> (Message, usize) {
    let bytes = ask_udp_raw(server, &msg.to_vec().unwrap(), Duration::from_secs(5)).unwrap();
    (Message::from_vec(&bytes).unwrap(), bytes.len())
}

fn ask_tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    super::write_frame(&mut stream, &msg.to_vec().unwrap()).unwrap();
    let bytes = super::read_frame(&mut stream).unwrap().unwrap();
    Message::from_vec(&bytes).unwrap()
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(A(addr)) => Some(*addr),
            _ => None,
        })
        .collect()
}

/// The answer a fake upstream gives: `count` A records for the question.
fn upstream_answer(query: &Message, count: u8, truncated: bool) -> Vec<u8> {
    let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
    answer.metadata.message_type = MessageType::Response;
    answer.metadata.truncation = truncated;
    answer.add_queries(query.queries.iter().cloned());
    let name = query.queries[0].name().clone();
    for i in 0..count {
        let addr = if count == 1 {
            FROM_UPSTREAM
        } else {
            Ipv4Addr::new(203, 0, 113, i)
        };
        answer.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(addr))));
    }
    answer.to_vec().unwrap()
}

/// A fake upstream on 127.0.0.1 (UDP and TCP on one port) answering every query with an A
/// record; keeps the query packets it got. With `truncating`, its UDP answers are empty with TC
/// and its TCP answers carry 60 records.
struct Upstream {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Upstream {
    fn start(truncating: bool) -> Upstream {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let got_udp = got.clone();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while let Ok((len, peer)) = udp.recv_from(&mut buf) {
                got_udp.lock().unwrap().push(buf[..len].to_vec());
                let query = Message::from_vec(&buf[..len]).unwrap();
                let count = if truncating { 0 } else { 1 };
                let _ = udp.send_to(&upstream_answer(&query, count, truncating), peer);
            }
        });
        thread::spawn(move || {
            for stream in tcp.incoming() {
                let Ok(mut stream) = stream else { continue };
                while let Ok(Some(packet)) = super::read_frame(&mut stream) {
                    let query = Message::from_vec(&packet).unwrap();
                    let count = if truncating { 60 } else { 1 };
                    let answer = upstream_answer(&query, count, false);
                    if super::write_frame(&mut stream, &answer).is_err() {
                        break;
                    }
                }
            }
        });
        Upstream { addr, got }
    }
}

/// A loopback port with nothing listening (UDP or TCP).
fn dead_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

#[test]
fn member_a_answered() {
    let (udp, _) = serve(vec![]);
    let q = query("web.", RecordType::A);
    let (r, _) = ask_udp(udp, &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(r.metadata.message_type, MessageType::Response);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authoritative);
    assert!(r.metadata.recursion_available);
    assert!(r.metadata.recursion_desired);
    assert_eq!(r.queries, q.queries);
    assert_eq!(a_records(&r), vec![WEB]);
    assert!(r.answers.iter().all(|a| a.ttl == 600));

    let (r, _) = ask_udp(udp, &query("db", RecordType::A));
    let mut got = a_records(&r);
    got.sort();
    assert_eq!(
        got,
        vec![Ipv4Addr::new(192, 0, 2, 20), Ipv4Addr::new(192, 0, 2, 21)]
    );
}

#[test]
fn member_names_ignore_case_and_trailing_dot() {
    let (udp, _) = serve(vec![]);
    for name in ["WeB.", "WEB", "web"] {
        let q = query(name, RecordType::A);
        let (r, _) = ask_udp(udp, &q);
        assert_eq!(a_records(&r), vec![WEB], "{name}");
        // The question comes back as asked (on the wire every name ends in the root).
        let echoed = r.queries[0].name().to_ascii();
        assert_eq!(echoed, format!("{}.", name.trim_end_matches('.')));
        assert_eq!(r.answers[0].name.to_ascii(), echoed);
    }
}

#[test]
fn member_other_types_are_empty() {
    let (udp, _) = serve(vec![]);
    for rtype in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let (r, _) = ask_udp(udp, &query("web.", rtype));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{rtype}");
        assert!(r.answers.is_empty(), "{rtype}");
    }
}

#[test]
fn member_ptr_answered() {
    let (udp, _) = serve(vec![]);
    let (r, _) = ask_udp(udp, &query("10.2.0.192.in-addr.arpa.", RecordType::PTR));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    match &r.answers[0].data {
        RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "web."),
        other => panic!("not a PTR: {other:?}"),
    }
}

#[test]
fn arpa_names_parse() {
    assert_eq!(
        reply::arpa_v4("10.2.0.192.in-addr.arpa"),
        Some(Ipv4Addr::new(192, 0, 2, 10))
    );
    assert_eq!(reply::arpa_v4("2.0.192.in-addr.arpa"), None);
    assert_eq!(reply::arpa_v4("1.10.2.0.192.in-addr.arpa"), None);
    assert_eq!(reply::arpa_v4("010.2.0.192.in-addr.arpa"), None);
    assert_eq!(reply::arpa_v4("256.2.0.192.in-addr.arpa"), None);
    assert_eq!(reply::arpa_v4("10.2.0.192"), None);
}

#[test]
fn unknown_names_are_forwarded_and_relayed() {
    let upstream = Upstream::start(false);
    let (udp, tcp) = serve(vec![upstream.addr]);
    let q = query("elsewhere.example.", RecordType::A);
    let packet = q.to_vec().unwrap();
    let (r, _) = ask_udp(udp, &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(a_records(&r), vec![FROM_UPSTREAM]);
    // The upstream got the client's bytes unchanged.
    assert_eq!(upstream.got.lock().unwrap().as_slice(), &[packet]);

    // Over TCP too (and forwarded over TCP).
    let q = query("elsewhere.example.", RecordType::A);
    let r = ask_tcp(tcp, &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(a_records(&r), vec![FROM_UPSTREAM]);
    assert_eq!(upstream.got.lock().unwrap().len(), 1, "not over UDP");
}

#[test]
fn no_upstream_is_servfail() {
    let (udp, tcp) = serve(vec![]);
    let q = query("elsewhere.example.", RecordType::A);
    let (r, _) = ask_udp(udp, &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(r.queries, q.queries);
    let r = ask_tcp(tcp, &q);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn unreachable_upstream_is_servfail_quickly() {
    let (udp, tcp) = serve(vec![dead_port()]);
    let started = Instant::now();
    let (r, _) = ask_udp(udp, &query("elsewhere.example.", RecordType::A));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let r = ask_tcp(tcp, &query("elsewhere.example.", RecordType::A));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn upstreams_are_tried_in_turn() {
    let upstream = Upstream::start(false);
    let (udp, _) = serve(vec![dead_port(), upstream.addr]);
    let (r, _) = ask_udp(udp, &query("elsewhere.example.", RecordType::A));
    assert_eq!(a_records(&r), vec![FROM_UPSTREAM]);
}

#[test]
fn member_answered_over_tcp() {
    let (_, tcp) = serve(vec![]);
    let q = query("web.", RecordType::A);
    let r = ask_tcp(tcp, &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert_eq!(a_records(&r), vec![WEB]);
    // Several queries on one connection.
    let mut stream = TcpStream::connect(tcp).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for name in ["web.", "db."] {
        super::write_frame(&mut stream, &query(name, RecordType::A).to_vec().unwrap()).unwrap();
        let r = Message::from_vec(&super::read_frame(&mut stream).unwrap().unwrap()).unwrap();
        assert!(!a_records(&r).is_empty(), "{name}");
    }
}

#[test]
fn members_answer_fast_while_upstream_is_slow() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (udp, _) = serve(vec![silent.local_addr().unwrap()]);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(
            &query("elsewhere.example.", RecordType::A).to_vec().unwrap(),
            udp,
        )
        .unwrap();
    // The upstream got it and sits on it.
    let mut buf = [0u8; 512];
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    silent.recv(&mut buf).unwrap();
    let started = Instant::now();
    let (r, _) = ask_udp(udp, &query("web.", RecordType::A));
    assert_eq!(a_records(&r), vec![WEB]);
    assert!(started.elapsed() < Duration::from_millis(500));
    // The slow query ends in SERVFAIL after the upstream's time.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let len = client.recv(&mut buf).unwrap();
    let r = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() > Duration::from_secs(1));
}

#[test]
fn udp_answers_fit_the_client() {
    let (udp, tcp) = serve(vec![]);
    let (r, len) = ask_udp(udp, &query("many.", RecordType::A));
    assert!(len <= 512, "{len}");
    assert!(r.metadata.truncation);
    assert!(!r.answers.is_empty() && r.answers.len() < 100);

    let mut q = query("many.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    q.set_edns(edns);
    let (r, len) = ask_udp(udp, &q);
    assert!(len > 512 && len <= 4096, "{len}");
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 100);
    assert!(r.edns.is_some());

    let r = ask_tcp(tcp, &query("many.", RecordType::A));
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 100);
}

#[test]
fn truncated_upstream_answers_are_fetched_over_tcp() {
    let upstream = Upstream::start(true);
    let (udp, tcp) = serve(vec![upstream.addr]);
    // The full answer comes over TCP, then is cut to fit the UDP client.
    let (r, len) = ask_udp(udp, &query("big.example.", RecordType::A));
    assert!(len <= 512, "{len}");
    assert!(r.metadata.truncation);
    assert!(!r.answers.is_empty() && r.answers.len() < 60);
    let r = ask_tcp(tcp, &query("big.example.", RecordType::A));
    assert_eq!(r.answers.len(), 60);
}

#[test]
fn garbage_gets_formerr_or_nothing() {
    let (udp, _) = serve(vec![]);
    let mut packet = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    packet.extend_from_slice(&[0x3f, b'x']); // a label running off the end
    let bytes = ask_udp_raw(udp, &packet, Duration::from_secs(5)).unwrap();
    let r = Message::from_vec(&bytes).unwrap();
    assert_eq!(r.metadata.id, 0xabcd);
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert!(ask_udp_raw(udp, &[1, 2, 3], Duration::from_millis(300)).is_err());
}

/// A network namespace made for a test, deleted when dropped (even on panic).
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("bldns-{}-{}", std::process::id(), rand::random::<u16>());
        run(&["netns", "add", &name]);
        let netns = Netns(name);
        run(&["-n", &netns.0, "link", "set", "lo", "up"]);
        netns
    }

    fn fd(&self) -> OwnedFd {
        File::open(format!("/var/run/netns/{}", self.0))
            .unwrap()
            .into()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

fn run(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?}");
}

#[test]
fn spawn_in_serves_inside_the_namespace() {
    let netns = Netns::new();
    // A loopback upstream on the host: reached from the host's namespace, not the container's.
    let upstream = Upstream::start(false);
    Responder::new(Members::new(), vec![upstream.addr])
        .spawn_in(netns.fd())
        .unwrap();
    let fd = netns.fd();
    let answers = thread::spawn(move || {
        setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
        let server = SocketAddr::from((super::LISTEN_ADDR, 53));
        let member = ask_udp(server, &query("web.", RecordType::A)).0;
        let other = ask_udp(server, &query("elsewhere.example.", RecordType::A)).0;
        let tcp = ask_tcp(server, &query("elsewhere.example.", RecordType::A));
        (member, other, tcp)
    })
    .join()
    .unwrap();
    assert_eq!(a_records(&answers.0), vec![WEB]);
    assert_eq!(a_records(&answers.1), vec![FROM_UPSTREAM]);
    assert_eq!(a_records(&answers.2), vec![FROM_UPSTREAM]);
    drop(netns);
}
