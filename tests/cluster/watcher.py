#!/usr/bin/python3
"""Watches the answers of several gtmd nodes (tests/cluster/drill.sh).

    watcher.py OUT NAME PERIOD_MS PORT...

Every PERIOD_MS sends one "NAME A" query over UDP to each 127.0.0.1:PORT and
writes to OUT (flushed line by line):

    change <epoch ms> <node index> <sorted addresses joined by ','|->
    lost <epoch ms> <node index>          a query without a reply after 1 s

and, when stopped (SIGTERM), one line per node:

    summary <node index> <sent> <answered> <lost>

A query is lost only when no reply came at all; a reply with another rcode
counts as answered (its address set is "-").
"""
import os
import random
import select
import signal
import socket
import struct
import sys
import time

out_path, qname_text, period = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000.0
ports = [int(p) for p in sys.argv[4:]]
out = open(out_path, "w", buffering=1)
qname = b"".join(bytes([len(l)]) + l.encode() for l in qname_text.rstrip(".").split(".")) + b"\x00"

socks = []
for _ in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    socks.append(s)
sent = [0] * len(ports)
answered = [0] * len(ports)
lost = [0] * len(ports)
pending = [dict() for _ in ports]   # id -> time sent
last = [None] * len(ports)
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def skip_name(p, off):
    while True:
        n = p[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1


def addresses(p):
    qd, an = struct.unpack("!HH", p[4:8])
    rcode = p[3] & 0x0F
    if rcode != 0:
        return "rcode%d" % rcode
    off = 12
    for _ in range(qd):
        off = skip_name(p, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(p, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", p[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(p[off:off + 4]))
        off += rdlen
    return ",".join(sorted(addrs)) if addrs else "-"


def now_ms():
    return int(time.time() * 1000)


nxt = time.time()
while not stop:
    t = time.time()
    if t >= nxt:
        nxt += period
        if nxt < t:
            nxt = t + period
        for i, s in enumerate(socks):
            qid = random.randint(0, 65535)
            while qid in pending[i]:
                qid = random.randint(0, 65535)
            pkt = struct.pack("!HHHHHH", qid, 0x0000, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
            try:
                s.sendto(pkt, ("127.0.0.1", ports[i]))
                pending[i][qid] = t
                sent[i] += 1
            except OSError:
                pass
        for i in range(len(ports)):
            for qid, ts in list(pending[i].items()):
                if t - ts > 1.0:
                    del pending[i][qid]
                    lost[i] += 1
                    out.write("lost %d %d\n" % (now_ms(), i))
    try:
        r, _, _ = select.select(socks, [], [], max(0.0, min(period, nxt - time.time())))
    except InterruptedError:
        continue
    for s in r:
        i = socks.index(s)
        while True:
            try:
                p = s.recv(4096)
            except BlockingIOError:
                break
            if len(p) < 12:
                continue
            qid = struct.unpack("!H", p[:2])[0]
            if qid not in pending[i]:
                continue
            del pending[i][qid]
            answered[i] += 1
            a = addresses(p)
            if a != last[i]:
                last[i] = a
                out.write("change %d %d %s\n" % (now_ms(), i, a))

# the queries still out get their second
deadline = time.time() + 1.0
while time.time() < deadline and any(pending):
    r, _, _ = select.select(socks, [], [], 0.05)
    for s in r:
        i = socks.index(s)
        try:
            p = s.recv(4096)
        except BlockingIOError:
            continue
        qid = struct.unpack("!H", p[:2])[0]
        if qid in pending[i]:
            del pending[i][qid]
            answered[i] += 1
for i in range(len(ports)):
    lost[i] += len(pending[i])
    out.write("summary %d %d %d %d\n" % (i, sent[i], answered[i], lost[i]))
out.close()
