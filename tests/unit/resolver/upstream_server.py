#!/usr/bin/env python3
"""Scripted HTTP/1.1 server for tests/unit/resolver/upstream.c (stdlib only).

Usage: upstream_server.py [--tls CERT KEY] [PORT]

Listens on 127.0.0.1 (port 0 unless given; HTTPS with --tls), prints the port on one line of
stdout, then serves until killed. Every request except /_count is counted;
GET /_count answers {"requests": N, "connections": M}.

Paths:
  /page              200 html, ETag "v1", Last-Modified; 304 if If-None-Match matches
  /empty             200 with an empty body
  /gzip              gzip-encoded when the client accepts gzip, identity otherwise
  /gzip-always       gzip-encoded bytes whatever the client said (file-like)
  /status/<code>     that status with a short text body
  /redirect/<n>      302 chain of n hops ending at /page (hops carry ETag "hop")
  /loop              302 to itself
  /redirect-to?u=URL 302 to URL (ftp://, file://, other hosts...)
  /stall-first?s=S   sleep S seconds before the status line
  /stall-mid?s=S     headers and 1 byte, sleep S seconds, then the rest
  /short             Content-Length: 100, 10 bytes, close
  /huge?n=N          N bytes with Content-Length
  /huge-chunked?n=N  N bytes, chunked (no Content-Length)
  /echo...           JSON of the raw request path and headers
  /range             26 bytes a-z; honours "Range: bytes=a-b" with 206
  /drop              close the connection without answering
"""
import gzip
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b"<!DOCTYPE html><html><body><a href='x'>x</a></body></html>\n"
GZ_TEXT = b"indexmux gzip test body\n" * 200

lock = threading.Lock()
counts = {"requests": 0, "connections": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def setup(self):
        super().setup()
        with lock:
            counts["connections"] += 1

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body=b"", ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        path = url.path
        if path == "/_count":
            with lock:
                body = json.dumps(counts).encode()
            return self.send(200, body, "application/json")
        with lock:
            counts["requests"] += 1

        if path == "/page":
            hdrs = [("ETag", '"v1"'), ("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")]
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                for k, v in hdrs:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.send(200, PAGE, "text/html", hdrs)
        if path == "/empty":
            return self.send(200, b"", "text/plain")
        if path == "/gzip":
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                return self.send(200, gzip.compress(GZ_TEXT), "text/html",
                                 [("Content-Encoding", "gzip")])
            return self.send(200, GZ_TEXT, "text/html")
        if path == "/gzip-always":
            return self.send(200, gzip.compress(GZ_TEXT), "application/octet-stream",
                             [("Content-Encoding", "gzip")])
        if path.startswith("/status/"):
            code = int(path[len("/status/"):])
            return self.send(code, b"status %d\n" % code)
        if path.startswith("/redirect/"):
            n = int(path[len("/redirect/"):])
            loc = "/page" if n <= 0 else "/redirect/%d" % (n - 1)
            return self.send(302, b"moved\n", "text/plain",
                             [("Location", loc), ("ETag", '"hop"'),
                              ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")])
        if path == "/loop":
            return self.send(302, b"", "text/plain", [("Location", "/loop")])
        if path == "/redirect-to":
            return self.send(302, b"", "text/plain", [("Location", q["u"][0]), ("ETag", '"hop"'),
                                                      ("Content-Range", "bytes 0-0/1")])
        if path == "/stall-first":
            time.sleep(float(q.get("s", ["3"])[0]))
            return self.send(200, b"late\n")
        if path == "/stall-mid":
            body = b"0123456789" * 3
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:1])
            self.wfile.flush()
            time.sleep(float(q.get("s", ["3"])[0]))
            try:
                self.wfile.write(body[1:])
            except OSError:
                pass
            return
        if path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.close_connection = True
            return
        if path in ("/huge", "/huge-chunked"):
            n = int(q.get("n", ["1000000"])[0])
            chunked = path == "/huge-chunked"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"h" * 16384
            try:
                while n > 0:
                    part = block[:min(n, len(block))]
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    else:
                        self.wfile.write(part)
                    n -= len(part)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True
            return
        if path.startswith("/echo"):
            body = json.dumps({"path": self.path,
                               "headers": {k.lower(): v for k, v in self.headers.items()}})
            return self.send(200, body.encode(), "application/json")
        if path == "/range":
            data = b"abcdefghijklmnopqrstuvwxyz"
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, b = rng[6:].split("-")
                a = int(a)
                b = int(b) if b else len(data) - 1
                return self.send(206, data[a:b + 1], "application/octet-stream",
                                 [("Content-Range", "bytes %d-%d/%d" % (a, b, len(data)))])
            return self.send(200, data, "application/octet-stream")
        if path == "/drop":
            self.close_connection = True
            return
        return self.send(404, b"no such path\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that give up (timeouts, caps) are part of the script.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)


def main():
    args = sys.argv[1:]
    tls = None
    if args[:1] == ["--tls"]:
        tls, args = args[1:3], args[3:]
    port = int(args[0]) if args else 0
    srv = Server(("127.0.0.1", port), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
