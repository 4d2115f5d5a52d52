#!/usr/bin/python3
"""Query files and answer checks for tests/bench/geo-bench.sh.  Not a test.

  geo-queries.py gen --out FILE.bin [--count N] [--seed S] [--qname NAME]
                     [--fixture networks.tsv | --networks FILE.tsv] [--extra CIDR ...]
      Writes N (default 100000) A queries for NAME, each with an EDNS Client
      Subnet option (RFC 7871), as a dnsperf -B file: every query is a 2-byte
      length in network order followed by the wire message.  Each query draws
      a network at random (uniformly) from the list, then an address inside
      it; the ECS source prefix is /24 for IPv4 and /56 for IPv6 (what
      resolvers send), or the network's own length when that is longer, so
      that the query lands in the network it was drawn from; host bits are
      zeroed.  --fixture reads tests/geo's networks.tsv (the IPv4 and IPv6
      column of every row); --networks reads "network<TAB>..." lines (as
      tests/geo/flat-to-geoip2.pl --networks writes them).  --extra adds
      networks (e.g. ones in no database network: unlocated clients).

  geo-queries.py check --file FILE.bin --count M SERVER:PORT SERVER:PORT
      Sends the first M queries of FILE to both servers, one at a time, and
      compares the A records of the answers (the city address chosen).
      Prints the agreement, each disagreement (up to 20: ECS subnet and both
      answers), how many queries each address got, and how often the ECS
      scopes differ (for information: gdnsd widens scopes to supernets with
      the same answer, gtm reports the MMDB network's length).

  geo-queries.py launch --port P --qname NAME --log FILE -- ARGV...
      Starts ARGV (stdout and stderr to FILE, its own session), queries
      127.0.0.1:P for NAME A every millisecond until an answer with an A
      record comes back, and prints "PID MILLISECONDS" (exec to first answer).
      The process keeps running after this script exits.
"""
import argparse
import ipaddress
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time


def qname_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def query(name, ecs=None, qid=0, qtype=1):
    """A query without RD, with EDNS (1232) and, if given, ECS (net, prefix)."""
    hdr = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    q = qname_wire(name) + struct.pack("!HH", qtype, 1)
    opts = b""
    if ecs is not None:
        addr, plen = ecs
        fam = 1 if addr.version == 4 else 2
        nbytes = (plen + 7) // 8
        data = struct.pack("!HBB", fam, plen, 0) + addr.packed[:nbytes]
        opts = struct.pack("!HH", 8, len(data)) + data
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(opts)) + opts
    return hdr + q + opt


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse(msg):
    """(rcode, sorted A addresses, ECS scope or None) of a response."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    addrs = []
    scope = None
    for i in range(an + ns + ar):
        off = skip_name(msg, off)
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        off += rdlen
        if i < an and rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(rdata))
        elif i < an and rtype == 5:
            addrs.append("CNAME")
        elif rtype == 41:
            o = 0
            while o + 4 <= len(rdata):
                code, olen = struct.unpack("!HH", rdata[o:o + 4])
                if code == 8 and olen >= 4:
                    scope = rdata[o + 7]
                o += 4 + olen
    return flags & 0xF, sorted(addrs), scope


def read_networks(args):
    nets = []
    if args.fixture:
        with open(args.fixture, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                for c in cols[7:9]:
                    if c:
                        nets.append(ipaddress.ip_network(c))
    if args.networks:
        with open(args.networks, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    nets.append(ipaddress.ip_network(line.split("\t")[0]))
    for c in args.extra or []:
        nets.append(ipaddress.ip_network(c))
    if not nets:
        sys.exit("geo-queries: no networks (--fixture, --networks or --extra)")
    return nets


def gen(args):
    rnd = random.Random(args.seed)
    nets = read_networks(args)
    n4 = sum(1 for n in nets if n.version == 4)
    with open(args.out, "wb") as f:
        for _ in range(args.count):
            net = rnd.choice(nets)
            host = int(net.network_address) + rnd.randrange(net.num_addresses)
            plen = max(24 if net.version == 4 else 56, net.prefixlen)
            sub = ipaddress.ip_network((ipaddress.ip_address(host), plen), strict=False)
            msg = query(args.qname, (sub.network_address, plen))
            f.write(struct.pack("!H", len(msg)) + msg)
    print(f"geo-queries: {args.count} queries over {len(nets)} networks "
          f"({n4} IPv4, {len(nets) - n4} IPv6) -> {args.out}", file=sys.stderr)


def read_queries(path, count):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 2 <= len(data) and len(out) < count:
        (n,) = struct.unpack("!H", data[off:off + 2])
        out.append(data[off + 2:off + 2 + n])
        off += 2 + n
    return out


def ecs_of(msg):
    """The ECS subnet of a query we wrote, as text."""
    off = skip_name(msg, 12) + 4
    off = skip_name(msg, off)
    rdata = msg[off + 10:]
    fam, plen = struct.unpack("!HB", rdata[4:7])
    raw = rdata[8:8 + (plen + 7) // 8]
    size = 4 if fam == 1 else 16
    addr = ipaddress.ip_address(raw + b"\0" * (size - len(raw)))
    return f"{addr}/{plen}"


def ask(sock, server, msg, tries=3, timeout=1.0):
    for _ in range(tries):
        qid = random.randrange(65536)
        sock.sendto(struct.pack("!H", qid) + msg[2:], server)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            resp, _ = sock.recvfrom(4096)
            if len(resp) >= 12 and struct.unpack("!H", resp[:2])[0] == qid:
                return parse(resp)
    return None


def hostport(s):
    h, p = s.rsplit(":", 1)
    return (h, int(p))


def check(args):
    a, b = hostport(args.servers[0]), hostport(args.servers[1])
    qs = read_queries(args.file, args.count)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agree = 0
    diffs = []
    scope_diff = 0
    per_addr = {}
    for msg in qs:
        ra, rb = ask(sock, a, msg), ask(sock, b, msg)
        key = " ".join(ra[1]) if ra else "timeout"
        per_addr[key] = per_addr.get(key, 0) + 1
        if ra is not None and rb is not None and ra[:2] == rb[:2]:
            agree += 1
            if ra[2] != rb[2]:
                scope_diff += 1
        else:
            diffs.append((ecs_of(msg), ra, rb))
    print(f"check: {len(qs)} queries, {agree} same answer, {len(diffs)} different; "
          f"ECS scope differs in {scope_diff} of the agreeing ones")
    for sub, ra, rb in diffs[:20]:
        fmt = lambda r: "timeout" if r is None else f"rcode {r[0]} {' '.join(r[1]) or '-'} scope {r[2]}"
        print(f"check: differ: ECS {sub}: {args.names[0]} {fmt(ra)}; {args.names[1]} {fmt(rb)}")
    print("check: answers of " + args.names[0] + ": " +
          ", ".join(f"{k} x{v}" for k, v in sorted(per_addr.items(), key=lambda kv: -kv[1])))


def launch(args):
    msg = query(args.qname)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    log = open(args.log, "ab")
    t0 = time.monotonic()
    p = subprocess.Popen(args.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    end = t0 + args.timeout
    qid = 0
    while time.monotonic() < end:
        if p.poll() is not None:
            sys.exit(f"geo-queries: {args.argv[0]} exited with {p.returncode} at start (see {args.log})")
        qid = (qid + 1) & 0xFFFF
        try:
            sock.sendto(struct.pack("!H", qid) + msg[2:], ("127.0.0.1", args.port))
        except OSError:
            pass
        deadline = time.monotonic() + 0.001
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            try:
                resp, _ = sock.recvfrom(4096)
            except OSError:  # ICMP port unreachable: not listening yet
                continue
            if len(resp) >= 12 and struct.unpack("!H", resp[:2])[0] == qid:
                rcode, addrs, _ = parse(resp)
                if rcode == 0 and addrs:
                    print(p.pid, f"{(time.monotonic() - t0) * 1000:.0f}")
                    return
    p.kill()
    sys.exit(f"geo-queries: no answer from 127.0.0.1:{args.port} in {args.timeout} s (see {args.log})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--out", required=True)
    g.add_argument("--count", type=int, default=100000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--qname", default="www.example.com")
    g.add_argument("--fixture")
    g.add_argument("--networks")
    g.add_argument("--extra", nargs="*")
    c = sub.add_parser("check")
    c.add_argument("--file", required=True)
    c.add_argument("--count", type=int, default=2000)
    c.add_argument("--names", nargs=2, default=["first", "second"])
    c.add_argument("servers", nargs=2)
    la = sub.add_parser("launch")
    la.add_argument("--port", type=int, required=True)
    la.add_argument("--qname", default="www.example.com")
    la.add_argument("--log", required=True)
    la.add_argument("--timeout", type=float, default=600)
    la.add_argument("argv", nargs="+")
    args = ap.parse_args()
    {"gen": gen, "check": check, "launch": launch}[args.cmd](args)


if __name__ == "__main__":
    main()
