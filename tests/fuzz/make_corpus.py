#!/usr/bin/python3
"""Writes the seed corpus of fuzz_query: one small binary DNS query per file.

The queries cover every kind of answer the zone in example.com.zone gives
(fuzz_query.c marks www.example.com as a steered service), EDNS with and
without options, and the malformations the parser must answer FORMERR,
NOTIMP, BADVERS or drop.  The files are committed; rerun this after changing
it:  /usr/bin/python3 tests/fuzz/make_corpus.py
"""

import os
import shutil
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "query")

T = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
     "AAAA": 28, "SRV": 33, "OPT": 41, "DS": 43, "IXFR": 251, "AXFR": 252,
     "ANY": 255, "CAA": 257}
IN, CH, ANYCLASS = 1, 3, 255


def name(s):
    """Uncompressed wire form of a presentation name (no escapes)."""
    if s in ("", "."):
        return b"\x00"
    out = b""
    for label in s.rstrip(".").split("."):
        b = label.encode()
        out += bytes([len(b)]) + b
    return out + b"\x00"


def header(qid=0x1234, qr=0, opcode=0, rd=1, qd=1, an=0, ns=0, ar=0, flags2=0):
    flags1 = (qr << 7) | (opcode << 3) | rd
    return struct.pack("!HBBHHHH", qid, flags1, flags2, qd, an, ns, ar)


def question(qname, qtype="A", qclass=IN):
    t = T[qtype] if isinstance(qtype, str) else qtype
    return name(qname) + struct.pack("!HH", t, qclass)


def opt(udp=1232, version=0, do=False, options=b"", owner=b"\x00", ext_rcode=0):
    ttl = (ext_rcode << 24) | (version << 16) | (0x8000 if do else 0)
    return owner + struct.pack("!HHIH", T["OPT"], udp, ttl, len(options)) + options


def option(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


def query(qname, qtype="A", qclass=IN, edns=None, **hdr):
    ar = hdr.pop("ar", 1 if edns is not None else 0)
    return header(ar=ar, **hdr) + question(qname, qtype, qclass) + (edns or b"")


NSID = option(3)
def ecs(family, source, addr, scope=0):
    """An ECS option (RFC 7871 6) with the address bytes as given."""
    return option(8, struct.pack("!HBB", family, source, scope) + bytes(addr))


ECS = ecs(1, 24, [198, 51, 100])
COOKIE = option(10, bytes(range(8)))

SEEDS = {
    # positive answers, referrals, negative answers
    "a_apex": query("example.com"),
    "ns_apex": query("example.com", "NS"),
    "soa_apex": query("example.com", "SOA"),
    "mx_apex": query("example.com", "MX"),
    "txt_apex": query("example.com", "TXT"),
    "any_apex": query("example.com", "ANY"),
    "a_host": query("host.example.com"),
    "a_host_0x20": query("HoSt.ExAmPlE.cOm"),
    "aaaa_mail": query("mail.example.com", "AAAA"),
    "srv": query("_sip._udp.example.com", "SRV"),
    "cname": query("alias.example.com"),
    "cname_chain": query("chain.example.com", "AAAA"),
    "cname_external": query("external.example.com"),
    "cname_qtype": query("alias.example.com", "CNAME"),
    "cname_to_service": query("svcalias.example.com"),
    "service_a": query("www.example.com"),
    "service_aaaa": query("www.example.com", "AAAA"),
    "service_txt": query("www.example.com", "TXT"),
    "service_mx_nodata": query("www.example.com", "MX"),
    "service_any": query("www.example.com", "ANY"),
    "nxdomain": query("nope.example.com"),
    "nodata": query("host.example.com", "MX"),
    "empty_nonterminal": query("b.example.com"),
    "below_leaf": query("x.host.example.com"),
    "referral": query("www.sub.example.com"),
    "referral_ns": query("sub.example.com", "NS"),
    "referral_ds": query("sub.example.com", "DS"),
    "glue": query("ns.sub.example.com"),
    "refused_outside": query("www.example.org"),
    "root": query(".", "NS"),
    "class_ch": query("version.bind", "TXT", CH),
    "class_any": query("host.example.com", "A", ANYCLASS),
    "axfr": query("example.com", "AXFR"),
    "ixfr": query("example.com", "IXFR"),
    # sizes: truncation without EDNS, room with it
    "big_udp512": query("big.example.com"),
    "big_edns1232": query("big.example.com", edns=opt(1232)),
    "bigtxt_edns4096": query("bigtxt.example.com", "TXT", edns=opt(4096)),
    "edns_small_udp": query("big.example.com", edns=opt(100)),
    # EDNS
    "edns_plain": query("host.example.com", edns=opt()),
    "edns_do": query("host.example.com", edns=opt(do=True)),
    "edns_nsid": query("host.example.com", edns=opt(options=NSID)),
    "edns_nsid_do": query("www.example.com", "AAAA", edns=opt(4096, do=True, options=NSID)),
    "edns_ecs": query("www.example.com", edns=opt(options=ECS)),
    # ECS (RFC 7871) on the steered service: fixture networks (tests/geo),
    # v4 and v6, prefixes /0 to /128, and the malformations that are FORMERR
    "ecs_v4_beijing24": query("www.example.com", edns=opt(options=ecs(1, 24, [198, 18, 7]))),
    "ecs_v4_beijing15": query("www.example.com", edns=opt(options=ecs(1, 15, [198, 18]))),
    "ecs_v4_shenzhen12": query("www.example.com", edns=opt(options=ecs(1, 12, [100, 64]))),
    "ecs_v4_frankfurt32": query("www.example.com", "AAAA",
                                edns=opt(options=ecs(1, 32, [192, 0, 2, 10]) + NSID)),
    "ecs_v4_unlocated8": query("www.example.com", edns=opt(options=ecs(1, 8, [198]))),
    "ecs_v4_zero": query("www.example.com", edns=opt(options=ecs(1, 0, []))),
    "ecs_v6_beijing32": query("www.example.com", "AAAA",
                              edns=opt(options=ecs(2, 32, [0x3f, 0xff, 0x01, 0x00]))),
    "ecs_v6_saopaulo56": query("www.example.com", "ANY",
                               edns=opt(options=ecs(2, 56, [0x20, 0x01, 0x0d, 0xb8, 0x05, 0x00, 0x50]))),
    "ecs_v6_mapped120": query("www.example.com", edns=opt(
        options=ecs(2, 120, [0] * 10 + [0xff, 0xff, 198, 18, 7]))),
    "ecs_v6_host128": query("www.example.com", edns=opt(options=ecs(2, 128, [0x3f, 0xff] + [0] * 13 + [1]))),
    "ecs_v6_zero": query("www.example.com", edns=opt(options=ecs(2, 0, []))),
    "ecs_static_mx": query("example.com", "MX", edns=opt(options=ecs(1, 24, [198, 18, 7]))),
    "ecs_svcalias": query("svcalias.example.com", edns=opt(options=ecs(1, 24, [203, 0, 113]))),
    "ecs_big_truncated": query("big.example.com", edns=opt(512, options=ecs(2, 48, [0x3f, 0xff, 0x01, 0, 0xab, 0xcd]) + NSID)),
    "ecs_bad_family": query("www.example.com", edns=opt(options=ecs(3, 24, [198, 18, 7]))),
    "ecs_bad_source": query("www.example.com", edns=opt(options=ecs(1, 33, [198, 18, 7, 9, 0]))),
    "ecs_bad_scope": query("www.example.com", edns=opt(options=ecs(1, 24, [198, 18, 7], scope=16))),
    "ecs_addr_long": query("www.example.com", edns=opt(options=ecs(1, 24, [198, 18, 7, 0]))),
    "ecs_addr_short": query("www.example.com", edns=opt(options=ecs(1, 24, [198, 18]))),
    "ecs_host_bits": query("www.example.com", edns=opt(options=ecs(1, 15, [198, 19]))),
    "ecs_short_option": query("www.example.com", edns=opt(options=option(8, b"\x00\x01\x18"))),
    "ecs_twice": query("www.example.com", edns=opt(options=ECS + ECS)),
    "ecs_badvers": query("www.example.com", edns=opt(version=1, options=ecs(1, 24, [198, 18, 7], scope=9))),
    "edns_cookie_nsid": query("example.com", "SOA", edns=opt(options=COOKIE + NSID)),
    "edns_badvers": query("host.example.com", edns=opt(version=1)),
    # not a QUERY, not a query, not DNS
    "opcode_status": query("example.com", opcode=2),
    "opcode_notify": query("example.com", "SOA", opcode=4),
    "qr_set_drop": query("example.com", qr=1),
    "runt": b"\x12\x34\x01\x00\x00",
    "header_only": header(qd=0),
    # malformed: FORMERR
    "qdcount0": header(qd=0, ar=1) + opt(),
    "qdcount2": header(qd=2) + question("a.example.com") + question("b.example.com"),
    "question_cut": header() + name("host.example.com") + b"\x00",
    # ldns reads this as "host." (the pointer hits the ID's zero low byte);
    # we refuse any pointer in the question on purpose.
    "qname_pointer": header(qid=0x1200) + b"\x04host\xc0\x01" + struct.pack("!HH", 1, IN),
    "qname_pointer_loop": header() + b"\x04host\xc0\x0c" + struct.pack("!HH", 1, IN),
    "label_type_01": header() + b"\x44abcd\x00" + struct.pack("!HH", 1, IN),
    "name_too_long": header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00" + struct.pack("!HH", 1, IN),
    "trailing_bytes": query("host.example.com") + b"\x00\x00",
    "qtype_opt": query("example.com", "OPT"),
    "opt_twice": query("example.com", edns=opt() + opt(), ar=2),
    "opt_in_answer": query("example.com", edns=opt(), an=1, ar=0),
    "opt_owner_not_root": query("example.com", edns=opt(owner=name("example.com"))),
    "opt_option_cut": query("example.com", edns=opt(options=b"\x00\x03\x00\x04ab")),
    "ar_count_high": query("example.com", edns=opt(), ar=3),
    # extra records a query may carry: skipped, not refused
    "answer_rr_compressed": header(an=1) + question("host.example.com")
        + b"\xc0\x0c" + struct.pack("!HHIH", 1, IN, 60, 4) + bytes([192, 0, 2, 9]),
    "answer_rr_forward_ptr": header(an=1) + question("host.example.com")
        + b"\xc0\x30" + struct.pack("!HHIH", 1, IN, 60, 4) + bytes([192, 0, 2, 9]),
}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for tag, pkt in sorted(SEEDS.items()):
        with open(os.path.join(OUT, tag), "wb") as f:
            f.write(pkt)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
