#!/usr/bin/env python3
"""Issue 3 "Shows": package files at /files/<key>/<filename> (SPEC 4 "Files",
SPEC 6): Content-Length, Accept-Ranges, immutable Cache-Control, strong ETag,
HEAD, single ranges (206, exact Content-Range), 416, If-Range, never a
Content-Encoding; .metadata only when advertised and matching its hash; a
key that no page gave is 404 without any upstream request."""

import hashlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import JSON_V1, Mirror, describe, file_entry  # noqa: E402
from harness import downloads_settled, wheels  # noqa: E402

DEMO = "/pypi/simple/demo-pkg/"
TORCH = "/pytorch-cu124/simple/torch/"
FILE_CC = "max-age=365000000, immutable, public"


def proc_io(pid):
    """/proc/PID/io as a dict of ints (rchar, wchar, syscr, ...)."""
    out = {}
    with open("/proc/%d/io" % pid) as fh:
        for line in fh:
            k, v = line.split(":")
            out[k] = int(v)
    return out


class Files(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.m = Mirror()
        try:
            cls.imx = cls.m.server().__enter__()
        except BaseException:
            cls.m.close()
            raise
        cls.data = {}
        for p in (cls.m.demo08, cls.m.demo10, cls.m.torch_cu, cls.m.torch_old):
            with open(p, "rb") as fh:
                cls.data[os.path.basename(p)] = fh.read()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.imx.__exit__(None, None, None)
        finally:
            cls.m.close()

    def setUp(self):
        self.m.reset()

    def get(self, path, method="GET", **headers):
        return self.imx.request(method, path,
                                {k.replace("_", "-"): v for k, v in headers.items()})

    def stored(self, page, wheel):
        """Path of `wheel` on the server, downloaded once so that it is stored."""
        fn = os.path.basename(wheel)
        path, entry = file_entry(self.imx, page, fn)
        st, h, body = self.get(path, Accept_Encoding="identity")
        self.assertEqual(st, 200, body[:200])
        self.assertEqual(body, self.data[fn])
        self.m.reset()
        return path, entry

    def assert_file_headers(self, h, size, sha):
        self.assertEqual(h.get("Accept-Ranges"), "bytes")
        self.assertEqual(h.get("Cache-Control"), FILE_CC)
        self.assertEqual(h.get("ETag"), '"%s"' % sha)
        self.assertNotIn("Content-Encoding", h)
        self.assertIn("Content-Type", h)

    def test_first_download_streams_with_file_headers(self):
        fn = os.path.basename(self.m.demo08)
        path, entry = file_entry(self.imx, DEMO, fn)
        self.m.reset()
        st, h, body = self.get(path, Accept_Encoding="gzip, deflate")
        self.assertEqual(st, 200)
        self.assertEqual(body, self.data[fn])
        self.assertEqual(int(h["Content-Length"]), len(body))
        self.assertEqual(h.get("Accept-Ranges"), "bytes")
        self.assertEqual(h.get("Cache-Control"), FILE_CC)
        self.assertNotIn("Content-Encoding", h)
        reqs = self.m.pypi.requests()
        self.assertEqual([r["decoded_path"].rsplit("/", 1)[1] for r in reqs], [fn],
                         describe(reqs))
        self.assertEqual(reqs[0]["port"], "files")
        # the upstream's Accept-Encoding allows no compression of a file
        self.assertNotIn("gzip", reqs[0]["headers"].get("Accept-Encoding", ""))

    def test_stored_file_headers_head_and_gzip(self):
        for page, wheel in ((DEMO, self.m.demo10), (TORCH, self.m.torch_cu)):
            fn = os.path.basename(wheel)
            with self.subTest(file=fn):
                path, entry = self.stored(page, wheel)
                data = self.data[fn]
                sha = hashlib.sha256(data).hexdigest()
                self.assertEqual(entry["hashes"]["sha256"], sha)
                for ae in (None, "gzip", "gzip, deflate, br", "*"):
                    hd = {"Accept-Encoding": ae} if ae else {}
                    st, h, body = self.imx.get(path, hd)
                    self.assertEqual(st, 200)
                    self.assertEqual(body, data)
                    self.assertEqual(int(h["Content-Length"]), len(data))
                    self.assert_file_headers(h, len(data), sha)
                st, h, body = self.get(path, "HEAD", Accept_Encoding="gzip")
                self.assertEqual(st, 200)
                self.assertEqual(body, b"")
                self.assertEqual(int(h["Content-Length"]), len(data))
                self.assert_file_headers(h, len(data), sha)
                # '+' may come literally or as %2B (pip re-quotes to %2B)
                if "%2B" in path:
                    st, _, body = self.get(path.replace("%2B", "+"))
                    self.assertEqual(st, 200)
                    self.assertEqual(body, data)
        self.assertEqual(self.m.upstream_requests(), [], describe(self.m.upstream_requests()))

    def test_ranges(self):
        fn = os.path.basename(self.m.demo10)
        path, _ = self.stored(DEMO, self.m.demo10)
        data = self.data[fn]
        size = len(data)
        sha = hashlib.sha256(data).hexdigest()
        etag = '"%s"' % sha
        cases = [
            ("bytes=0-99", 0, 99),
            ("bytes=100-100", 100, 100),
            ("bytes=1000-", 1000, size - 1),
            ("bytes=-500", size - 500, size - 1),
            ("bytes=%d-%d" % (size - 10, size + 1000), size - 10, size - 1),
            ("bytes=-%d" % (size + 5), 0, size - 1),
            ("bytes=0-", 0, size - 1),
        ]
        for rng, a, b in cases:
            for method in ("GET", "HEAD"):
                with self.subTest(range=rng, method=method):
                    st, h, body = self.get(path, method, Range=rng)
                    self.assertEqual(st, 206, body[:100])
                    self.assertEqual(h.get("Content-Range"), "bytes %d-%d/%d" % (a, b, size))
                    self.assertEqual(int(h["Content-Length"]), b - a + 1)
                    self.assert_file_headers(h, size, sha)
                    if method == "GET":
                        self.assertEqual(body, data[a:b + 1])
        for rng in ("bytes=%d-" % size, "bytes=%d-%d" % (size + 10, size + 20), "bytes=-0"):
            with self.subTest(range=rng):
                st, h, body = self.get(path, Range=rng)
                self.assertEqual(st, 416, body)
                self.assertEqual(h.get("Content-Range"), "bytes */%d" % size)
        # malformed or multi-range: the whole file, 200
        for rng in ("bytes=5-1", "items=0-1", "bytes=0-1,5-6", "bytes=x-"):
            with self.subTest(range=rng):
                st, h, body = self.get(path, Range=rng)
                self.assertEqual(st, 200)
                self.assertEqual(body, data)
        # If-Range: the strong ETag keeps the range, anything else gives 200
        st, h, body = self.get(path, Range="bytes=10-19", If_Range=etag)
        self.assertEqual(st, 206)
        self.assertEqual(body, data[10:20])
        for other in ('"deadbeef"', "W/" + etag, "Mon, 01 Jan 2024 00:00:00 GMT"):
            with self.subTest(if_range=other):
                st, h, body = self.get(path, Range="bytes=10-19", If_Range=other)
                self.assertEqual(st, 200)
                self.assertEqual(body, data)
        # what uv does for a wheel without metadata: HEAD, then the tail
        st, h, _ = self.get(path, "HEAD", Accept_Encoding="identity")
        n = int(h["Content-Length"])
        st, h, body = self.get(path, Range="bytes=%d-%d" % (n - 16384, n - 1))
        self.assertEqual(st, 206)
        self.assertEqual(h["Content-Range"], "bytes %d-%d/%d" % (n - 16384, n - 1, n))
        self.assertEqual(body, data[-16384:])
        self.assertEqual(self.m.upstream_requests(), [], describe(self.m.upstream_requests()))

    def test_stored_files_leave_by_sendfile(self):
        """Issue 5, deliverable 2: a stored file, whole or a range, is sent
        with sendfile from the blob, not copied through a buffer. The kernel
        adds what a process sends with sendfile to its /proc/PID/io wchar,
        and what it reads to rchar; send() of a buffer adds nothing to
        wchar. So both must grow by at least the body's size (wchar also by
        the log lines written meanwhile: about 150 bytes)."""
        fn = os.path.basename(self.m.demo10)
        path, _ = self.stored(DEMO, self.m.demo10)
        downloads_settled(self.imx)
        data = self.data[fn]
        size = len(data)
        pid = self.imx.proc.pid
        for rng, a, b in ((None, 0, size - 1), ("bytes=1000-", 1000, size - 1),
                          ("bytes=-16384", size - 16384, size - 1)):
            with self.subTest(range=rng):
                before = proc_io(pid)
                hd = {"Range": rng} if rng else {}
                st, h, body = self.imx.get(path, hd)
                after = proc_io(pid)
                self.assertEqual(st, 206 if rng else 200)
                self.assertEqual(body, data[a:b + 1])
                n = b - a + 1
                sent = after["wchar"] - before["wchar"]
                read = after["rchar"] - before["rchar"]
                self.assertGreaterEqual(sent, n, "sent by sendfile: %d of %d bytes" % (sent, n))
                self.assertGreaterEqual(read, n)
        self.assertEqual(self.m.upstream_requests(), [], describe(self.m.upstream_requests()))

    def test_metadata(self):
        m = self.m
        # advertised: served, and its hash is the advertised one
        path, entry = file_entry(self.imx, DEMO, os.path.basename(m.demo10))
        want = entry["core-metadata"]["sha256"]
        st, h, body = self.get(path + ".metadata")
        self.assertEqual(st, 200, body)
        self.assertEqual(hashlib.sha256(body).hexdigest(), want)
        self.assertEqual(body, wheels.metadata_of(m.demo10))
        self.assertNotIn("Content-Encoding", h)
        reqs = m.pypi.requests()
        self.assertEqual([r["decoded_path"].rsplit("/", 1)[1] for r in reqs],
                         [os.path.basename(m.demo10) + ".metadata"], describe(reqs))
        # the second time from the store
        m.reset()
        st, h, body2 = self.get(path + ".metadata")
        self.assertEqual((st, body2), (200, body))
        self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))
        # Not advertised by the upstream (pypi file without metadata, pytorch
        # file): 404 and nothing asked -- unless the wheel is already stored
        # (another test downloaded it), in which case indexmux extracted its
        # METADATA itself (PEP 658 synthesis) and must serve exactly what the
        # page now advertises, still without asking the upstream. Such a
        # download's extraction must be over first, or the page and the
        # .metadata request would see two different moments.
        downloads_settled(self.imx)
        for page, wheel in ((DEMO, m.demo08), (TORCH, m.torch_cu)):
            with self.subTest(wheel=os.path.basename(wheel)):
                path, entry = file_entry(self.imx, page, os.path.basename(wheel))
                advertised = entry.get("core-metadata", False)
                m.reset()
                st, h, body = self.get(path + ".metadata")
                if advertised in (False, None):
                    self.assertEqual(st, 404, body)
                else:
                    self.assertEqual(st, 200, body)
                    self.assertEqual(hashlib.sha256(body).hexdigest(), advertised["sha256"])
                    self.assertEqual(body, wheels.metadata_of(wheel))
                self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))

    def test_unknown_keys_are_404_without_upstream_requests(self):
        m = self.m
        path, _ = file_entry(self.imx, DEMO, os.path.basename(m.demo10))
        key = path.split("/")[2]
        fn = os.path.basename(m.demo10)
        m.reset()
        for p in ("/files/%s/%s" % ("0" * 32, fn),                  # no such key
                  "/files/%s/%s" % (key, "other-1.0-py3-none-any.whl"),  # key, wrong name
                  "/files/%s/%s.metadata" % ("f" * 32, fn),
                  "/files/%s/" % key,
                  "/files/%s" % key,
                  "/files/not-a-key/%s" % fn,
                  "/files/%s/../%s" % (key, fn),
                  "/files/http%3A%2F%2F127.0.0.1%3A1%2Fx/" + fn,
                  "/files/" + m.pypi.files_url("/packages/x/" + fn)):
            with self.subTest(path=p):
                for method in ("GET", "HEAD"):
                    st, _, body = self.get(p, method)
                    self.assertEqual(st, 404, body)
        self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
