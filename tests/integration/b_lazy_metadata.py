#!/usr/bin/env python3
"""Issue 5, items 4 and 5, against a PyTorch-shaped fake (no PEP 658 metadata,
no sizes on the page) serving a 300 MiB wheel:

  - uv's lazy metadata fetch through indexmux: HEAD (200, Content-Length,
    Accept-Ranges: bytes), the last 16 KiB (206, exact Content-Range), the
    METADATA entry's range (206), each well under 100 ms; the bytes equal
    the file's, zipfile reads METADATA from just those two ranges, and the
    upstream saw only ranged GETs: nothing downloaded the wheel;
  - a range past the end is 416 with "bytes */<size>"; an upstream error
    on a range is a 502 naming the upstream;
  - the first full GET downloads and stores it once; then the page (HTML and
    JSON, including a rendered copy made before) advertises core-metadata
    with the sha256 of METADATA, `<file>.metadata` serves exactly those
    bytes, and ranges come from the store with no upstream request.
"""

import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FakeIndex, Indexmux, toml_str, wait_for, wheels  # noqa: E402
from b_mirror_common import (TORCH_TAG, UV_ACCEPT, describe, file_entry,  # noqa: E402
                             json_page)

SIZE = 300 << 20
PAGE = "/pytorch-cu124/simple/torch/"
LIMIT_MS = 100.0
IDENTITY = {"Accept-Encoding": "identity"}

CONFIG = """\
[[index]]
name = "pytorch-cu124"
url = %s
"""


def file_bytes(path, start, end):
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(end - start + 1)


class LazyMetadata(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-lazy-")
        t0 = time.monotonic()
        cls.wheel = wheels.make_big_wheel(os.path.join(cls.tmp, "w"), "torch", "2.5.1+cu124",
                                          SIZE, tag=TORCH_TAG, deps=["filelock", "jinja2"])
        cls.sha = wheels.sha256_of(cls.wheel)
        cls.size = os.path.getsize(cls.wheel)
        cls.name = os.path.basename(cls.wheel)
        cls.meta = wheels.metadata_of(cls.wheel)
        cls.meta_sha = hashlib.sha256(cls.meta).hexdigest()
        sys.stderr.write("built %d-byte wheel in %.1fs\n" % (cls.size, time.monotonic() - t0))
        spec = {"mode": "pytorch", "variants": {"cu124": {"torch": {"files": [
            {"path": cls.wheel, "sha256": cls.sha}]}}}}
        cls.up = FakeIndex(spec).start()

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def timed(self, imx, method, path, headers):
        t0 = time.monotonic()
        st, h, body = imx.request(method, path, headers=dict(IDENTITY, **headers))
        ms = (time.monotonic() - t0) * 1000
        self.times.append((method, headers.get("Range", ""), ms))
        return st, h, body, ms

    def test_lazy_reads_then_synthesized_metadata(self):
        self.times = []
        with Indexmux(CONFIG % toml_str(self.up.index_url("cu124"))) as imx:
            path, entry = file_entry(imx, PAGE, self.name)
            self.assertEqual(entry["hashes"].get("sha256"), self.sha)
            self.assertFalse(entry.get("core-metadata"), entry)
            st, _, html = imx.get(PAGE, {"Accept": "text/html"})
            self.assertEqual(st, 200)
            self.assertNotIn(b"data-core-metadata", html)
            self.up.reset()

            # uv: HEAD, then the central directory, then METADATA
            st, h, _, ms = self.timed(imx, "HEAD", path, {})
            self.assertEqual(st, 200)
            self.assertEqual(h.get("Content-Length"), str(self.size))
            self.assertEqual(h.get("Accept-Ranges"), "bytes")
            self.assertIsNone(h.get("Content-Encoding"))
            self.assertLess(ms, LIMIT_MS)

            start, end = self.size - 16384, self.size - 1
            st, h, tail, ms = self.timed(imx, "GET", path, {"Range": "bytes=%d-%d" % (start, end)})
            self.assertEqual(st, 206, tail[:200])
            self.assertEqual(h.get("Content-Range"), "bytes %d-%d/%d" % (start, end, self.size))
            self.assertEqual(h.get("Content-Length"), str(end - start + 1))
            self.assertEqual(tail, file_bytes(self.wheel, start, end))
            self.assertLess(ms, LIMIT_MS)

            sparse = wheels.Sparse(self.size)
            sparse.add(start, tail)
            zf = zipfile.ZipFile(sparse)
            names = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            self.assertEqual(len(names), 1, zf.namelist())
            zi = zf.getinfo(names[0])
            mstart = zi.header_offset
            mend = min(self.size - 1, mstart + 30 + len(zi.filename.encode()) + 256 +
                       zi.compress_size)
            st, h, mbytes, ms = self.timed(imx, "GET", path,
                                           {"Range": "bytes=%d-%d" % (mstart, mend)})
            self.assertEqual(st, 206)
            self.assertEqual(h.get("Content-Range"), "bytes %d-%d/%d" % (mstart, mend, self.size))
            self.assertEqual(mbytes, file_bytes(self.wheel, mstart, mend))
            self.assertLess(ms, LIMIT_MS)
            sparse.add(mstart, mbytes)
            self.assertEqual(zf.read(names[0]), self.meta)

            # a suffix range and an unsatisfiable one
            st, h, last, _ = self.timed(imx, "GET", path, {"Range": "bytes=-100"})
            self.assertEqual(st, 206)
            self.assertEqual(h.get("Content-Range"),
                             "bytes %d-%d/%d" % (self.size - 100, self.size - 1, self.size))
            self.assertEqual(last, tail[-100:])
            st, h, _, _ = self.timed(imx, "GET", path,
                                     {"Range": "bytes=%d-%d" % (self.size + 10, self.size + 20)})
            self.assertEqual(st, 416)
            self.assertEqual(h.get("Content-Range"), "bytes */%d" % self.size)

            # an upstream that cannot answer the range: 502 naming it, never a 200
            self.up.fault("/whl/", "status", count=1, code=503)
            st, _, why = imx.get(path, dict(IDENTITY, Range="bytes=0-99"))
            self.assertEqual(st, 502, why)
            self.assertIn(b"pytorch-cu124", why)

            reqs = self.up.requests()
            self.assertTrue(reqs, "no upstream request")
            for q in reqs:
                self.assertTrue(q["method"] == "HEAD" or q["headers"].get("Range"),
                                "a request without Range reached the upstream:\n" + describe(reqs))
            for m, rg, ms in self.times:
                sys.stderr.write("uncached %s %s: %.1f ms\n" % (m, rg or "-", ms))

            # the first full GET downloads it, once
            self.up.reset()
            h = hashlib.sha256()
            st, hdr, body = imx.get(path, IDENTITY, timeout=120)
            self.assertEqual(st, 200)
            self.assertEqual(len(body), self.size)
            self.assertEqual(hashlib.sha256(body).hexdigest(), self.sha)
            del body
            full = [q for q in self.up.requests() if not q["headers"].get("Range")]
            self.assertEqual(len(full), 1, describe(self.up.requests()))

            # the pages, rendered before, now advertise the synthesized metadata
            def advertised():
                _, e = file_entry(imx, PAGE, self.name)
                return e.get("core-metadata") == {"sha256": self.meta_sha} and e
            entry = wait_for(advertised, timeout=10, what="core-metadata on the JSON page")
            self.assertNotIn("dist-info-metadata", entry)
            doc = json_page(imx, PAGE)
            self.assertNotIn("dist-info-metadata", [k for f in doc["files"] for k in f])
            st, _, html = imx.get(PAGE, {"Accept": "text/html"})
            self.assertEqual(st, 200)
            self.assertIn(('data-dist-info-metadata="sha256=%s" data-core-metadata="sha256=%s"'
                           % (self.meta_sha, self.meta_sha)).encode(), html)
            st, _, html = imx.get(PAGE, {"Accept": UV_ACCEPT})
            self.assertEqual(st, 200)

            self.up.reset()
            st, h, body = imx.get(path + ".metadata", IDENTITY)
            self.assertEqual(st, 200)
            self.assertEqual(body, self.meta)
            self.assertEqual(hashlib.sha256(body).hexdigest(), self.meta_sha)

            # stored now: ranges come from the store
            st, h, tail2 = imx.get(path, dict(IDENTITY, Range="bytes=%d-%d" % (start, end)))
            self.assertEqual(st, 206)
            self.assertEqual(tail2, tail)
            st, h, _ = imx.head(path, IDENTITY)
            self.assertEqual((st, h.get("Content-Length")), (200, str(self.size)))
            self.assertEqual(self.up.requests(), [], describe(self.up.requests()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
