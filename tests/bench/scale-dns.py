#!/usr/bin/python3
"""A small DNS-over-UDP client for tests/bench/scale.sh (loopback only).

    scale-dns.py ask PORT NAME
        prints the A addresses of NAME, sorted, one line ("-" if none).
    scale-dns.py change PORT NAME -- CMD [ARG...]
        asks NAME once, starts CMD, then asks NAME every millisecond until
        the answer differs from the first one; prints
        "changed_ms CMD_MS CMD_RC BEFORE AFTER" (ms from CMD's start to the
        first changed answer, CMD's own run time and exit status), or
        "timeout ..." after 30 s.
    scale-dns.py loop PORT NAME RATE STOPFILE
        asks NAME RATE times a second, one query in flight at a time (1 s
        timeout), until STOPFILE exists; prints "sent lost max_ms p99_ms".
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time


def query(name):
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return qid, q + b"\x00" + struct.pack(">HH", 1, 1)


def skip_name(m, i):
    while True:
        n = m[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1


def addresses(m):
    an = struct.unpack(">H", m[6:8])[0]
    i = skip_name(m, 12) + 4
    out = []
    for _ in range(an):
        i = skip_name(m, i)
        typ, _, _, rdlen = struct.unpack(">HHIH", m[i:i + 10])
        i += 10
        if typ == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(m[i:i + 4]))
        i += rdlen
    return ",".join(sorted(out)) or "-"


class Client:
    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect(("127.0.0.1", port))

    def ask(self, name, timeout=1.0):
        """The answer's addresses, or None on a timeout."""
        qid, q = query(name)
        self.s.settimeout(timeout)
        self.s.send(q)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                m = self.s.recv(4096)
            except socket.timeout:
                return None
            if len(m) >= 12 and struct.unpack(">H", m[:2])[0] == qid:
                return addresses(m)


def main():
    cmd, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c = Client(port)
    if cmd == "ask":
        print(c.ask(name) or "timeout")
    elif cmd == "change":
        argv = sys.argv[sys.argv.index("--") + 1:]
        before = c.ask(name)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rc = None
        cmd_ms = None
        while time.monotonic() - t0 < 30:
            now = c.ask(name, 0.5)
            if now is not None and now != before:
                changed = (time.monotonic() - t0) * 1000
                rc = p.wait()
                cmd_ms = cmd_ms if cmd_ms is not None else (time.monotonic() - t0) * 1000
                print("%.1f %.1f %d %s %s" % (changed, cmd_ms, rc, before, now))
                return
            if cmd_ms is None and p.poll() is not None:
                cmd_ms = (time.monotonic() - t0) * 1000
            time.sleep(0.001)
        p.kill()
        print("timeout - - %s -" % before)
    elif cmd == "loop":
        rate, stop = float(sys.argv[4]), sys.argv[5]
        sent = lost = 0
        lat = []
        gap = 1.0 / rate
        nxt = time.monotonic()
        while not os.path.exists(stop):
            t = time.monotonic()
            a = c.ask(name, 1.0)
            sent += 1
            if a is None:
                lost += 1
            else:
                lat.append((time.monotonic() - t) * 1000)
            nxt += gap
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                nxt = time.monotonic()
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
        print("%d %d %.1f %.1f" % (sent, lost, lat[-1] if lat else 0, p99))
    else:
        sys.exit("scale-dns: unknown command " + cmd)


if __name__ == "__main__":
    main()
