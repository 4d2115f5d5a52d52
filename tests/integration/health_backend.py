#!/usr/bin/python3
"""Fake backends for tests/integration/test_health.sh (loopback only).

    health_backend.py tcp PORT READY                accept and close
    health_backend.py http PORT READY DOWNFILE [CERT KEY]
                                                    GET /health -> 200 "ok", or 503
                                                    "down" while DOWNFILE exists;
                                                    with CERT and KEY: HTTPS
    health_backend.py hang PORT READY               TCP: accept, read, never answer
    health_backend.py udp-silent PORT READY         UDP: read, never answer

READY is a file written once the socket listens.
"""
import http.server
import socket
import socketserver
import ssl
import sys
import threading
import time
import os


def ready(path):
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def main():
    kind, port, ready_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "tcp":
        s = listener(port)
        ready(ready_file)
        while True:
            c, _ = s.accept()
            c.close()
    elif kind == "hang":
        s = listener(port)
        ready(ready_file)
        held = []
        while True:
            c, _ = s.accept()
            held.append(c)          # never answered, closed by the peer
            held = held[-200:]
    elif kind == "udp-silent":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        ready(ready_file)
        while True:
            s.recv(4096)
    elif kind == "http":
        down_file = sys.argv[4]

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                up = not os.path.exists(down_file)
                body = b"ok\n" if up else b"down\n"
                code = 200 if self.path.split("?")[0] == "/health" and up else 503
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        srv = S(("127.0.0.1", port), H)
        if len(sys.argv) > 6:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(sys.argv[5], sys.argv[6])
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        ready(ready_file)
        srv.serve_forever()
    else:
        sys.exit("unknown backend " + kind)


if __name__ == "__main__":
    main()
