//! `capture`: the packets on an interface while a step runs, as `tcpdump -nn` would print them
//! (ARP, ICMP echo, TCP flags, UDP, DNS questions and answers), and saved as a `.pcap` file that
//! tshark and Wireshark read. [`Capture::start`] listens (libpcap through the pcap crate, on a
//! thread), [`Capture::stop`] ends it; [`decode`] is the pure bytes-to-line part.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TcpSlice, TransportSlice};
use serde_json::json;

use super::{Observation, ObserveError};

/// At most this many decoded packets are kept (the .pcap keeps them all).
pub const MAX_PACKETS: usize = 10_000;
/// How long the capture thread waits for a packet before looking whether it must stop (ms).
const POLL_MS: i32 = 50;
/// After `stop`, packets already queued are still read for at most this long.
const DRAIN: Duration = Duration::from_millis(500);

/// A capture that could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// `only` names no protocol we know.
    #[error("capture: unknown protocol {0:?} for `only` (icmp, arp, tcp, udp, dns)")]
    UnknownProtocol(String),
    /// libpcap could not open the interface.
    #[error("capture on {interface}: {message}")]
    Open {
        /// The interface.
        interface: String,
        /// libpcap's message.
        message: String,
    },
    /// The .pcap file could not be written.
    #[error("capture: writing {path}: {message}")]
    Save {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Reading packets failed mid-way.
    #[error("capture on {interface}: {message}")]
    Read {
        /// The interface.
        interface: String,
        /// libpcap's message.
        message: String,
    },
}

/// The framing of captured bytes (libpcap's link type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II (`DLT_EN10MB`, also `lo` on Linux).
    Ethernet,
    /// Linux cooked capture v1 (`DLT_LINUX_SLL`, the `any` interface).
    LinuxSll,
    /// Bare IP (`DLT_RAW`, tun devices).
    Raw,
    /// Anything else (the DLT number).
    Other(i32),
}

impl LinkType {
    /// From libpcap's DLT number.
    pub fn from_dlt(dlt: i32) -> LinkType {
        match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            12 | 14 | 101 => LinkType::Raw,
            n => LinkType::Other(n),
        }
    }
}

/// What a packet is, for `only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// ARP.
    Arp,
    /// ICMP or ICMPv6.
    Icmp,
    /// TCP (not DNS).
    Tcp,
    /// UDP (not DNS).
    Udp,
    /// DNS over UDP.
    DnsUdp,
    /// DNS over TCP.
    DnsTcp,
    /// Anything else.
    Other,
}

/// `only:` a protocol filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// ARP.
    Arp,
    /// ICMP and ICMPv6.
    Icmp,
    /// TCP (DNS over TCP too).
    Tcp,
    /// UDP (DNS over UDP too).
    Udp,
    /// DNS (port 53, UDP or TCP).
    Dns,
}

impl FromStr for Only {
    type Err = CaptureError;
    fn from_str(s: &str) -> Result<Only, CaptureError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "arp" => Only::Arp,
            "icmp" | "icmp6" => Only::Icmp,
            "tcp" => Only::Tcp,
            "udp" => Only::Udp,
            "dns" => Only::Dns,
            other => return Err(CaptureError::UnknownProtocol(other.into())),
        })
    }
}

impl Only {
    fn name(self) -> &'static str {
        match self {
            Only::Arp => "arp",
            Only::Icmp => "icmp",
            Only::Tcp => "tcp",
            Only::Udp => "udp",
            Only::Dns => "dns",
        }
    }
}

/// One packet, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// As `tcpdump -nn` prints it, without the time: `IP 10.0.0.2 > 10.0.0.1: ICMP echo request, id 5, seq 1, length 64`.
    pub line: String,
    /// What it is.
    pub proto: Proto,
}

/// Whether a packet passes `only` (none: every packet).
pub fn matches_only(d: &Decoded, only: Option<Only>) -> bool {
    match only {
        None => true,
        Some(Only::Arp) => d.proto == Proto::Arp,
        Some(Only::Icmp) => d.proto == Proto::Icmp,
        Some(Only::Tcp) => matches!(d.proto, Proto::Tcp | Proto::DnsTcp),
        Some(Only::Udp) => matches!(d.proto, Proto::Udp | Proto::DnsUdp),
        Some(Only::Dns) => matches!(d.proto, Proto::DnsUdp | Proto::DnsTcp),
    }
}

fn mac(b: &[u8]) -> String {
    super::links::mac_text(b)
}

/// Decode one captured frame into a `tcpdump -nn` line.
pub fn decode(link: LinkType, frame: &[u8]) -> Decoded {
    let parsed = match link {
        LinkType::Ethernet => SlicedPacket::from_ethernet(frame),
        LinkType::LinuxSll => SlicedPacket::from_linux_sll(frame),
        LinkType::Raw => SlicedPacket::from_ip(frame),
        LinkType::Other(n) => {
            return Decoded {
                line: format!("link type {n}, length {}", frame.len()),
                proto: Proto::Other,
            }
        }
    };
    let p = match parsed {
        Ok(p) => p,
        Err(e) => {
            return Decoded {
                line: format!("malformed packet ({e}), length {}", frame.len()),
                proto: Proto::Other,
            }
        }
    };
    match &p.net {
        Some(NetSlice::Arp(a)) => Decoded {
            line: arp_line(a.slice()),
            proto: Proto::Arp,
        },
        Some(NetSlice::Ipv4(ip)) => ip_packet_line(
            "IP",
            &ip.header().source_addr().to_string(),
            &ip.header().destination_addr().to_string(),
            ip.payload(),
            p.transport.as_ref(),
        ),
        Some(NetSlice::Ipv6(ip)) => ip_packet_line(
            "IP6",
            &ip.header().source_addr().to_string(),
            &ip.header().destination_addr().to_string(),
            ip.payload(),
            p.transport.as_ref(),
        ),
        None => {
            let ether_type = match &p.link {
                Some(etherparse::LinkSlice::Ethernet2(e)) => Some(e.ether_type().0),
                _ => None,
            };
            Decoded {
                line: match ether_type {
                    Some(t) => format!("ethertype 0x{t:04x}, length {}", frame.len()),
                    None => format!("unknown packet, length {}", frame.len()),
                },
                proto: Proto::Other,
            }
        }
    }
}

/// `ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28` / `ARP, Reply 10.0.0.1 is-at …`.
fn arp_line(bytes: &[u8]) -> String {
    let len = bytes.len();
    let packet = etherparse::ArpPacket::from_slice(bytes)
        .ok()
        .and_then(|a| a.try_eth_ipv4().ok());
    let Some(a) = packet else {
        return format!("ARP, length {len}");
    };
    let (spa, tpa) = (a.sender_ipv4_addr(), Ipv4Addr::from(a.target_ipv4));
    match a.operation.0 {
        1 => format!("ARP, Request who-has {tpa} tell {spa}, length {len}"),
        2 => format!(
            "ARP, Reply {spa} is-at {}, length {len}",
            mac(&a.sender_mac)
        ),
        op => format!("ARP, operation {op}, length {len}"),
    }
}

#[allow(clippy::too_many_arguments)]
/// [`ip_line`] for an IPv4 or IPv6 packet's payload.
fn ip_packet_line(
    family: &str,
    src: &str,
    dst: &str,
    payload: &etherparse::IpPayloadSlice,
    transport: Option<&TransportSlice>,
) -> Decoded {
    ip_line(
        family,
        src,
        dst,
        transport,
        payload.ip_number.0,
        payload.fragmented,
        payload.payload.len(),
    )
}

fn ip_line(
    family: &str,
    src: &str,
    dst: &str,
    transport: Option<&TransportSlice>,
    ip_number: u8,
    fragmented: bool,
    payload_len: usize,
) -> Decoded {
    let (text, proto) = match transport {
        Some(TransportSlice::Icmpv4(i)) => {
            let len = i.slice().len();
            let what = match i.icmp_type() {
                Icmpv4Type::EchoRequest(e) => format!("echo request, id {}, seq {}", e.id, e.seq),
                Icmpv4Type::EchoReply(e) => format!("echo reply, id {}, seq {}", e.id, e.seq),
                Icmpv4Type::DestinationUnreachable(_) => {
                    let (host, port) = unreachable_target(i.payload());
                    match i.code_u8() {
                        0 => format!("net {host} unreachable"),
                        1 => format!("host {host} unreachable"),
                        2 => format!("{host} protocol unreachable"),
                        3 => format!("{} unreachable", port.unwrap_or(host)),
                        4 => format!("{host} unreachable - need to frag"),
                        9 | 10 | 13 => format!("host {host} unreachable - admin prohibited"),
                        c => format!("{host} unreachable (code {c})"),
                    }
                }
                Icmpv4Type::TimeExceeded(_) => "time exceeded in-transit".into(),
                Icmpv4Type::Redirect(_) => "redirect".into(),
                _ => format!("type {}, code {}", i.type_u8(), i.code_u8()),
            };
            (
                format!("{family} {src} > {dst}: ICMP {what}, length {len}"),
                Proto::Icmp,
            )
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let len = i.slice().len();
            let what = match i.icmp_type() {
                Icmpv6Type::EchoRequest(e) => format!("echo request, id {}, seq {}", e.id, e.seq),
                Icmpv6Type::EchoReply(e) => format!("echo reply, id {}, seq {}", e.id, e.seq),
                // The payload begins with the target (the 4 reserved bytes are in the header).
                Icmpv6Type::NeighborSolicitation => {
                    match i
                        .payload()
                        .get(..16)
                        .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    {
                        Some(t) => format!("neighbor solicitation, who has {}", Ipv6Addr::from(t)),
                        None => "neighbor solicitation".into(),
                    }
                }
                Icmpv6Type::NeighborAdvertisement(_) => "neighbor advertisement".into(),
                Icmpv6Type::RouterSolicitation => "router solicitation".into(),
                Icmpv6Type::RouterAdvertisement(_) => "router advertisement".into(),
                Icmpv6Type::DestinationUnreachable(_) => "destination unreachable".into(),
                Icmpv6Type::TimeExceeded(_) => "time exceeded in-transit".into(),
                _ => format!("type {}, code {}", i.type_u8(), i.code_u8()),
            };
            (
                format!("{family} {src} > {dst}: ICMP6, {what}, length {len}"),
                Proto::Icmp,
            )
        }
        Some(TransportSlice::Igmp(g)) => {
            let b = g.bytes4to7();
            let what = match g.type_u8() {
                0x11 => "igmp query".to_string(),
                0x12 => "igmp v1 report".to_string(),
                0x16 => "igmp v2 report".to_string(),
                0x17 => "igmp leave".to_string(),
                0x22 => format!(
                    "igmp v3 report, {} group record(s)",
                    u16::from_be_bytes([b[2], b[3]])
                ),
                t => format!("igmp type 0x{t:02x}"),
            };
            (format!("{family} {src} > {dst}: {what}"), Proto::Other)
        }
        Some(TransportSlice::Tcp(t)) => {
            let (sp, dp) = (t.source_port(), t.destination_port());
            let dns = sp == 53 || dp == 53;
            let mut text = format!("{family} {src}.{sp} > {dst}.{dp}: {}", tcp_summary(t));
            let payload = t.payload();
            if dns && payload.len() > 2 {
                if let Some(d) = dns_summary(&payload[2..]) {
                    let _ = write!(text, ": {d}");
                }
            } else if let Some(first) = http_first_line(payload) {
                let _ = write!(text, ": HTTP: {first}");
            }
            (text, if dns { Proto::DnsTcp } else { Proto::Tcp })
        }
        Some(TransportSlice::Udp(u)) => {
            let (sp, dp) = (u.source_port(), u.destination_port());
            let payload = u.payload();
            let dns = (sp == 53 || dp == 53)
                .then(|| dns_summary(payload))
                .flatten();
            match dns {
                Some(d) => (
                    format!("{family} {src}.{sp} > {dst}.{dp}: {d}"),
                    Proto::DnsUdp,
                ),
                None => (
                    format!(
                        "{family} {src}.{sp} > {dst}.{dp}: UDP, length {}",
                        payload.len()
                    ),
                    if sp == 53 || dp == 53 {
                        Proto::DnsUdp
                    } else {
                        Proto::Udp
                    },
                ),
            }
        }
        _ if fragmented => (
            format!(
                "{family} {src} > {dst}: fragment of ip-proto-{ip_number}, length {payload_len}"
            ),
            Proto::Other,
        ),
        _ => (
            format!("{family} {src} > {dst}: ip-proto-{ip_number} {payload_len}"),
            Proto::Other,
        ),
    };
    Decoded { line: text, proto }
}

/// The destination of the IP packet an ICMP error quotes, and with its port (`10.0.0.1 udp port
/// 53`, tcpdump's wording) when it was UDP or TCP.
fn unreachable_target(inner: &[u8]) -> (String, Option<String>) {
    let Ok(ip) = etherparse::Ipv4HeaderSlice::from_slice(inner) else {
        return ("?".into(), None);
    };
    let dst = ip.destination_addr();
    let rest = &inner[ip.slice().len()..];
    let port = rest.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let with_port = match (ip.protocol().0, port) {
        (17, Some(p)) => Some(format!("{dst} udp port {p}")),
        (6, Some(p)) => Some(format!("{dst} tcp port {p}")),
        _ => None,
    };
    (dst.to_string(), with_port)
}

/// `Flags [S.], seq 1000, ack 2001, win 512, length 0` (absolute numbers).
fn tcp_summary(t: &TcpSlice) -> String {
    let mut flags = String::new();
    for (on, c) in [
        (t.fin(), 'F'),
        (t.syn(), 'S'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
        (t.ack(), '.'),
        (t.urg(), 'U'),
        (t.ece(), 'E'),
        (t.cwr(), 'W'),
    ] {
        if on {
            flags.push(c);
        }
    }
    if flags.is_empty() {
        flags.push_str("none");
    }
    let len = t.payload().len() as u32;
    let seq = t.sequence_number();
    let mut s = format!("Flags [{flags}]");
    if len > 0 {
        let _ = write!(s, ", seq {seq}:{}", seq.wrapping_add(len));
    } else if t.syn() || t.fin() || t.rst() {
        let _ = write!(s, ", seq {seq}");
    }
    if t.ack() {
        let _ = write!(s, ", ack {}", t.acknowledgment_number());
    }
    let _ = write!(s, ", win {}, length {len}", t.window_size());
    s
}

/// The request or status line of an HTTP message starting a TCP payload.
fn http_first_line(payload: &[u8]) -> Option<String> {
    const STARTS: [&[u8]; 8] = [
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"HTTP/1.",
    ];
    if !STARTS.iter().any(|s| payload.starts_with(s)) {
        return None;
    }
    let end = payload.iter().position(|b| *b == b'\r' || *b == b'\n')?;
    std::str::from_utf8(&payload[..end]).ok().map(String::from)
}

/// DNS record type names.
fn rr_type(t: u16) -> String {
    match t {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        n => format!("TYPE{n}"),
    }
}

/// A (possibly compressed) name at `pos`; the name and where the data after it starts.
fn dns_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            end.get_or_insert(pos + 1);
            let name = if labels.is_empty() {
                ".".to_string()
            } else {
                format!("{}.", labels.join("."))
            };
            return Some((name, end?));
        }
        if len & 0xc0 == 0xc0 {
            let low = *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ((len & 0x3f) << 8) | low;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + len;
    }
    None
}

/// `DNS A? conteiner1.` for a question; `DNS reply conteiner1. A 172.18.0.2` (or `NXDomain`) for
/// an answer. None if `msg` is not a DNS message.
pub fn dns_summary(msg: &[u8]) -> Option<String> {
    if msg.len() < 12 {
        return None;
    }
    let be = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let flags = be(2);
    let (qd, an) = (be(4), be(6));
    if qd == 0 {
        return None;
    }
    let (qname, mut pos) = dns_name(msg, 12)?;
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    pos += 4;
    if flags & 0x8000 == 0 {
        return Some(format!("DNS {}? {qname}", rr_type(qtype)));
    }
    let rcode = flags & 0x000f;
    if rcode != 0 {
        let why = match rcode {
            1 => "FormErr".to_string(),
            2 => "ServFail".to_string(),
            3 => "NXDomain".to_string(),
            4 => "NotImp".to_string(),
            5 => "Refused".to_string(),
            n => format!("rcode {n}"),
        };
        return Some(format!("DNS reply {qname} {why}"));
    }
    // Further questions, then the answers.
    for _ in 1..qd {
        pos = dns_name(msg, pos)?.1 + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..an {
        let (_, p) = dns_name(msg, pos)?;
        let t = u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]);
        let rdlen = u16::from_be_bytes([*msg.get(p + 8)?, *msg.get(p + 9)?]) as usize;
        let rdata = msg.get(p + 10..p + 10 + rdlen)?;
        let value = match t {
            1 if rdlen == 4 => Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
            28 if rdlen == 16 => Ipv6Addr::from(<[u8; 16]>::try_from(rdata).ok()?).to_string(),
            2 | 5 | 12 => dns_name(msg, p + 10).map(|(n, _)| n).unwrap_or_default(),
            _ => format!("({rdlen} bytes)"),
        };
        answers.push(format!("{} {value}", rr_type(t)));
        pos = p + 10 + rdlen;
    }
    Some(if answers.is_empty() {
        format!("DNS reply {qname} (no answer)")
    } else {
        format!("DNS reply {qname} {}", answers.join(", "))
    })
}

/// Wait until `fd` has something to read, for at most `ms` milliseconds.
fn wait_readable(fd: std::os::fd::RawFd, ms: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) };
}

/// One packet seen: when (seconds since the first) and what.
#[derive(Debug, Clone)]
struct Seen {
    t: f64,
    decoded: Decoded,
}

/// What the capture thread hands back.
struct Outcome {
    kept: Vec<Seen>,
    matched: usize,
    total: usize,
}

/// A capture running on an interface until [`Capture::stop`].
pub struct Capture {
    interface: String,
    only: Option<Only>,
    pcap_path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Outcome, CaptureError>>>,
}

impl Capture {
    /// Start listening on `interface` (packets of protocol `only`, if given), saving them to
    /// `pcap_path` if given. It is listening when this returns.
    pub fn start(
        interface: &str,
        only: Option<&str>,
        pcap_path: Option<&Path>,
    ) -> Result<Capture, CaptureError> {
        let only = only.map(Only::from_str).transpose()?;
        let open_err = |e: pcap::Error| CaptureError::Open {
            interface: interface.into(),
            message: e.to_string(),
        };
        let mut cap = pcap::Capture::from_device(interface)
            .map_err(open_err)?
            .immediate_mode(true)
            // As tcpdump: a bridge shows the frames it forwards between its ports only when promiscuous.
            .promisc(true)
            .snaplen(65535)
            .timeout(POLL_MS)
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(open_err)?;
        let link = LinkType::from_dlt(cap.get_datalink().0);
        let mut save = match pcap_path {
            Some(p) => Some(cap.savefile(p).map_err(|e| CaptureError::Save {
                path: p.into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = stop.clone();
        let name = interface.to_string();
        let save_path = pcap_path.map(Path::to_path_buf);
        let thread = std::thread::Builder::new()
            .name(format!("capture-{interface}"))
            .spawn(move || {
                let mut out = Outcome {
                    kept: Vec::new(),
                    matched: 0,
                    total: 0,
                };
                let mut first: Option<f64> = None;
                let mut stopping: Option<Instant> = None;
                loop {
                    if stopping.is_none() && stop_seen.load(Ordering::SeqCst) {
                        stopping = Some(Instant::now());
                    }
                    if stopping.is_some_and(|s| s.elapsed() > DRAIN) {
                        break;
                    }
                    match cap.next_packet() {
                        Ok(p) => {
                            out.total += 1;
                            let d = decode(link, p.data);
                            if !matches_only(&d, only) {
                                continue;
                            }
                            out.matched += 1;
                            if let Some(s) = save.as_mut() {
                                s.write(&p);
                            }
                            let ts = p.header.ts.tv_sec as f64 + p.header.ts.tv_usec as f64 / 1e6;
                            let t = ts - *first.get_or_insert(ts);
                            if out.kept.len() < MAX_PACKETS {
                                out.kept.push(Seen { t, decoded: d });
                            }
                        }
                        Err(pcap::Error::TimeoutExpired) => {
                            // Nothing queued (non-blocking): done if stopping, else wait for
                            // the socket (libpcap's own timeout does not return on Linux).
                            if stopping.is_some() {
                                break;
                            }
                            wait_readable(cap.as_raw_fd(), POLL_MS);
                        }
                        Err(e) => {
                            return Err(CaptureError::Read {
                                interface: name.clone(),
                                message: e.to_string(),
                            })
                        }
                    }
                }
                if let Some(mut s) = save {
                    s.flush().map_err(|e| CaptureError::Save {
                        path: save_path.clone().unwrap_or_default(),
                        message: e.to_string(),
                    })?;
                }
                Ok(out)
            })
            .map_err(|e| CaptureError::Open {
                interface: interface.into(),
                message: e.to_string(),
            })?;
        Ok(Capture {
            interface: interface.into(),
            only,
            pcap_path: pcap_path.map(Path::to_path_buf),
            stop,
            thread: Some(thread),
        })
    }

    /// The interface listened on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Stop listening: the packets seen (those of `only`), one `tcpdump -nn` line each in
    /// `lines`, and in `data` with their times; the .pcap file is complete when this returns.
    pub fn stop(mut self) -> Result<Observation, ObserveError> {
        self.stop.store(true, Ordering::SeqCst);
        let outcome = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            _ => {
                return Err(CaptureError::Read {
                    interface: self.interface.clone(),
                    message: "the capture thread panicked".into(),
                }
                .into())
            }
        };
        let title = match self.only {
            Some(o) => format!("packets on {} ({} only)", self.interface, o.name()),
            None => format!("packets on {}", self.interface),
        };
        let mut obs = Observation::new(title, &[], json!(null));
        obs.lines = outcome
            .kept
            .iter()
            .map(|s| s.decoded.line.clone())
            .collect();
        if outcome.kept.is_empty() {
            obs.notes.push("(no packet)".into());
        }
        if outcome.matched > outcome.kept.len() {
            obs.notes.push(format!(
                "… and {} more packets not shown",
                outcome.matched - outcome.kept.len()
            ));
        }
        if let Some(p) = &self.pcap_path {
            obs.notes.push(format!(
                "{} packet(s) saved in {} (tshark -r {} or Wireshark)",
                outcome.matched,
                p.display(),
                p.display()
            ));
        }
        obs.data = json!({
            "interface": self.interface,
            "only": self.only.map(Only::name),
            "pcap": self.pcap_path,
            "seen": outcome.total,
            "matched": outcome.matched,
            "packets": outcome.kept.iter().map(|s| json!({
                "t": (s.t * 1e6).round() / 1e6,
                "line": s.decoded.line,
            })).collect::<Vec<_>>(),
        });
        Ok(obs)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x03];
    const B: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
    const IP_A: [u8; 4] = [172, 17, 0, 3];
    const IP_B: [u8; 4] = [172, 17, 0, 2];

    /// An Ethernet ARP frame, byte by byte.
    fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let dst = if op == 1 { [0xff; 6] } else { tha };
        let mut f = Vec::new();
        f.extend(dst);
        f.extend(sha);
        f.extend([0x08, 0x06]); // ARP
        f.extend([0x00, 0x01, 0x08, 0x00, 6, 4]); // Ethernet, IPv4, sizes
        f.extend(op.to_be_bytes());
        f.extend(sha);
        f.extend(spa);
        f.extend(tha);
        f.extend(tpa);
        f
    }

    fn ipv4() -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        PacketBuilder::ethernet2(A, B).ipv4(IP_A, IP_B, 64)
    }

    /// The bytes of a frame made by an etherparse builder with `payload`.
    macro_rules! build {
        ($step:expr, $payload:expr $(,)?) => {{
            let payload: &[u8] = $payload;
            let mut v = Vec::new();
            $step.write(&mut v, payload).unwrap();
            v
        }};
    }

    fn line(frame: &[u8]) -> String {
        decode(LinkType::Ethernet, frame).line
    }

    #[test]
    fn arp_request_and_reply() {
        let req = arp(1, A, IP_A, [0; 6], IP_B);
        let d = decode(LinkType::Ethernet, &req);
        assert_eq!(
            d.line,
            "ARP, Request who-has 172.17.0.2 tell 172.17.0.3, length 28"
        );
        assert_eq!(d.proto, Proto::Arp);
        let rep = arp(2, B, IP_B, A, IP_A);
        assert_eq!(
            line(&rep),
            "ARP, Reply 172.17.0.2 is-at 02:42:ac:11:00:02, length 28"
        );
    }

    #[test]
    fn icmp_echo() {
        let f = build!(ipv4().icmpv4_echo_request(5, 1), &[0u8; 56]);
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.line,
            "IP 172.17.0.3 > 172.17.0.2: ICMP echo request, id 5, seq 1, length 64"
        );
        assert_eq!(d.proto, Proto::Icmp);
        let f = build!(
            PacketBuilder::ethernet2(B, A)
                .ipv4(IP_B, IP_A, 64)
                .icmpv4_echo_reply(5, 1),
            &[0u8; 56],
        );
        assert_eq!(
            line(&f),
            "IP 172.17.0.2 > 172.17.0.3: ICMP echo reply, id 5, seq 1, length 64"
        );
    }

    #[test]
    fn tcp_flags() {
        let syn = build!(
            PacketBuilder::ethernet2(A, B)
                .ipv4([10, 215, 3, 2], [10, 215, 3, 1], 64)
                .tcp(41234, 8080, 1000, 64240)
                .syn(),
            &[],
        );
        let d = decode(LinkType::Ethernet, &syn);
        assert_eq!(
            d.line,
            "IP 10.215.3.2.41234 > 10.215.3.1.8080: Flags [S], seq 1000, win 64240, length 0"
        );
        assert_eq!(d.proto, Proto::Tcp);
        let synack = build!(ipv4().tcp(80, 41234, 5000, 65160).syn().ack(1001), &[]);
        assert_eq!(
            line(&synack),
            "IP 172.17.0.3.80 > 172.17.0.2.41234: Flags [S.], seq 5000, ack 1001, win 65160, length 0"
        );
        let get = build!(
            ipv4().tcp(41234, 80, 1001, 502).psh().ack(5001),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(
            line(&get),
            "IP 172.17.0.3.41234 > 172.17.0.2.80: Flags [P.], seq 1001:1028, ack 5001, win 502, length 27: HTTP: GET / HTTP/1.1"
        );
        let rst = build!(ipv4().tcp(80, 41234, 7, 0).rst().ack(9), &[]);
        assert!(line(&rst).contains("Flags [R.], seq 7, ack 9, win 0, length 0"));
    }

    /// A DNS query for `name` (A), id 0x1234, recursion desired.
    fn dns_query(name: &str) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend(label.as_bytes());
        }
        m.extend([0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn dns_question_and_answers() {
        let q = dns_query("conteiner1.");
        let f = build!(
            PacketBuilder::ethernet2(A, B)
                .ipv4([172, 18, 0, 3], [127, 0, 0, 11], 64)
                .udp(39812, 53),
            &q,
        );
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.line,
            "IP 172.18.0.3.39812 > 127.0.0.11.53: DNS A? conteiner1."
        );
        assert_eq!(d.proto, Proto::DnsUdp);
        assert!(matches_only(&d, Some(Only::Dns)));
        assert!(matches_only(&d, Some(Only::Udp)));
        assert!(!matches_only(&d, Some(Only::Tcp)));

        // The answer: the question, then a CNAME (pointer to the question's name) and an A.
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 2;
        r.extend([
            0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'w', b'e', b'b', 0xc0, 12,
        ]);
        r.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 172, 18, 0, 2]);
        assert_eq!(
            dns_summary(&r).unwrap(),
            "DNS reply conteiner1. CNAME web.conteiner1., A 172.18.0.2"
        );
        let mut nx = q.clone();
        nx[2] = 0x81;
        nx[3] = 0x83;
        assert_eq!(dns_summary(&nx).unwrap(), "DNS reply conteiner1. NXDomain");
        // Not DNS at all, on port 53: plain UDP.
        assert_eq!(dns_summary(b"hello"), None);
        let f = build!(
            PacketBuilder::ethernet2(A, B)
                .ipv4(IP_A, IP_B, 64)
                .udp(1000, 53),
            b"hi"
        );
        assert_eq!(
            line(&f),
            "IP 172.17.0.3.1000 > 172.17.0.2.53: UDP, length 2"
        );
        // A pointer loop ends.
        let mut lp = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        lp.extend([0xc0, 12]);
        assert_eq!(dns_summary(&lp), None);
    }

    #[test]
    fn udp_other_and_filters() {
        let f = build!(ipv4().udp(5000, 6000), b"12345");
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.line,
            "IP 172.17.0.3.5000 > 172.17.0.2.6000: UDP, length 5"
        );
        assert!(matches_only(&d, None));
        assert!(matches_only(&d, Some(Only::Udp)));
        assert!(!matches_only(&d, Some(Only::Dns)));
        assert!(!matches_only(&d, Some(Only::Icmp)));
        assert!("bogus".parse::<Only>().is_err());
        assert_eq!("ICMP".parse::<Only>().unwrap(), Only::Icmp);
    }

    #[test]
    fn port_unreachable_names_the_port() {
        // The ICMP error quotes the UDP packet's IP header and first 8 bytes.
        let inner = build!(ipv4().udp(40000, 53), b"");
        let quoted = &inner[14..14 + 28];
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend(quoted);
        let f = build!(
            PacketBuilder::ethernet2(B, A)
                .ipv4(IP_B, IP_A, 64)
                .icmpv4(Icmpv4Type::Unknown {
                    type_u8: 99,
                    code_u8: 0,
                    bytes5to8: [0; 4]
                }),
            &[],
        );
        // Swap the hand-written ICMP in for the placeholder (checksums are not checked).
        let mut f = f[..14 + 20].to_vec();
        f.extend(&icmp);
        let total = (20 + icmp.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        assert_eq!(
            line(&f),
            "IP 172.17.0.2 > 172.17.0.3: ICMP 172.17.0.2 udp port 53 unreachable, length 36"
        );
    }

    #[test]
    fn igmp_reports() {
        let mut f = build!(ipv4().udp(1, 2), &[]);
        f.truncate(14 + 20);
        f[14 + 9] = 2; // protocol IGMP
        f[30..34].copy_from_slice(&[224, 0, 0, 22]);
        f.extend([0x22, 0, 0, 0, 0, 0, 0, 1]);
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.line,
            "IP 172.17.0.3 > 224.0.0.22: igmp v3 report, 1 group record(s)"
        );
        assert!(!matches_only(&d, Some(Only::Icmp)));
    }

    #[test]
    fn other_framings() {
        // Bare IP (DLT_RAW): the frame without its Ethernet header.
        let f = build!(ipv4().icmpv4_echo_request(1, 2), &[0u8; 8]);
        assert_eq!(
            decode(LinkType::Raw, &f[14..]).line,
            "IP 172.17.0.3 > 172.17.0.2: ICMP echo request, id 1, seq 2, length 16"
        );
        // Linux cooked (the `any` interface): 16-byte header ending with the ethertype.
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend(A);
        sll.extend([0, 0, 0x08, 0x00]);
        sll.extend(&f[14..]);
        assert!(decode(LinkType::LinuxSll, &sll)
            .line
            .contains("ICMP echo request, id 1, seq 2"));
        // Something that is no IP: its ethertype.
        let mut lldp = f[..12].to_vec();
        lldp.extend([0x88, 0xcc, 1, 2, 3]);
        assert_eq!(line(&lldp), "ethertype 0x88cc, length 17");
        assert!(line(&f[..20]).starts_with("malformed packet"));
        assert_eq!(
            decode(LinkType::Other(276), &[1, 2]).line,
            "link type 276, length 2"
        );
    }

    #[test]
    fn ipv6_neighbor_solicitation_and_echo() {
        let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let f = build!(
            PacketBuilder::ethernet2(A, B)
                .ipv6(src, dst, 64)
                .icmpv6_echo_request(7, 3),
            &[0; 4]
        );
        assert_eq!(
            line(&f),
            "IP6 fe80::1 > fe80::2: ICMP6, echo request, id 7, seq 3, length 12"
        );
        let ns = dst.to_vec();
        let f = build!(
            PacketBuilder::ethernet2(A, B)
                .ipv6(src, dst, 255)
                .icmpv6(Icmpv6Type::NeighborSolicitation),
            &ns,
        );
        let d = decode(LinkType::Ethernet, &f);
        assert_eq!(
            d.line,
            "IP6 fe80::1 > fe80::2: ICMP6, neighbor solicitation, who has fe80::2, length 24"
        );
        assert!(matches_only(&d, Some(Only::Icmp)));
    }

    #[test]
    fn unknown_interface_fails_to_open() {
        match Capture::start("no-such-if0", None, None) {
            Err(CaptureError::Open { interface, .. }) => assert_eq!(interface, "no-such-if0"),
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("opened a missing interface"),
        }
        assert!(matches!(
            Capture::start("lo", Some("smtp"), None),
            Err(CaptureError::UnknownProtocol(_))
        ));
    }
}
