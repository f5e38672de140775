//! Engine behaviour, driven by wire-format queries against a compiled zone.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::record::{AnswerPolicy, RData, Record};
use crate::table::{TableVersion, ZoneInput, compile};
use crate::testkit::{Query, a, aaaa, cname, name, query, record as rec, soa, srv, txt};

fn zone_records() -> Vec<Record> {
    let mut records = vec![
        soa("example.", 3600, 7),
        rec("example.", 3600, RData::Ns(name("ns1.example."))),
        a("ns1.example.", 30, [10, 0, 0, 53]),
        a("web.example.", 30, [10, 0, 0, 1]),
        a("web.example.", 30, [10, 0, 0, 2]),
        a("web.example.", 30, [10, 0, 0, 3]),
        aaaa("web.example.", 30, Ipv6Addr::LOCALHOST),
        cname("www.example.", 30, "web.example."),
        cname("out.example.", 30, "elsewhere.test."),
        cname("dangling.example.", 30, "missing.example."),
        cname("loop1.example.", 30, "loop2.example."),
        cname("loop2.example.", 30, "loop1.example."),
        a("web0.example.", 30, [10, 1, 0, 1]),
        a("web1.example.", 30, [10, 1, 0, 2]),
        srv("_http._tcp.web.example.", 30, 10, 5, 80, "web0.example."),
        srv("_http._tcp.web.example.", 30, 10, 5, 80, "web1.example."),
        rec(
            "example.",
            300,
            RData::Mx {
                preference: 10,
                exchange: name("ns1.example."),
            },
        ),
        txt("txt.example.", 30, "hello world"),
        rec("1.0.0.10.example.", 30, RData::Ptr(name("web.example."))),
        a("*.apps.example.", 30, [10, 2, 0, 1]),
        a("real.apps.example.", 30, [10, 2, 0, 9]),
        a("deep.ent.example.", 30, [10, 3, 0, 1]),
    ];
    for i in 0..40 {
        records.push(a("big.example.", 30, [10, 9, 0, i]));
    }
    for i in 0..12 {
        records.push(cname(
            &format!("c{i}.chain.example."),
            30,
            &format!("c{}.chain.example.", i + 1),
        ));
    }
    records.push(a("c12.chain.example.", 30, [10, 4, 0, 1]));
    records
}

fn table_with(policy: AnswerPolicy, down: &[IpAddr]) -> TableVersion {
    let mut zone = ZoneInput::new(name("example."), zone_records());
    zone.policy = policy;
    let down: HashSet<IpAddr> = down.iter().copied().collect();
    compile(&[zone], &down, 99).unwrap_or_else(|e| unreachable!("{e}"))
}

fn table() -> TableVersion {
    table_with(AnswerPolicy::RoundRobin, &[])
}

fn ctx(transport: Transport, entropy: u32) -> QueryContext {
    QueryContext {
        client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        transport,
        entropy,
    }
}

/// A decoded answer, for assertions.
#[derive(Debug)]
struct Message {
    id: u16,
    flags: u16,
    question: Vec<u8>,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
    additional: Vec<Rr>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rr {
    owner: String,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

impl Message {
    fn rcode(&self) -> u16 {
        self.flags & 0x000F
    }
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
    fn answer_types(&self) -> Vec<u16> {
        self.answer.iter().map(|r| r.rtype).collect()
    }
}

fn read_name(bytes: &[u8], mut at: usize) -> (String, usize) {
    let mut out = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = bytes[at] as usize;
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = ((len & 0x3F) << 8) | bytes[at + 1] as usize;
            continue;
        }
        if len == 0 {
            end.get_or_insert(at + 1);
            break;
        }
        out.push_str(&String::from_utf8_lossy(&bytes[at + 1..at + 1 + len]));
        out.push('.');
        at += 1 + len;
    }
    (out, end.unwrap_or(at))
}

fn decode(bytes: &[u8]) -> Message {
    let u16_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let counts = [u16_at(4), u16_at(6), u16_at(8), u16_at(10)];
    let mut at = 12;
    let mut question = Vec::new();
    if counts[0] == 1 {
        let (_, end) = read_name(bytes, 12);
        question = bytes[12..end + 4].to_vec();
        at = end + 4;
    }
    let mut sections = [Vec::new(), Vec::new(), Vec::new()];
    for (section, &count) in sections.iter_mut().zip(&counts[1..]) {
        for _ in 0..count {
            let (owner, end) = read_name(bytes, at);
            let rdlen = u16_at(end + 8) as usize;
            section.push(Rr {
                owner,
                rtype: u16_at(end),
                class: u16_at(end + 2),
                ttl: u32::from(u16_at(end + 4)) << 16 | u32::from(u16_at(end + 6)),
                rdata: bytes[end + 10..end + 10 + rdlen].to_vec(),
            });
            at = end + 10 + rdlen;
        }
    }
    assert_eq!(at, bytes.len(), "no trailing bytes");
    let [answer, authority, additional] = sections;
    Message {
        id: u16_at(0),
        flags: u16_at(2),
        question,
        answer,
        authority,
        additional,
    }
}

fn ask_with(
    engine: &Engine,
    table: &TableVersion,
    q: &Query,
    ctx: QueryContext,
) -> Option<Message> {
    let mut buf = vec![0u8; 65_535];
    buf[..q.bytes.len()].copy_from_slice(&q.bytes);
    match engine.respond(table, &mut buf, q.bytes.len(), &ctx) {
        Verdict::Reply(len) | Verdict::Refused(len) => Some(decode(&buf[..len])),
        Verdict::Punt | Verdict::Drop => None,
    }
}

fn ask(q: Query) -> Message {
    ask_with(&Engine::default(), &table(), &q, ctx(Transport::Udp, 0))
        .unwrap_or_else(|| unreachable!("no reply"))
}

const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const QR: u16 = 0x8000;
const RD: u16 = 0x0100;

#[test]
fn answers_a_records_authoritatively_echoing_id_and_case() {
    let q = query("WeB.ExAmple.", RType::A);
    let question = q.bytes[12..].to_vec();
    let m = ask(q);
    assert_eq!(m.id, 0xABCD);
    assert!(m.has(QR) && m.has(AA) && m.has(RD) && !m.has(TC));
    assert_eq!(m.rcode(), 0);
    assert_eq!(m.question, question, "question echoed byte for byte (0x20)");
    assert_eq!(m.answer.len(), 3);
    assert!(
        m.answer
            .iter()
            .all(|r| r.owner == "WeB.ExAmple." && r.ttl == 30 && r.class == 1)
    );
    assert!(m.authority.is_empty() && m.additional.is_empty());
}

#[test]
fn round_robin_rotates_with_entropy() {
    let t = table();
    let q = query("web.example.", RType::A);
    let first: Vec<Vec<u8>> = (0..3)
        .map(|e| {
            ask_with(&Engine::default(), &t, &q, ctx(Transport::Udp, e))
                .map(|m| m.answer[0].rdata.clone())
        })
        .map(|r| r.unwrap_or_default())
        .collect();
    assert_eq!(
        first,
        vec![vec![10, 0, 0, 1], vec![10, 0, 0, 2], vec![10, 0, 0, 3]]
    );
}

#[test]
fn answers_aaaa_txt_ptr_soa_and_ns() {
    let m = ask(query("web.example.", RType::AAAA));
    assert_eq!(m.answer.len(), 1);
    assert_eq!(m.answer[0].rdata, Ipv6Addr::LOCALHOST.octets());
    let m = ask(query("txt.example.", RType::TXT));
    assert_eq!(m.answer[0].rdata, b"\x0bhello world");
    let m = ask(query("1.0.0.10.example.", RType::PTR));
    assert_eq!(m.answer[0].rdata, name("web.example.").as_wire());
    let m = ask(query("example.", RType::SOA));
    assert_eq!((m.answer_types(), m.answer[0].ttl), (vec![6], 3600));
    let m = ask(query("example.", RType::NS));
    assert_eq!(m.answer_types(), vec![2]);
    assert_eq!(m.additional.len(), 1, "in-zone NS target address");
}

#[test]
fn srv_answers_carry_target_addresses() {
    let m = ask(query("_http._tcp.web.example.", RType::SRV));
    assert_eq!(m.answer_types(), vec![33, 33]);
    let mut owners: Vec<&str> = m.additional.iter().map(|r| r.owner.as_str()).collect();
    owners.sort_unstable();
    assert_eq!(owners, ["web0.example.", "web1.example."]);
    assert!(m.additional.iter().all(|r| r.rtype == 1));
    let m = ask(query("example.", RType::MX));
    assert_eq!(m.additional.len(), 1);
}

#[test]
fn follows_cnames_inside_the_zones() {
    let m = ask(query("www.example.", RType::A));
    assert_eq!(m.answer_types(), vec![5, 1, 1, 1]);
    assert_eq!(m.answer[1].owner, "web.example.");
    assert_eq!(m.rcode(), 0);
    let m = ask(query("www.example.", RType::CNAME));
    assert_eq!(m.answer_types(), vec![5]);
    let m = ask(query("out.example.", RType::A));
    assert_eq!((m.answer_types(), m.rcode()), (vec![5], 0));
    let m = ask(query("dangling.example.", RType::A));
    assert_eq!(
        (m.answer_types(), m.rcode()),
        (vec![5], 3),
        "NXDOMAIN for the chain's end"
    );
    assert_eq!(m.authority.len(), 1);
}

#[test]
fn cname_chains_are_bounded_and_loop_safe() {
    let m = ask(query("loop1.example.", RType::A));
    assert_eq!(m.answer_types(), vec![5, 5]);
    let m = ask(query("c0.chain.example.", RType::A));
    assert_eq!(m.answer.len(), 9, "8 links followed, then stop");
    assert!(m.answer.iter().all(|r| r.rtype == 5));
    let m = ask(query("c4.chain.example.", RType::A));
    assert_eq!(m.answer.len(), 9);
    assert_eq!(m.answer.last().map(|r| r.rtype), Some(1));
}

#[test]
fn nxdomain_and_nodata_carry_the_soa_with_the_negative_ttl() {
    let m = ask(query("nope.example.", RType::A));
    assert_eq!(m.rcode(), 3);
    assert!(m.has(AA) && m.answer.is_empty());
    assert_eq!(m.authority.len(), 1);
    assert_eq!(
        (
            m.authority[0].owner.as_str(),
            m.authority[0].rtype,
            m.authority[0].ttl
        ),
        ("example.", 6, 60)
    );
    let m = ask(query("txt.example.", RType::A));
    assert_eq!((m.rcode(), m.answer.len(), m.authority.len()), (0, 0, 1));
    let m = ask(query("ent.example.", RType::A));
    assert_eq!(
        (m.rcode(), m.authority.len()),
        (0, 1),
        "empty non-terminal is NODATA"
    );
    let m = ask(query("x.deep.ent.example.", RType::A));
    assert_eq!(m.rcode(), 3);
}

#[test]
fn wildcards_follow_rfc_4592() {
    let m = ask(query("anything.apps.example.", RType::A));
    assert_eq!(m.answer.len(), 1);
    assert_eq!(
        (m.answer[0].owner.as_str(), m.answer[0].rdata.clone()),
        ("anything.apps.example.", vec![10, 2, 0, 1])
    );
    let m = ask(query("real.apps.example.", RType::A));
    assert_eq!(
        m.answer[0].rdata,
        vec![10, 2, 0, 9],
        "existing name beats the wildcard"
    );
    let m = ask(query("below.real.apps.example.", RType::A));
    assert_eq!(
        m.rcode(),
        3,
        "wildcard applies only at the closest encloser"
    );
    let m = ask(query("a.b.apps.example.", RType::A));
    assert_eq!(
        m.answer.len(),
        1,
        "wildcard covers deeper names below its encloser"
    );
    let m = ask(query("anything.apps.example.", RType::TXT));
    assert_eq!((m.rcode(), m.answer.len(), m.authority.len()), (0, 0, 1));
}

#[test]
fn any_gets_one_rrset() {
    let m = ask(query("web.example.", RType::ANY));
    assert!(!m.answer.is_empty());
    let first = m.answer[0].rtype;
    assert!(m.answer.iter().all(|r| r.rtype == first));
}

#[test]
fn large_answers_truncate_over_udp_and_fit_over_tcp() {
    let m = ask(query("big.example.", RType::A));
    assert!(m.has(TC));
    assert!(m.answer.is_empty());
    let t = table();
    let q = query("big.example.", RType::A).edns(4096, 0, false);
    let m = ask_with(&Engine::default(), &t, &q, ctx(Transport::Udp, 0))
        .unwrap_or_else(|| unreachable!());
    assert!(!m.has(TC));
    assert_eq!(m.answer.len(), 40);
    let q = query("big.example.", RType::A);
    let m = ask_with(&Engine::default(), &t, &q, ctx(Transport::Tcp, 0))
        .unwrap_or_else(|| unreachable!());
    assert_eq!((m.has(TC), m.answer.len()), (false, 40));
}

#[test]
fn udp_answers_never_exceed_512_or_the_capped_edns_size() {
    let mut records = Vec::new();
    for i in 0..200u8 {
        records.push(a("huge.example.", 30, [10, 8, 0, i]));
    }
    let t = compile(
        &[ZoneInput::new(name("example."), records)],
        &HashSet::new(),
        1,
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    for (payload, limit) in [
        (None, 512),
        (Some(600), 600),
        (Some(4096), 1232),
        (Some(100), 512),
    ] {
        let mut q = query("huge.example.", RType::A);
        if let Some(p) = payload {
            q = q.edns(p, 0, false);
        }
        let mut buf = vec![0u8; 65_535];
        buf[..q.bytes.len()].copy_from_slice(&q.bytes);
        let Verdict::Reply(len) =
            Engine::default().respond(&t, &mut buf, q.bytes.len(), &ctx(Transport::Udp, 0))
        else {
            unreachable!()
        };
        assert!(len <= limit, "{len} > {limit}");
        assert!(decode(&buf[..len]).has(TC));
    }
}

#[test]
fn edns_is_answered_with_our_opt() {
    let m = ask(query("web.example.", RType::A).edns(4096, 0, true));
    let opt = m
        .additional
        .iter()
        .find(|r| r.rtype == 41)
        .cloned()
        .unwrap_or_else(|| unreachable!());
    assert_eq!((opt.owner.as_str(), opt.class), ("", 1232));
    assert_eq!(opt.ttl & 0x8000, 0x8000, "DO echoed");
    let m = ask(query("web.example.", RType::A).edns(4096, 1, false));
    assert_eq!(m.rcode(), 0);
    assert!(m.answer.is_empty());
    let opt = &m.additional[0];
    assert_eq!(
        opt.ttl >> 24,
        1,
        "BADVERS = 16: extended bits 1, header bits 0"
    );
}

#[test]
fn malformed_queries_get_formerr_or_are_dropped() {
    let engine = Engine::default();
    let t = table();
    let reply = |bytes: &[u8]| {
        let mut buf = vec![0u8; 4096];
        buf[..bytes.len()].copy_from_slice(bytes);
        match engine.respond(&t, &mut buf, bytes.len(), &ctx(Transport::Udp, 0)) {
            Verdict::Reply(len) => Some(decode(&buf[..len])),
            _ => None,
        }
    };
    let good = query("web.example.", RType::A).bytes;
    assert!(reply(&good[..11]).is_none(), "no header: drop");
    let m = reply(&good[..good.len() - 1]).unwrap_or_else(|| unreachable!());
    assert_eq!((m.rcode(), m.id), (1, 0xABCD));
    let mut two = good.clone();
    two[5] = 2;
    assert_eq!(reply(&two).map(|m| m.rcode()), Some(1));
    let mut none = good.clone();
    none[5] = 0;
    assert_eq!(reply(&none).map(|m| m.rcode()), Some(1));
    let mut pointer = good[..12].to_vec();
    pointer.extend_from_slice(&[3, b'w', b'e', b'b', 0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(reply(&pointer).map(|m| m.rcode()), Some(1));
    let mut looping = good[..12].to_vec();
    looping.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(reply(&looping).map(|m| m.rcode()), Some(1));
    let mut long_label = good[..12].to_vec();
    long_label.extend_from_slice(&[64]);
    long_label.extend_from_slice(&[b'a'; 64]);
    long_label.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(reply(&long_label).map(|m| m.rcode()), Some(1));
    let mut two_opts = query("web.example.", RType::A)
        .edns(512, 0, false)
        .edns(512, 0, false)
        .bytes;
    assert_eq!(reply(&two_opts).map(|m| m.rcode()), Some(1));
    two_opts.truncate(two_opts.len() - 3);
    assert_eq!(reply(&two_opts).map(|m| m.rcode()), Some(1));
}

#[test]
fn responses_are_never_answered() {
    let mut q = query("web.example.", RType::A).bytes;
    q[2] |= 0x80;
    let mut buf = q.clone();
    assert_eq!(
        Engine::default().respond(&table(), &mut buf, q.len(), &ctx(Transport::Udp, 0)),
        Verdict::Drop
    );
}

#[test]
fn other_opcodes_classes_and_transfers_are_refused_or_not_implemented() {
    let mut notify = query("example.", RType::SOA);
    notify.bytes[2] = 0x20;
    assert_eq!(ask(notify).rcode(), 4);
    assert_eq!(ask(query("example.", RType(252))).rcode(), 4);
    let m = ask(query("web.example.", RType::A).class(4));
    assert_eq!((m.rcode(), m.has(AA)), (5, false));
    let m = ask(query("version.bind.", RType::TXT).class(3));
    assert_eq!(m.rcode(), 5, "CHAOS refused unless configured");
    let engine = Engine::new(EngineConfig {
        chaos_version: Some("ferrodns test".into()),
        ..EngineConfig::default()
    });
    let q = query("version.bind.", RType::TXT).class(3);
    let m =
        ask_with(&engine, &table(), &q, ctx(Transport::Udp, 0)).unwrap_or_else(|| unreachable!());
    assert_eq!((m.rcode(), m.answer[0].class), (0, 3));
    assert_eq!(m.answer[0].rdata, b"\x0dferrodns test");
}

#[test]
fn notimp_answers_carry_the_query_opcode_and_question() {
    for opcode in [1u8, 2, 4, 5, 15] {
        let mut q = query("web.example.", RType::SOA);
        q.bytes[2] = opcode << 3 | 0x01;
        let m = ask(q);
        assert_eq!(m.rcode(), 4);
        assert_eq!((m.flags >> 11) & 0x0F, u16::from(opcode), "opcode echoed");
        assert!(m.has(RD), "RD echoed");
        assert_eq!(m.question.len(), "web.example.".len() + 1 + 4);
    }
    // Without a readable question, the header alone.
    let mut q = query("web.example.", RType::SOA);
    q.bytes[2] = 2 << 3;
    q.bytes[5] = 2;
    let m = ask(q);
    assert_eq!(
        (m.rcode(), (m.flags >> 11) & 0x0F, m.question.len()),
        (4, 2, 0)
    );
}

#[test]
fn a_cookie_of_a_forbidden_length_is_a_formerr_with_opt() {
    for len in [8, 16, 40] {
        let m = ask(query("web.example.", RType::A).option(10, &vec![7; len]));
        assert_eq!((m.rcode(), m.answer.len()), (0, 3), "{len}-byte cookie");
    }
    for len in [0, 7, 12, 41] {
        let m = ask(query("web.example.", RType::A).option(10, &vec![7; len]));
        assert_eq!((m.rcode(), m.answer.len()), (1, 0), "{len}-byte cookie");
        assert_eq!(m.additional.len(), 1, "our OPT");
        assert_eq!(m.additional[0].rtype, 41);
        assert_eq!(m.additional[0].ttl & 0x8000, 0x8000, "DO echoed");
    }
    // Other options are not looked into.
    let m = ask(query("web.example.", RType::A).option(3, &[]));
    assert_eq!(m.rcode(), 0);
}

#[test]
fn signed_queries_get_notauth_with_an_unsigned_badkey_tsig() {
    let engine = forwarding();
    for q in [
        query("web.example.", RType::A).tsig(),
        query("web.example.", RType::A).edns(1232, 0, false).tsig(),
        // A name the engine would punt: not the forwarder's to sign either.
        query("www.elsewhere.test.", RType::A).tsig(),
    ] {
        let m = ask_with(&engine, &table(), &q, ctx(Transport::Udp, 0))
            .unwrap_or_else(|| unreachable!());
        assert_eq!((m.rcode(), m.has(AA), m.answer.len()), (9, false, 0));
        let tsig = m.additional.last().unwrap_or_else(|| unreachable!());
        assert_eq!(
            (tsig.owner.as_str(), tsig.rtype, tsig.class),
            ("key.", 250, 255)
        );
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x3B, 0x9A, 0xCA, 0x00, 0x01, 0x2C]);
        rdata.extend_from_slice(&[0, 0, 0xAB, 0xCD, 0, 17, 0, 0]);
        assert_eq!(tsig.rdata, rdata, "MAC size 0, original ID, BADKEY");
    }
    // A TSIG record must come last: FORMERR.
    let misplaced = query("web.example.", RType::A).tsig().edns(1232, 0, false);
    assert_eq!(ask(misplaced).rcode(), 1);
}

#[test]
fn names_outside_the_zones_are_punted_untouched_then_refused() {
    let q = query("www.elsewhere.test.", RType::A);
    let mut buf = vec![0u8; 512];
    buf[..q.bytes.len()].copy_from_slice(&q.bytes);
    let verdict = forwarding().respond(&table(), &mut buf, q.bytes.len(), &ctx(Transport::Udp, 0));
    assert_eq!(verdict, Verdict::Punt);
    assert_eq!(&buf[..q.bytes.len()], &q.bytes[..]);
    let Verdict::Reply(len) = refuse(&mut buf, q.bytes.len()) else {
        unreachable!()
    };
    let m = decode(&buf[..len]);
    assert_eq!(
        (m.rcode(), m.question.len(), m.has(AA)),
        (5, q.bytes.len() - 12, false)
    );
}

/// An engine whose out-of-zone names go to a forwarder.
fn forwarding() -> Engine {
    Engine::new(EngineConfig {
        forwarder: true,
        ..EngineConfig::default()
    })
}

#[test]
fn without_a_forwarder_the_engine_refuses_names_outside_the_zones_itself() {
    let q = query("www.elsewhere.test.", RType::A).edns(1232, 0, false);
    let mut buf = vec![0u8; 512];
    buf[..q.bytes.len()].copy_from_slice(&q.bytes);
    let verdict =
        Engine::default().respond(&table(), &mut buf, q.bytes.len(), &ctx(Transport::Udp, 0));
    let Verdict::Refused(len) = verdict else {
        unreachable!("{verdict:?}")
    };
    let mut punted = vec![0u8; 512];
    punted[..q.bytes.len()].copy_from_slice(&q.bytes);
    assert_eq!(
        refuse(&mut punted, q.bytes.len()),
        Verdict::Reply(len),
        "the same answer as a punted query refused"
    );
    assert_eq!(buf[..len], punted[..len]);
    let m = decode(&buf[..len]);
    assert_eq!((m.rcode(), m.has(AA), m.additional.len()), (5, false, 1));
    assert_eq!(verdict.answer_len(), Some(len));
}

#[test]
fn random_one_gives_one_target() {
    let t = table_with(AnswerPolicy::RandomOne, &[]);
    let q = query("web.example.", RType::A);
    let picked: HashSet<Vec<u8>> = (0..30)
        .filter_map(|e| ask_with(&Engine::default(), &t, &q, ctx(Transport::Udp, e)))
        .inspect(|m| assert_eq!(m.answer.len(), 1))
        .map(|m| m.answer[0].rdata.clone())
        .collect();
    assert_eq!(picked.len(), 3);
}

#[test]
fn hone_one_keeps_clients_on_their_target_and_moves_only_the_failed_ones() {
    let clients: Vec<IpAddr> = (0..300u16)
        .map(|i| IpAddr::V4(Ipv4Addr::new(172, 16, (i >> 8) as u8, i as u8)))
        .collect();
    let q = query("web.example.", RType::A);
    let pick = |t: &TableVersion, client: IpAddr, entropy: u32| {
        let c = QueryContext {
            client,
            transport: Transport::Udp,
            entropy,
        };
        let m = ask_with(&Engine::default(), t, &q, c).unwrap_or_else(|| unreachable!());
        assert_eq!(m.answer.len(), 1);
        m.answer[0].rdata.clone()
    };
    let healthy = table_with(AnswerPolicy::HoneOne, &[]);
    let before: Vec<Vec<u8>> = clients.iter().map(|&c| pick(&healthy, c, 0)).collect();
    for (&c, target) in clients.iter().zip(&before).take(20) {
        assert_eq!(&pick(&healthy, c, 12345), target, "stable across queries");
    }
    let spread: HashSet<&Vec<u8>> = before.iter().collect();
    assert_eq!(spread.len(), 3, "clients spread over every target");
    let failed = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let degraded = table_with(AnswerPolicy::HoneOne, &[failed]);
    for (&c, old) in clients.iter().zip(&before) {
        let new = pick(&degraded, c, 0);
        if old.as_slice() == [10, 0, 0, 2] {
            assert_ne!(new, *old);
        } else {
            assert_eq!(new, *old, "clients of healthy targets stay put");
        }
    }
}

#[test]
fn every_target_down_serves_them_all() {
    let down: Vec<IpAddr> = (1..=3)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
        .collect();
    let t = table_with(AnswerPolicy::RoundRobin, &down);
    let m = ask_with(
        &Engine::default(),
        &t,
        &query("web.example.", RType::A),
        ctx(Transport::Udp, 0),
    );
    assert_eq!(m.map(|m| m.answer.len()), Some(3));
    let t = table_with(AnswerPolicy::RoundRobin, &down[..2]);
    let m = ask_with(
        &Engine::default(),
        &t,
        &query("web.example.", RType::A),
        ctx(Transport::Udp, 0),
    );
    assert_eq!(m.map(|m| m.answer.len()), Some(1));
}

fn respond_to(bytes: &[u8], transport: Transport) -> (Verdict, Vec<u8>) {
    thread_local! {
        static TABLE: TableVersion = table();
    }
    let mut buf = vec![0u8; bytes.len().max(4096)];
    buf[..bytes.len()].copy_from_slice(bytes);
    let verdict =
        TABLE.with(|t| Engine::default().respond(t, &mut buf, bytes.len(), &ctx(transport, 3)));
    (verdict, buf)
}

fn mutated_query() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "web.example.",
        "www.example.",
        "x.apps.example.",
        "_http._tcp.web.example.",
        "nope.example.",
        "c0.chain.example.",
        "elsewhere.test.",
    ]);
    let qtypes = prop::sample::select(vec![1u16, 5, 6, 15, 16, 28, 33, 41, 255, 252]);
    (
        names,
        qtypes,
        any::<bool>(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    )
        .prop_map(|(n, t, e, flips)| {
            let mut q = query(n, RType(t));
            if e {
                q = q.edns(4096, 0, true);
            }
            let mut bytes = q.bytes;
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            bytes
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_never_answer_responses(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for transport in [Transport::Udp, Transport::Tcp] {
            let (verdict, buf) = respond_to(&bytes, transport);
            if bytes.len() >= 3 && bytes[2] & 0x80 != 0 {
                prop_assert_eq!(verdict, Verdict::Drop);
            }
            if let Verdict::Reply(len) = verdict {
                prop_assert!(len >= 12);
                prop_assert_eq!(buf[2] & 0x80, 0x80);
                prop_assert_eq!(&buf[..2], &bytes[..2]);
            }
        }
    }

    #[test]
    fn mutated_queries_never_panic_and_replies_are_well_formed(bytes in mutated_query()) {
        let (verdict, buf) = respond_to(&bytes, Transport::Udp);
        if bytes[2] & 0x80 != 0 {
            prop_assert_eq!(verdict, Verdict::Drop);
        }
        if let Verdict::Reply(len) = verdict {
            prop_assert!(len <= 1232);
            prop_assert_eq!(buf[2] & 0x80, 0x80);
            let _ = decode(&buf[..len]);
        }
    }
}
