//! Building the responder's own answers: member names, errors, and fitting answers to the size
//! the client takes.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rand::seq::SliceRandom;

use super::Names;

/// The TTL of member answers, as Docker gives.
const TTL: u32 = 600;
/// The UDP payload size the responder advertises when the client speaks EDNS.
const EDNS_PAYLOAD: u16 = 4096;
/// The DNS header length.
const HEADER_LEN: usize = 12;

/// The answer for `query` from the member names, or None if it is not about a member (forward it).
/// `query` has exactly one question.
pub(super) fn local_answer(names: &dyn Names, query: &Message) -> Option<Message> {
    let question = query.queries.first()?;
    if question.query_class() != DNSClass::IN {
        return None;
    }
    let qname = question.name();
    let name = qname.to_lowercase().to_ascii();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name.is_empty() {
        return None;
    }
    if question.query_type() == RecordType::PTR {
        let target = names.reverse(arpa_v4(name)?)?;
        let target = Name::from_ascii(format!("{}.", target.trim_end_matches('.'))).ok()?;
        let mut answer = response(query, ResponseCode::NoError);
        answer.add_answer(Record::from_rdata(
            qname.clone(),
            TTL,
            RData::PTR(PTR(target)),
        ));
        return Some(answer);
    }
    let mut addrs = names.lookup(name)?;
    let mut answer = response(query, ResponseCode::NoError);
    if question.query_type() == RecordType::A {
        addrs.shuffle(&mut rand::thread_rng());
        for addr in addrs {
            answer.add_answer(Record::from_rdata(qname.clone(), TTL, RData::A(A(addr))));
        }
    }
    Some(answer)
}

/// The IPv4 address a `d.c.b.a.in-addr.arpa` name (lower-case, no trailing dot) stands for.
pub(super) fn arpa_v4(name: &str) -> Option<Ipv4Addr> {
    let labels = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = labels.split('.');
    for octet in octets.iter_mut().rev() {
        let part = parts.next()?;
        // No leading zeros, no signs: exactly the decimal form.
        if part.is_empty() || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// An empty response to `query` with `code`: id, opcode, RD and CD kept, RA on, AA off, the
/// question echoed, and an OPT record if the query had one.
pub(super) fn response(query: &Message, code: ResponseCode) -> Message {
    let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
    answer.metadata = Metadata::response_from_request(&query.metadata);
    answer.metadata.recursion_available = true;
    answer.metadata.authoritative = false;
    answer.metadata.response_code = code;
    answer.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        answer.set_edns(edns);
    }
    answer
}

/// A bare error response (header only) to a packet that could not be parsed, if it has a query
/// header at all.
pub(super) fn header_error(packet: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let header = packet.get(..HEADER_LEN)?;
    if header[2] & 0x80 != 0 {
        return None; // a response: never answer one
    }
    let mut bytes = vec![0u8; HEADER_LEN];
    bytes[..2].copy_from_slice(&header[..2]);
    // QR on, opcode and RD kept, AA and TC off.
    bytes[2] = 0x80 | (header[2] & 0x79);
    // RA on, CD kept, the low four bits of the code.
    bytes[3] = 0x80 | (header[3] & 0x10) | (code.low() & 0x0f);
    Some(bytes)
}

/// Encode `msg` within `limit` bytes: when it does not fit, keep as many records as fit (in
/// answer, authority, additional order) and set TC if an answer or authority record was cut.
pub(super) fn encode(msg: Message, limit: usize) -> Option<Vec<u8>> {
    let full = msg.to_vec().ok()?;
    if full.len() <= limit {
        return Some(full);
    }
    let total = msg.answers.len() + msg.authorities.len() + msg.additionals.len();
    // The largest record count that fits, by bisection (encoding is linear in the message).
    let (mut fits, mut fails) = (0, total);
    let mut best = keep_first(&msg, 0).to_vec().ok()?;
    while fails - fits > 1 {
        let mid = fits + (fails - fits) / 2;
        let bytes = keep_first(&msg, mid).to_vec().ok()?;
        if bytes.len() <= limit {
            (fits, best) = (mid, bytes);
        } else {
            fails = mid;
        }
    }
    Some(best)
}

/// `msg` with only its first `keep` records, TC set if an answer or authority record is dropped.
fn keep_first(msg: &Message, keep: usize) -> Message {
    let mut cut = msg.clone();
    let answers = keep.min(cut.answers.len());
    let authorities = (keep - answers).min(cut.authorities.len());
    let additionals = keep - answers - authorities;
    if answers < cut.answers.len() || authorities < cut.authorities.len() {
        cut.metadata.truncation = true;
    }
    cut.answers.truncate(answers);
    cut.authorities.truncate(authorities);
    cut.additionals.truncate(additionals);
    cut
}

/// An upstream answer, fitted within `limit` bytes (cut and TC set if it is longer).
pub(super) fn fit_relayed(answer: Vec<u8>, limit: usize) -> Vec<u8> {
    if answer.len() <= limit {
        return answer;
    }
    if let Some(bytes) = Message::from_vec(&answer)
        .ok()
        .and_then(|msg| encode(msg, limit))
    {
        return bytes;
    }
    // Unparseable and too long: the header alone, with TC, sends the client to TCP.
    let mut bytes = answer[..HEADER_LEN].to_vec();
    bytes[2] |= 0x02;
    bytes[4..].fill(0);
    bytes
}
