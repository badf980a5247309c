#!/usr/bin/python3
"""A misbehaving HTTP proxy for the copy engine's retry tests, on 127.0.0.1.

  flaky_proxy.py UPSTREAM_PORT PORT_FILE [--fail-rate 0.2] [--reset-rate 0.05]
                 [--seed N] [--max-seconds 600]

Forwards every request to 127.0.0.1:UPSTREAM_PORT unchanged (Host header
included, so S3 signatures still verify), except that a fraction of requests
get a 500 without reaching upstream and another fraction have their
connection dropped without an answer. Writes its port to PORT_FILE and a
tally ("forwarded failed reset") to PORT_FILE.stats on exit. Exits by itself
after --max-seconds.
"""
import argparse
import http.client
import random
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
tally = {"forwarded": 0, "failed": 0, "reset": 0}
rnd = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        chunks = []
        while n > 0:
            c = self.rfile.read(min(n, 1 << 20))
            if not c:
                break
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def _any(self):
        body = self._body()
        with lock:
            r = rnd.random()
        if r < args.reset_rate:
            with lock:
                tally["reset"] += 1
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        if r < args.reset_rate + args.fail_rate:
            with lock:
                tally["failed"] += 1
            msg = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        up = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
        up.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                   headers=headers)
        resp = up.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in ("connection", "transfer-encoding", "content-length"):
                continue
            self.send_header(k, v)
        # A HEAD has no body but keeps upstream's length (the object's size).
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length if length is not None else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()
        with lock:
            tally["forwarded"] += 1

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up on injected failures are the point


def main():
    global args, rnd
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream", type=int)
    ap.add_argument("port_file")
    ap.add_argument("--fail-rate", type=float, default=0.2)
    ap.add_argument("--reset-rate", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    srv = Server(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    t = threading.Timer(args.max_seconds, srv.shutdown)
    t.daemon = True
    t.start()
    try:
        srv.serve_forever()
    finally:
        with open(args.port_file + ".stats", "w") as f:
            f.write(f"{tally['forwarded']} {tally['failed']} {tally['reset']}\n")


if __name__ == "__main__":
    sys.exit(main())
