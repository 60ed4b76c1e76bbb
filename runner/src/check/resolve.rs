//! `resolves:` checks: a name resolves inside a container, found without any tool of its image.
//! First its `/etc/hosts` (read through `/proc/PID/root`), then a DNS `A` query sent over UDP to
//! the name servers of its `/etc/resolv.conf`, from a thread that has joined the container's
//! network namespace (so `127.0.0.11`, Docker's embedded DNS, is the container's own). The name is
//! asked as it is written (no search domains), and only name servers on the container's loopback
//! or on the lab's own addresses are asked.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::container::running_pid;
use super::file::read_in_root;
use super::port::guard;
use super::{unmet, Context, Failure};
use crate::client::in_netns;
use crate::lab::model::ResolveCheck;

/// How long a name server has to answer.
const ANSWER: Duration = Duration::from_secs(1);

pub(super) fn resolves(c: &ResolveCheck, ctx: &Context) -> Result<(), Failure> {
    let (who, name) = (&c.container, c.name.trim_end_matches('.'));
    let pid = running_pid(ctx.backend, who)?;
    let hosts = read_in_root(pid, "/etc/hosts").unwrap_or_default();
    let mut found = from_hosts(&String::from_utf8_lossy(&hosts), name);
    let mut how = "/etc/hosts".to_string();
    if found.is_empty() {
        let conf = read_in_root(pid, "/etc/resolv.conf").unwrap_or_default();
        let servers = nameservers(&String::from_utf8_lossy(&conf));
        if servers.is_empty() {
            return unmet(format!(
                "{name} is not in /etc/hosts of container {who}, and its /etc/resolv.conf names no name server"
            ));
        }
        for s in &servers {
            guard(*s, ctx, "ask the name server")?;
        }
        let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let query_name = name.to_string();
        let answers = in_netns(&netns, move || {
            servers
                .iter()
                .map(|&s| (s, ask(SocketAddr::new(s, 53), &query_name)))
                .collect::<Vec<_>>()
        })
        .map_err(|e| Failure::Error(format!("entering container {who}'s network: {e}")))?;
        let mut why = Vec::new();
        for (server, answer) in answers {
            match answer {
                Ok(Answer::Addresses(a)) if !a.is_empty() => {
                    found = a;
                    how = format!("name server {server}");
                    break;
                }
                Ok(Answer::Addresses(_)) => why.push(format!("{server} has no address for it")),
                Ok(Answer::Code(code)) => why.push(format!("{server} answers {code}")),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    why.push(format!("nothing answers DNS at {server}"))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    why.push(format!("{server} does not answer"))
                }
                Err(e) => why.push(format!("asking {server}: {e}")),
            }
        }
        if found.is_empty() {
            return unmet(format!(
                "{name} does not resolve in container {who}: {}",
                why.join("; ")
            ));
        }
    }
    let Some(to) = &c.to else {
        return Ok(());
    };
    let want = to.trim();
    let hit = match want.parse::<IpAddr>() {
        Ok(w) => found.contains(&w),
        Err(_) => found.iter().any(|a| a.to_string() == want),
    };
    if hit {
        return Ok(());
    }
    let seen: Vec<String> = found.iter().map(IpAddr::to_string).collect();
    unmet(format!(
        "{name} resolves in container {who} to {} (by {how}), expected {want}",
        seen.join(", ")
    ))
}

/// The addresses `/etc/hosts` gives `name` (case does not matter), in its order.
fn from_hosts(hosts: &str, name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(addr) = words.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
            continue;
        };
        if words.any(|w| w.trim_end_matches('.').eq_ignore_ascii_case(name)) && !out.contains(&addr)
        {
            out.push(addr);
        }
    }
    out
}

/// The `nameserver` lines of a resolv.conf, in order.
fn nameservers(conf: &str) -> Vec<IpAddr> {
    conf.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.split('%').next()?.parse().ok())
        })
        .collect()
}

/// What a name server said.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The `A` records of its answer (maybe none).
    Addresses(Vec<IpAddr>),
    /// It failed the query: `NXDOMAIN`, `SERVFAIL`…
    Code(String),
}

/// One `A` query over UDP, from the calling thread's network namespace.
fn ask(server: SocketAddr, name: &str) -> io::Result<Answer> {
    let fqdn = Name::from_ascii(format!("{name}."))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(fqdn, RecordType::A));
    let id = q.metadata.id;
    let packet = q.to_vec().map_err(io::Error::other)?;
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(server)?;
    socket.send(&packet)?;
    let deadline = Instant::now() + ANSWER;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        socket.set_read_timeout(Some(left))?;
        let n = socket.recv(&mut buf)?;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.id != id {
            continue;
        }
        return Ok(parse_answer(&m));
    }
}

fn parse_answer(m: &Message) -> Answer {
    if m.metadata.response_code != ResponseCode::NoError {
        let code = match m.metadata.response_code {
            ResponseCode::NXDomain => "NXDOMAIN".to_string(),
            ResponseCode::ServFail => "SERVFAIL".to_string(),
            ResponseCode::Refused => "REFUSED".to_string(),
            other => other.to_string(),
        };
        return Answer::Code(code);
    }
    Answer::Addresses(
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::MessageType;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::Record;
    use std::net::Ipv4Addr;

    #[test]
    fn hosts_files_are_read_as_the_resolver_reads_them() {
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n\
                     # 10.0.0.9 web\n172.17.0.2\tabc123 Web.local web # the container\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(from_hosts(hosts, "web"), vec![ip("172.17.0.2")]);
        assert_eq!(from_hosts(hosts, "WEB.LOCAL"), vec![ip("172.17.0.2")]);
        assert_eq!(
            from_hosts(hosts, "localhost"),
            vec![ip("127.0.0.1"), ip("::1")]
        );
        assert!(from_hosts(hosts, "db").is_empty());
    }

    #[test]
    fn name_servers_come_in_order() {
        let conf = "search example.com\nnameserver 127.0.0.11\noptions ndots:0\nnameserver fe80::1%eth0\nnameserver\n";
        assert_eq!(
            nameservers(conf),
            vec![
                "127.0.0.11".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_query_is_asked_and_its_answer_read() {
        // A name server on loopback that answers web with 192.0.2.10 and anything else NXDOMAIN.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let mut buf = [0u8; 512];
                let (n, peer) = server.recv_from(&mut buf).unwrap();
                let q = Message::from_vec(&buf[..n]).unwrap();
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                r.metadata.message_type = MessageType::Response;
                let query = q.queries[0].clone();
                if query.name().to_ascii() == "web." {
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        60,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
                    ));
                } else {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
                r.add_query(query);
                server.send_to(&r.to_vec().unwrap(), peer).unwrap();
            }
        });
        assert_eq!(
            ask(addr, "web").unwrap(),
            Answer::Addresses(vec!["192.0.2.10".parse().unwrap()])
        );
        assert_eq!(ask(addr, "db").unwrap(), Answer::Code("NXDOMAIN".into()));
        t.join().unwrap();
    }
}
