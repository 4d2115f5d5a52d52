#!/usr/bin/python3
"""Raw DNS packets for the integration tests (what kdig cannot send).

Sub-commands (all talk to 127.0.0.1:PORT):
  probe      send one query, print the response as tokens for lib.sh's
             expect_tokens: "rcode=FORMERR flag=qr ... an=0 edns=yes ..."
             or "noanswer" (timeout, or TCP closed without a response)
  pipeline   several length-prefixed queries back to back on one TCP
             connection, answers matched by ID
  idle       how long the server keeps idle / active TCP connections open
  maxclients hold more TCP connections than tcp_max_clients, count answers
  load       sequential UDP queries for a while (around reloads): none lost
  fuzz       random and mutated packets over UDP and TCP; every response
             must parse, have QR=1, and fit in 1232 bytes over UDP

Standard library only; run with Debian's /usr/bin/python3.
"""
import argparse
import random
import select
import socket
import struct
import sys
import time

TYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'PTR': 12, 'MX': 15, 'TXT': 16,
         'AAAA': 28, 'SRV': 33, 'OPT': 41, 'DS': 43, 'IXFR': 251, 'AXFR': 252,
         'ANY': 255, 'CAA': 257}
RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP',
          5: 'REFUSED', 9: 'NOTAUTH', 16: 'BADVERS', 23: 'BADCOOKIE'}
HOST = '127.0.0.1'


class ParseError(Exception):
    pass


# ---------------------------------------------------------------- building

def name_wire(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b'\0'


def header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack('!HHHHHH', qid, flags, qd, an, ns, ar)


def opt_rr(size=1232, version=0, ext_rcode=0, flags=0, options=b'', owner=b'\0'):
    return owner + struct.pack('!HHBBHH', 41, size, ext_rcode, version, flags,
                               len(options)) + options


def edns_option(code, data):
    return struct.pack('!HH', code, len(data)) + data


def question(name, qtype='A', qclass=1):
    t = TYPES[qtype] if isinstance(qtype, str) else int(qtype)
    return name_wire(name) + struct.pack('!HH', t, qclass)


def query(name='example.com', qtype='SOA', qid=None, flags=0x0100, opcode=0,
          edns=None, qclass=1):
    qid = random.randrange(65536) if qid is None else qid
    fl = (flags & ~0x7800) | (opcode << 11)
    return (header(qid, fl, 1, 0, 0, 1 if edns is not None else 0)
            + question(name, qtype, qclass) + (edns or b''))


# Malformed and special packets by name.  Each returns the packet bytes; the
# ID is always 0x4242 so that "id=ok" can be checked.
QID = 0x4242
Q = question('example.com', 'SOA')
CASES = {
    'qdcount0': lambda: header(QID, 0x0100, 0),
    'qdcount2': lambda: header(QID, 0x0100, 2) + Q + question('static.example.com', 'A'),
    'qdcount2_missing': lambda: header(QID, 0x0100, 2) + Q,
    'truncated_name': lambda: header(QID, 0x0100, 1) + b'\x07examp',
    'truncated_type': lambda: header(QID, 0x0100, 1) + name_wire('example.com') + b'\x00',
    'label64': lambda: (header(QID, 0x0100, 1) + b'\x40' + b'a' * 64
                        + name_wire('example.com') + b'\x00\x01\x00\x01'),
    'label_type_ext': lambda: (header(QID, 0x0100, 1) + b'\x81' + b'a' * 1
                               + name_wire('example.com') + b'\x00\x01\x00\x01'),
    'name_too_long': lambda: (header(QID, 0x0100, 1) + (b'\x3f' + b'a' * 63) * 4
                              + name_wire('example.com') + b'\x00\x01\x00\x01'),
    'compressed_qname': lambda: (header(QID, 0x0100, 1) + b'\x03www\xc0\x0c'
                                 + b'\x00\x01\x00\x01'),
    'compressed_qname_fwd': lambda: (header(QID, 0x0100, 1) + b'\x03www\xc0\x15'
                                     + b'\x00\x01\x00\x01' + name_wire('example.com')),
    'trailing': lambda: header(QID, 0x0100, 1) + Q + b'garbage',
    'trailing_edns': lambda: header(QID, 0x0100, 1, 0, 0, 1) + Q + opt_rr() + b'\x00\x01',
    'two_opt': lambda: header(QID, 0x0100, 1, 0, 0, 2) + Q + opt_rr() + opt_rr(),
    'opt_owner': lambda: (header(QID, 0x0100, 1, 0, 0, 1) + Q
                          + opt_rr(owner=name_wire('example.com'))),
    'opt_truncated': lambda: header(QID, 0x0100, 1, 0, 0, 1) + Q + opt_rr()[:7],
    'opt_badlen': lambda: (header(QID, 0x0100, 1, 0, 0, 1) + Q
                           + b'\0' + struct.pack('!HHBBHH', 41, 1232, 0, 0, 0, 20)
                           + edns_option(65001, b'ab')),
    'ancount_missing': lambda: header(QID, 0x0100, 1, 1) + Q,
    # Valid names that a string-based lookup would get wrong.
    'name255': lambda: (header(QID, 0x0100, 1)
                        + name_wire(('a' * 63 + '.') * 3 + 'a' * 49 + '.example.com')
                        + b'\x00\x01\x00\x01'),
    'label_with_dot': lambda: (header(QID, 0x0100, 1) + b'\x05b.ent' + name_wire('example.com')
                               + b'\x00\x01\x00\x01'),
    'label_with_dot_sub': lambda: (header(QID, 0x0100, 1) + b'\x05x.sub'
                                   + name_wire('example.com') + b'\x00\x01\x00\x01'),
    'label_with_nul': lambda: (header(QID, 0x0100, 1) + b'\x07static\x00'
                               + name_wire('example.com') + b'\x00\x01\x00\x01'),
    'label_fqdn_in_one': lambda: (header(QID, 0x0100, 1) + b'\x0fwww.example.com\x00'
                                  + b'\x00\x01\x00\x01'),
    'qr1': lambda: header(QID, 0x8100, 1) + Q,
    'short': lambda: b'\x42\x42\x01',
    'header_only_qr1': lambda: header(QID, 0x8000, 0),
}


# ---------------------------------------------------------------- parsing

def skip_name(p, off):
    hops = 0
    while True:
        if off >= len(p):
            raise ParseError('name runs past the end')
        ln = p[off]
        if ln == 0:
            return off + 1
        if ln & 0xC0 == 0xC0:
            if off + 2 > len(p):
                raise ParseError('pointer runs past the end')
            return off + 2
        if ln & 0xC0:
            raise ParseError('bad label type 0x%02x' % ln)
        off += 1 + ln
        hops += 1
        if hops > 128:
            raise ParseError('too many labels')


def read_name(p, off):
    """Presentation form of the name at off (follows pointers)."""
    labels = []
    jumps = 0
    while True:
        if off >= len(p):
            raise ParseError('name runs past the end')
        ln = p[off]
        if ln == 0:
            return '.'.join(labels) + '.'
        if ln & 0xC0 == 0xC0:
            if off + 2 > len(p):
                raise ParseError('pointer runs past the end')
            off = ((ln & 0x3F) << 8) | p[off + 1]
            jumps += 1
            if jumps > 64:
                raise ParseError('pointer loop')
            continue
        if ln & 0xC0:
            raise ParseError('bad label type')
        labels.append(''.join(chr(b) if 0x21 <= b < 0x7f and b not in b'.\\'
                              else '\\%03d' % b for b in p[off + 1:off + 1 + ln]))
        off += 1 + ln


def parse(p):
    """Returns a dict describing the response; raises ParseError."""
    if len(p) < 12:
        raise ParseError('shorter than a header (%d bytes)' % len(p))
    qid, fl, qd, an, ns, ar = struct.unpack('!HHHHHH', p[:12])
    r = {'id': qid, 'flags': fl, 'qd': qd, 'an': an, 'ns': ns, 'ar': ar,
         'opcode': (fl >> 11) & 15, 'rcode': fl & 15, 'len': len(p)}
    off = 12
    r['qnames'] = []
    for _ in range(qd):
        r['qnames'].append(read_name(p, off))
        off = skip_name(p, off) + 4
        if off > len(p):
            raise ParseError('question runs past the end')
    rrs = []
    for sec, n in (('an', an), ('ns', ns), ('ar', ar)):
        for _ in range(n):
            start = off
            off = skip_name(p, off)
            if off + 10 > len(p):
                raise ParseError('RR header runs past the end')
            t, c, ttl, rdl = struct.unpack('!HHIH', p[off:off + 10])
            off += 10
            if off + rdl > len(p):
                raise ParseError('RDATA runs past the end')
            rrs.append((sec, start, t, c, ttl, p[off:off + rdl]))
            off += rdl
    if off != len(p):
        raise ParseError('%d bytes after the last RR' % (len(p) - off))
    r['rrs'] = rrs
    opts = [x for x in rrs if x[2] == 41]
    r['nopt'] = len(opts)
    for x in opts:
        if x[0] != 'ar':
            raise ParseError('OPT outside the additional section')
    if opts:
        sec, start, t, c, ttl, rdata = opts[0]
        if p[start] != 0:
            raise ParseError('OPT owner is not the root')
        r['udpsize'] = c
        r['ext_rcode'] = ttl >> 24
        r['ednsver'] = (ttl >> 16) & 0xFF
        r['ednsflags'] = ttl & 0xFFFF
        r['rcode'] |= (ttl >> 24) << 4
        codes = []
        o = 0
        while o < len(rdata):
            if o + 4 > len(rdata):
                raise ParseError('EDNS option header runs past the end')
            code, ln = struct.unpack('!HH', rdata[o:o + 4])
            if o + 4 + ln > len(rdata):
                raise ParseError('EDNS option runs past the end')
            codes.append((code, rdata[o + 4:o + 4 + ln]))
            o += 4 + ln
        r['options'] = codes
    return r


def tokens(r, qid):
    fl = r['flags']
    out = ['id=%s' % ('ok' if r['id'] == qid else 'bad'),
           'rcode=%s' % RCODES.get(r['rcode'], str(r['rcode'])),
           'opcode=%d' % r['opcode']]
    for bit, name in ((15, 'qr'), (10, 'aa'), (9, 'tc'), (8, 'rd'), (7, 'ra'),
                      (6, 'z'), (5, 'ad'), (4, 'cd')):
        if fl >> bit & 1:
            out.append('flag=' + name)
    out += ['qd=%d' % r['qd'], 'an=%d' % r['an'], 'ns=%d' % r['ns'],
            'ar=%d' % r['ar'], 'len=%d' % r['len'], 'nopt=%d' % r['nopt']]
    out += ['qname=%s' % n for n in r['qnames']]
    if 'udpsize' in r:
        out += ['edns=yes', 'ednsver=%d' % r['ednsver'], 'udpsize=%d' % r['udpsize'],
                'ednsflags=0x%04x' % r['ednsflags']]
        if r['ednsflags'] & 0x8000:
            out.append('ednsflag=do')
        out += ['opt=%d' % c for c, _ in r['options']]
    else:
        out.append('edns=no')
    for sec, start, t, c, ttl, rdata in r['rrs']:
        if t != 41:
            out.append('%s=%d' % (sec + 'type', t))
    return ' '.join(out)


# ---------------------------------------------------------------- transport

def udp_exchange(port, pkt, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(pkt, (HOST, port))
        try:
            data, _ = s.recvfrom(65535)
            return data
        except (socket.timeout, ConnectionRefusedError):
            return None
    finally:
        s.close()


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_read_msg(s):
    ln = recv_exact(s, 2)
    if ln is None:
        return None
    return recv_exact(s, struct.unpack('!H', ln)[0])


def tcp_exchange(port, pkt, timeout):
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(struct.pack('!H', len(pkt)) + pkt)
        try:
            return tcp_read_msg(s)
        except (socket.timeout, ConnectionResetError):
            return None
    finally:
        s.close()


# ---------------------------------------------------------------- commands

def cmd_probe(a):
    if a.case:
        pkt = CASES[a.case]()
        qid = QID
    else:
        opts = b''
        for o in a.opt or []:
            code, _, hexdata = o.partition(':')
            opts += edns_option(int(code), bytes.fromhex(hexdata))
        edns = None
        if a.edns is not None:
            edns = opt_rr(size=a.bufsize, version=a.edns, flags=int(a.ednsflags, 0),
                          options=opts)
        qid = random.randrange(65536)
        pkt = query(a.name, a.type if not a.type.isdigit() else int(a.type), qid=qid,
                    flags=int(a.flags, 0), opcode=a.opcode, edns=edns, qclass=a.qclass)
    ex = tcp_exchange if a.tcp else udp_exchange
    resp = ex(a.port, pkt, a.timeout)
    if resp is None:
        print('noanswer')
        return 0
    try:
        print(tokens(parse(resp), qid))
    except ParseError as e:
        print('badresp (%s) %s' % (e, resp.hex()))
    return 0


def cmd_pipeline(a):
    names = [('static.example.com', 'A', 'NOERROR'), ('www.example.com', 'A', 'NOERROR'),
             ('nope.example.com', 'A', 'NXDOMAIN'), ('mid.example.com', 'TXT', 'NOERROR'),
             ('example.org', 'A', 'REFUSED')][:a.n]
    ids = {}
    buf = b''
    for i, (n, t, want) in enumerate(names):
        qid = 0x1000 + i
        ids[qid] = (n, want)
        pkt = query(n, t, qid=qid)
        buf += struct.pack('!H', len(pkt)) + pkt
    s = socket.create_connection((HOST, a.port), timeout=a.timeout)
    if a.split:
        # One byte, then the rest in odd pieces: the server must reassemble.
        s.sendall(buf[:1])
        time.sleep(0.05)
        for i in range(1, len(buf), 7):
            s.sendall(buf[i:i + 7])
            time.sleep(0.002)
    else:
        s.sendall(buf)
    if a.shutdown:
        s.shutdown(socket.SHUT_WR)  # half-close: the answers must still come
    got = 0
    bad = []
    try:
        for _ in names:
            m = tcp_read_msg(s)
            if m is None:
                bad.append('closed')
                break
            r = parse(m)
            if r['id'] not in ids:
                bad.append('unknown-id=%d' % r['id'])
                continue
            n, want = ids.pop(r['id'])
            rc = RCODES.get(r['rcode'], str(r['rcode']))
            if rc != want:
                bad.append('%s:%s' % (n, rc))
            got += 1
    except (socket.timeout, ConnectionResetError) as e:
        bad.append('error=%s' % type(e).__name__)
    except ParseError as e:
        bad.append('badresp=%s' % e)
    s.close()
    print('sent=%d answered=%d %s' % (len(names), got, ' '.join(bad) if bad else 'all-ok'))
    return 0


def cmd_idle(a):
    """Three connections at once: a silent one, one left idle after one
    answered query, and one that sends a query every 0.6 s for a.active
    seconds (the idle timer must restart on activity)."""
    t0 = time.monotonic()
    deadline = t0 + a.limit
    pkt = query('static.example.com', 'A', qid=7)
    silent = socket.create_connection((HOST, a.port), timeout=2)
    after = socket.create_connection((HOST, a.port), timeout=2)
    active = socket.create_connection((HOST, a.port), timeout=2)
    after.sendall(struct.pack('!H', len(pkt)) + pkt)
    ok_after = tcp_read_msg(after) is not None
    closed = {}
    watch = {silent: 'silent', after: 'after'}
    next_q = time.monotonic()
    sent = answered = 0
    active_open = True
    while time.monotonic() < deadline and (watch or active_open):
        now = time.monotonic()
        if active_open and now - t0 >= a.active:
            active.close()
            active_open = False
        if active_open and now >= next_q:
            try:
                active.sendall(struct.pack('!H', len(pkt)) + pkt)
                sent += 1
                if tcp_read_msg(active) is not None:
                    answered += 1
                else:
                    closed['active'] = time.monotonic() - t0
                    active_open = False
            except (OSError, socket.timeout):
                closed['active'] = time.monotonic() - t0
                active_open = False
            next_q = time.monotonic() + 0.6
        timeout = max(0.0, min(deadline, next_q if active_open else deadline) - time.monotonic())
        r, _, _ = select.select(list(watch), [], [], timeout)
        for s in r:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b''
            if not data:
                closed[watch.pop(s)] = time.monotonic() - t0
                s.close()
    out = ['after_answered=%s' % ('yes' if ok_after else 'no'),
           'active_sent=%d' % sent, 'active_answered=%d' % answered]
    for k in ('silent', 'after', 'active'):
        out.append('%s_closed=%s' % (k, '%.2f' % closed[k] if k in closed else 'never'))
    print(' '.join(out))
    return 0


def cmd_maxclients(a):
    socks = []
    refused = 0
    for _ in range(a.n):
        try:
            socks.append(socket.create_connection((HOST, a.port), timeout=2))
        except OSError:
            refused += 1
    time.sleep(0.3)  # let the server accept (or reject) them all
    pending = {}
    closed = 0
    for i, s in enumerate(socks):
        pkt = query('static.example.com', 'A', qid=i)
        try:
            s.sendall(struct.pack('!H', len(pkt)) + pkt)
            pending[s] = b''
        except OSError:
            closed += 1
    answered = 0
    deadline = time.monotonic() + a.wait
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select(list(pending), [], [], deadline - time.monotonic())
        for s in r:
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b''
            if not data:
                closed += 1
                del pending[s]
                continue
            pending[s] += data
            b = pending[s]
            if len(b) >= 2 and len(b) >= 2 + struct.unpack('!H', b[:2])[0]:
                answered += 1
                del pending[s]
    for s in socks:
        s.close()
    print('opened=%d refused=%d answered=%d closed=%d silent=%d'
          % (len(socks), refused, answered, closed, len(pending)))
    return 0


def cmd_load(a):
    """Sequential UDP queries for a.duration seconds (static A and www A in
    turn); every one must be answered, NOERROR with at least one record."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    names = ['static.example.com', 'www.example.com']
    sent = answered = wrong = 0
    first_wrong = ''
    end = time.monotonic() + a.duration
    while time.monotonic() < end:
        qid = sent & 0xFFFF
        s.sendto(query(names[sent % 2], 'A', qid=qid), (HOST, a.port))
        sent += 1
        try:
            while True:
                data = s.recv(65535)
                r = parse(data)
                if r['id'] == qid:
                    break
        except (socket.timeout, ConnectionRefusedError):
            continue
        except ParseError as e:
            wrong += 1
            first_wrong = first_wrong or 'unparsable:%s' % e
            continue
        answered += 1
        if r['rcode'] != 0 or r['an'] < 1:
            wrong += 1
            first_wrong = first_wrong or '%s:rcode=%d,an=%d' % (names[(sent - 1) % 2],
                                                                 r['rcode'], r['an'])
    s.close()
    print('sent=%d answered=%d lost=%d wrong=%d %s'
          % (sent, answered, sent - answered, wrong, first_wrong))
    return 0


# ---------------------------------------------------------------- fuzzing

FUZZ_NAMES = ['example.com', 'www.example.com', 'WwW.ExAmPlE.cOm', 'static.example.com',
              'chain1.example.com', 'dangling.example.com', 'tosvc.example.com',
              'x.sub.example.com', 'sub.example.com', 'b.ent.example.com', 'big.example.com',
              'mid.example.com', 'nope.example.com', 'example.org', '.', 'com',
              '10.2.0.192.in-addr.arpa', 'api.example.com', '_sip._tcp.example.com']
FUZZ_TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 46, 48, 65, 99, 251, 252, 255, 257, 0, 65535]


def fuzz_base(rng):
    name = rng.choice(FUZZ_NAMES)
    t = rng.choice(FUZZ_TYPES)
    edns = None
    if rng.random() < 0.6:
        opts = b''
        for _ in range(rng.randrange(4)):
            code = rng.choice([3, 8, 10, 11, 12, 15, 65001, rng.randrange(65536)])
            if code == 8:  # client subnet
                fam = rng.choice([1, 2, 0, 3])
                src = rng.randrange(0, 140)
                addr = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 18)))
                data = struct.pack('!HBB', fam, src, rng.randrange(0, 3)) + addr
            else:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            opts += edns_option(code, data)
        edns = opt_rr(size=rng.choice([0, 1, 511, 512, 1232, 4096, 65535]),
                      version=rng.choice([0, 0, 0, 1, 255]),
                      flags=rng.choice([0, 0x8000, 0xFFFF, rng.randrange(65536)]),
                      options=opts)
    return query(name, t, qid=rng.randrange(65536), flags=rng.choice([0, 0x0100, 0x0110]),
                 opcode=rng.choice([0] * 8 + [1, 2, 4, 5, 15]), edns=edns,
                 qclass=rng.choice([1] * 8 + [3, 254, 255, 0]))


def fuzz_packet(rng):
    kind = rng.random()
    if kind < 0.15:  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
    p = bytearray(fuzz_base(rng))
    if kind < 0.25:
        return bytes(p)  # unmodified (some valid ones keep the server honest)
    for _ in range(rng.randrange(1, 6)):
        m = rng.random()
        if m < 0.3 and p:  # flip bits
            i = rng.randrange(len(p))
            p[i] ^= 1 << rng.randrange(8)
        elif m < 0.45 and p:  # replace a byte with an interesting value
            p[rng.randrange(len(p))] = rng.choice([0, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff])
        elif m < 0.55:  # truncate
            del p[rng.randrange(len(p) + 1):]
        elif m < 0.65:  # append junk
            p += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        elif m < 0.75 and len(p) >= 12:  # random section counts
            off = rng.choice([4, 6, 8, 10])
            p[off:off + 2] = struct.pack('!H', rng.choice([0, 1, 2, 3, 255, 65535]))
        elif m < 0.85 and len(p) > 14:  # a compression pointer somewhere
            i = rng.randrange(12, len(p) - 1)
            p[i] = 0xc0 | rng.randrange(0, 4)
            p[i + 1] = rng.randrange(256)
        elif m < 0.92 and len(p) > 12:  # insert bytes
            i = rng.randrange(12, len(p))
            p[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        else:  # duplicate a slice (two OPTs, two questions, ...)
            if len(p) > 12:
                i = rng.randrange(12, len(p))
                j = rng.randrange(i, len(p) + 1)
                p += p[i:j]
    return bytes(p)


def check_resp(resp, bad, udp):
    try:
        r = parse(resp)
    except ParseError as e:
        bad.append('unparsable (%s): %s' % (e, resp[:256].hex()))
        return
    if not r['flags'] & 0x8000:
        bad.append('QR clear: %s' % resp[:64].hex())
    if udp and len(resp) > 1232:
        bad.append('UDP response of %d bytes > 1232' % len(resp))


def cmd_fuzz(a):
    rng = random.Random(a.seed)
    bad = []
    sent = answered = 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    n_udp = a.n * 9 // 10

    def drain(wait):
        nonlocal answered
        end = time.monotonic() + wait
        while True:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
            if not r:
                return
            try:
                data = s.recv(65535)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            answered += 1
            check_resp(data, bad, True)

    for i in range(n_udp):
        pkt = fuzz_packet(rng)
        try:
            s.sendto(pkt, (HOST, a.port))
            sent += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
        if i % 32 == 31:
            drain(0.005)
    drain(0.3)
    s.close()

    # TCP: framed mutated packets, bogus lengths, early closes.
    n_tcp = a.n - n_udp
    i = 0
    while i < n_tcp:
        try:
            c = socket.create_connection((HOST, a.port), timeout=1)
        except OSError as e:
            bad.append('TCP connect failed: %s' % e)
            break
        try:
            for _ in range(rng.randrange(1, 8)):
                pkt = fuzz_packet(rng)
                i += 1
                sent += 1
                ln = len(pkt)
                r = rng.random()
                if r < 0.1:
                    ln = rng.choice([0, 1, 11, 12, 65535, ln + 5])
                c.sendall(struct.pack('!H', ln & 0xFFFF) + pkt)
                if ln != len(pkt):
                    break  # framing is lost; the server may close
            c.settimeout(0.05)
            while True:
                m = tcp_read_msg(c)
                if m is None:
                    break
                answered += 1
                check_resp(m, bad, False)
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        finally:
            c.close()
    print('sent=%d answered=%d bad=%d' % (sent, answered, len(bad)))
    for b in bad[:10]:
        print('  ' + b)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('probe')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--tcp', action='store_true')
    p.add_argument('--timeout', type=float, default=1.0)
    p.add_argument('--case', choices=sorted(CASES))
    p.add_argument('--name', default='example.com')
    p.add_argument('--type', default='SOA')
    p.add_argument('--qclass', type=int, default=1)
    p.add_argument('--flags', default='0x0100', help='header flags (RD by default)')
    p.add_argument('--opcode', type=int, default=0)
    p.add_argument('--edns', type=int, help='EDNS version (none when absent)')
    p.add_argument('--bufsize', type=int, default=1232)
    p.add_argument('--ednsflags', default='0')
    p.add_argument('--opt', action='append', help='EDNS option CODE:HEX')
    p.set_defaults(fn=cmd_probe)
    p = sub.add_parser('pipeline')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--n', type=int, default=3)
    p.add_argument('--split', action='store_true')
    p.add_argument('--shutdown', action='store_true', help='half-close after sending')
    p.add_argument('--timeout', type=float, default=3.0)
    p.set_defaults(fn=cmd_pipeline)
    p = sub.add_parser('idle')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--active', type=float, default=3.0)
    p.add_argument('--limit', type=float, default=6.0)
    p.set_defaults(fn=cmd_idle)
    p = sub.add_parser('maxclients')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--n', type=int, default=60)
    p.add_argument('--wait', type=float, default=1.5)
    p.set_defaults(fn=cmd_maxclients)
    p = sub.add_parser('load')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--duration', type=float, default=1.5)
    p.add_argument('--timeout', type=float, default=0.5)
    p.set_defaults(fn=cmd_load)
    p = sub.add_parser('fuzz')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--n', type=int, default=2000)
    p.add_argument('--seed', type=int, default=1)
    p.set_defaults(fn=cmd_fuzz)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == '__main__':
    sys.exit(main())
