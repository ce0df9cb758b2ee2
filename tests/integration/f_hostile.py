#!/usr/bin/env python3
"""Hostile clients against the real binary (issue 7, item 2).

One indexmux (max-connections 4096) in front of one fake upstream
(tests/fakes/fake_index.py) that serves project `demo-pkg` with a small and
a 24 MiB wheel. Every test ends by checking that the server still answers
/healthz within a second, and the tests that must not reach the upstream
compare the fake's request log before and after.

  slowloris       1,500 sockets that send half a request line and stall;
                  a normal client still gets /healthz within 1 s
  oversized       a 100 KB request line -> 414, 100 KB of headers -> 431
  methods         POST PUT DELETE PATCH OPTIONS TRACE FOO -> 405 + Allow
  smuggling       Content-Length with Transfer-Encoding -> 400
  traversal       ../, %2e%2e, %2F, %00 in project names and /files/ paths
                  -> 404, no upstream request
  unknown keys    /files/<key>/ for keys no page gave (hex, upper case, too
                  long, too short, dots) -> 404, no upstream request
  ranges          bad and edge Range headers on a stored file
  slow readers    a client that stops reading a large file (cold download
                  and stored) does not block another client of that file
"""

import hashlib
import http.client
import os
import re
import resource
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FakeIndex, Indexmux, toml_str, wheels  # noqa: E402

SLOWLORIS = 1500
BIG = 24 << 20

CONFIG = """\
[server]
default = "v"
max-connections = 4096
client-timeout = 120

[[index]]
name = "up"
url = %s

[virtual.v]
indexes = ["up"]
"""


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raw(port, data, timeout=10, until_close=False):
    """Send raw bytes, read until the server closes or (unless until_close)
    one response is complete; returns (status, headers dict lower-case,
    everything after the first header block)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass   # the server may answer and close before reading it all
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep and not until_close:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return (int(m.group(1)) if m else None), hdrs, body


class Hostile(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.nofile = raise_nofile(2 * SLOWLORIS + 512)
        cls.tmp = tempfile.TemporaryDirectory(prefix="imx-hostile-")
        small = wheels.make_wheel(cls.tmp.name, "demo-pkg", "1.0")
        big = wheels.make_big_wheel(cls.tmp.name, "demo-pkg", "2.0", BIG)
        cls.files = {os.path.basename(p): p for p in (small, big)}
        cls.digest = {n: wheels.sha256_of(p) for n, p in cls.files.items()}
        spec = {"mode": "pypi", "projects": {"demo-pkg": {"files": [
            {"path": small}, {"path": big, "sha256": cls.digest[os.path.basename(big)]}]}}}
        cls.fx = FakeIndex(spec, base_dir=cls.tmp.name, subprocess=True).start()
        cls.imx = Indexmux(CONFIG % toml_str(cls.fx.index_url()), start_timeout=30,
                           stop_timeout=30)
        try:
            cls.imx.start()
        except BaseException:
            cls.fx.stop()
            cls.tmp.cleanup()
            raise
        cls.links = None

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.imx.stop()
            log = cls.imx.log()
            cls.imx.cleanup()
            if rc != 0:
                raise AssertionError("indexmux exited with %r\n--- stderr\n%s" % (rc, log))
        finally:
            cls.fx.stop()
            cls.tmp.cleanup()

    # -- helpers ----------------------------------------------------------
    def assertHealthy(self, within=1.0):
        t0 = time.monotonic()
        st, _, body = self.imx.get("/healthz", timeout=within + 5)
        dt = time.monotonic() - t0
        self.assertEqual(st, 200, self.imx.log()[-4000:])
        self.assertLess(dt, within, "/healthz took %.2fs" % dt)

    def page_links(self):
        """{filename: server path} from the project page (makes the files
        known to the server, as a client's page request would)."""
        if self.links is None:
            st, _, body = self.imx.get("/simple/demo-pkg/",
                                       headers={"Accept": "text/html"})
            self.assertEqual(st, 200, body[:500])
            links = {}
            for href in re.findall(rb'href="([^"]+)"', body):
                href = href.decode()
                path = re.sub(r"#.*$", "", href)
                m = re.search(r"/files/[0-9a-f]{32}/[^/]+$", path)
                self.assertIsNotNone(m, "unexpected link %s" % href)
                links[path.rsplit("/", 1)[1]] = m.group(0)
            self.assertEqual(set(links), set(self.files), body[:1000])
            type(self).links = links
        return self.links

    def upstream_requests(self):
        return len(self.fx.requests())

    def stored(self, name):
        """Download a file whole (it is then stored) and return its bytes."""
        st, _, body = self.imx.get(self.page_links()[name], timeout=120)
        self.assertEqual(st, 200)
        self.assertEqual(hashlib.sha256(body).hexdigest(), self.digest[name])
        return body

    # -- tests ------------------------------------------------------------
    def test_slowloris(self):
        if self.nofile < SLOWLORIS + 256:
            self.skipTest("RLIMIT_NOFILE is %d" % self.nofile)
        socks = []
        try:
            for i in range(SLOWLORIS):
                s = socket.create_connection(("127.0.0.1", self.imx.port), timeout=10)
                s.sendall(b"GET /simple/demo-pkg/ HT" if i % 2 else b"GET /heal")
                socks.append(s)
            # The server first has to accept the burst (a thread each; slow
            # under TSan): wait, bounded, for one answer. Then the stalled
            # connections are the steady state, and every probe counts.
            st, _, _ = self.imx.get("/healthz", timeout=30)
            self.assertEqual(st, 200)
            for _ in range(5):
                self.assertHealthy(within=1.0)
            # the page route works too, not only the built-in /healthz
            t0 = time.monotonic()
            st, _, _ = self.imx.get("/simple/demo-pkg/", timeout=10)
            self.assertEqual(st, 200)
            self.assertLess(time.monotonic() - t0, 2.0)
            # the stalled connections are all still open (none was refused)
            alive = 0
            for s in socks:
                s.setblocking(False)
                try:
                    alive += s.recv(1) != b""
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
            self.assertEqual(alive, SLOWLORIS)
        finally:
            for s in socks:
                s.close()
        self.assertHealthy()

    def test_oversized_request_line_414(self):
        st, _, _ = raw(self.imx.port, b"GET /simple/" + b"a" * 100000 +
                       b"/ HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(st, 414)
        self.assertHealthy()

    def test_oversized_headers_431(self):
        hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(100))
        st, _, _ = raw(self.imx.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
        self.assertEqual(st, 431)
        st, _, _ = raw(self.imx.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       b"c" * 100000 + b"\r\n\r\n")
        self.assertEqual(st, 431)
        self.assertHealthy()

    def test_unsupported_methods_405(self):
        for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"):
            for path in ("/healthz", "/simple/demo-pkg/"):
                st, h, _ = raw(self.imx.port, b"%s %s HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: 0\r\n\r\n" % (m.encode(), path.encode()))
                self.assertEqual(st, 405, "%s %s" % (m, path))
                self.assertIn("GET", h.get("allow", ""), "%s %s: %r" % (m, path, h))
        self.assertHealthy()

    def test_content_length_with_transfer_encoding_400(self):
        before = self.upstream_requests()
        for method, path in (("GET", "/healthz"), ("GET", "/simple/demo-pkg/"),
                             ("POST", "/simple/")):
            req = (b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                   b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(),
                                                                path.encode()))
            st, h, body = raw(self.imx.port, req, until_close=True)
            self.assertEqual(st, 400, "%s %s: %r" % (method, path, body[:200]))
            # the connection is closed: the bytes after the headers are not
            # read as a second request
            self.assertNotIn(b"HTTP/1.", body, "%s %s" % (method, path))
            self.assertNotIn(b"smuggled", body)
        self.assertEqual(self.upstream_requests(), before)
        self.assertHealthy()

    def test_traversal_encoded_slash_nul_404_no_upstream(self):
        self.page_links()
        key = self.page_links()[sorted(self.files)[0]].split("/")[2]
        paths = [
            "/files/../../etc/passwd",
            "/files/%2e%2e/%2e%2e/etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/simple/../../etc/passwd",
            "/simple/%2e%2e/",
            "/simple/%2E%2E/%2E%2E/etc/passwd",
            "/simple/demo%2Fpkg/",
            "/simple/demo%2fpkg/",
            "/simple/..%2F..%2Fetc%2Fpasswd/",
            "/simple/demo%00pkg/",
            "/simple/demo-pkg%00/",
            "/simple/%00/",
            "/v/simple/demo%2Fpkg/",
            "/v/simple/../../../etc/passwd",
            "/v/simple/demo%00pkg/",
            "/up/simple/%2e%2e%2f%2e%2e%2fetc%2fpasswd/",
            "/files/%s/..%%2F..%%2Fetc%%2Fpasswd" % key,
            "/files/%s/%%2e%%2e/x.whl" % key,
            "/files/%s/../x.whl" % key,
            "/files/%s/demo_pkg-1.0-py3-none-any.whl%%00.txt" % key,
            "/files/%s%%2Fdemo_pkg-1.0-py3-none-any.whl" % key,
            "/files/%s/%%00" % key,
            "/files/%00/x.whl",
            "/files//etc/passwd",
            "/files/%2Fetc%2Fpasswd",
        ]
        before = self.upstream_requests()
        for p in paths:
            st, _, _ = raw(self.imx.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode())
            self.assertEqual(st, 404, p)
        self.assertEqual(self.upstream_requests(), before, self.fx.requests()[before:])
        self.assertHealthy()

    def test_unknown_file_keys_404_no_upstream(self):
        links = self.page_links()
        name = sorted(self.files)[0]
        real = links[name].split("/")[2]
        other = hashlib.md5(b"not a key").hexdigest()
        if other == real:
            other = "0" * 32
        keys = [
            other,                          # valid shape, never given
            real.upper(),                   # upper case
            real + "0",                     # too long
            real[:-1],                      # too short
            real + real,                    # far too long
            real[:16] + "." + real[17:],    # a dot inside
            "..", ".", "." * 32,
            "g" * 32,                       # not hex
            real[:31] + "%41",              # escape inside
            "-" + real[1:],
        ]
        before = self.upstream_requests()
        for k in keys:
            for fn in (name, name + ".metadata", "x.whl"):
                p = "/files/%s/%s" % (k, fn)
                st, _, _ = raw(self.imx.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode())
                self.assertEqual(st, 404, p)
        # the right key with a filename that is not its own
        for fn in ("demo_pkg-9.9-py3-none-any.whl", "x", sorted(self.files)[1]):
            p = "/files/%s/%s" % (real, fn)
            st, _, _ = raw(self.imx.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode())
            self.assertEqual(st, 404, p)
        self.assertEqual(self.upstream_requests(), before, self.fx.requests()[before:])
        self.assertHealthy()

    def test_bad_range_headers(self):
        name = sorted(self.files)[0]
        data = self.stored(name)
        n = len(data)
        path = self.page_links()[name]
        etag = self.imx.head(path)[1].get("ETag")
        cases = [
            # (Range, extra headers, expected status, expected (start, len) for 206)
            ("bytes=abc", {}, 200, None),
            ("bytes=5-2", {}, 200, None),
            ("bytes=0-1,3-4", {}, 200, None),
            ("items=0-1", {}, 200, None),
            ("bytes=", {}, 200, None),
            ("bytes=-", {}, 200, None),
            ("bytes=--1", {}, 200, None),
            ("bytes=1-2-3", {}, 200, None),
            ("bytes=99999999999999999999999-", {}, 200, None),
            ("bytes=0-99999999999999999999999", {}, 200, None),
            ("bytes=" + "1-2," * 3000 + "1-2", {}, 200, None),
            ("bytes=0x10-0x20", {}, 200, None),
            ("bytes=%d-" % n, {}, 416, None),
            ("bytes=%d-%d" % (n + 10, n + 20), {}, 416, None),
            ("bytes=-0", {}, 416, None),
            ("bytes=0-0", {}, 206, (0, 1)),
            ("bytes=-5", {}, 206, (n - 5, 5)),
            ("bytes=%d-" % (n - 1), {}, 206, (n - 1, 1)),
            ("bytes=10-18446744073709551615", {}, 206, (10, n - 10)),
            ("bytes=1-2", {"If-Range": 'W/"x"'}, 200, None),
            ("bytes=1-2", {"If-Range": "Sat, 01 Jan 2000 00:00:00 GMT"}, 200, None),
            ("bytes=1-2", {"If-Range": etag}, 206, (1, 2)),
        ]
        for rng, extra, want, span in cases:
            hdrs = dict(extra)
            hdrs["Range"] = rng
            st, h, body = self.imx.get(path, headers=hdrs)
            self.assertEqual(st, want, "Range: %s %r" % (rng[:60], extra))
            if want == 200:
                self.assertEqual(body, data, rng[:60])
            elif want == 206:
                s, ln = span
                self.assertEqual(body, data[s:s + ln], rng)
                self.assertEqual(h.get("Content-Range"), "bytes %d-%d/%d" % (s, s + ln - 1, n))
            else:
                self.assertEqual(h.get("Content-Range"), "bytes */%d" % n, rng)
        self.assertHealthy()

    def _slow_reader(self, path, sent, stop):
        """Request path, read 64 KiB, then stop reading (socket stays open)."""
        s = socket.create_connection(("127.0.0.1", self.imx.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        got = 0
        while got < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += len(chunk)
        sent.set()
        stop.wait(120)
        s.close()

    def _check_slow_reader_does_not_block(self, name):
        path = self.page_links()[name]
        stops, threads = [], []
        try:
            for _ in range(3):
                sent, stop = threading.Event(), threading.Event()
                t = threading.Thread(target=self._slow_reader, args=(path, sent, stop),
                                     daemon=True)
                t.start()
                self.assertTrue(sent.wait(60), "slow reader got no bytes")
                stops.append(stop)
                threads.append(t)
            self.assertHealthy()
            t0 = time.monotonic()
            st, _, body = self.imx.get(path, timeout=120)
            dt = time.monotonic() - t0
            self.assertEqual(st, 200)
            self.assertEqual(hashlib.sha256(body).hexdigest(), self.digest[name])
            self.assertLess(dt, 30, "a full read took %.1fs beside stalled readers" % dt)
            self.assertHealthy()
        finally:
            for s in stops:
                s.set()
            for t in threads:
                t.join(10)
        self.assertHealthy()

    def test_slow_readers_of_a_large_file(self):
        big = [n for n in self.files if "-2.0-" in n][0]
        # cold: the first (slow) client starts the download
        self._check_slow_reader_does_not_block(big)
        # stored: served from the blob store
        self._check_slow_reader_does_not_block(big)
        # and it was fetched from the upstream once (single flight)
        got = [r for r in self.fx.requests() if r["path"].endswith("/" + big)]
        self.assertEqual(len(got), 1, got)

if __name__ == "__main__":
    unittest.main(verbosity=2)
