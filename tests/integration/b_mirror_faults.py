#!/usr/bin/env python3
"""Issue 3 "Shows": an upstream serving corrupted (or cut) bytes.

The client's download fails (pip reports an error; a raw client gets a
truncated, aborted body, never a complete 200 with wrong bytes), nothing is
stored (the next request goes upstream again), and once the upstream is
fixed the next request succeeds and is then served from the store.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import (PLATFORM_ARGS, Mirror, blob_files, describe,  # noqa: E402
                             file_entry)
from harness import explain, pip, raw_get, wheels  # noqa: E402

DEMO = "/pypi/simple/demo-pkg/"
TORCH = "/pytorch-cu124/simple/torch/"


class CorruptUpstream(unittest.TestCase):

    def setUp(self):
        self.m = Mirror()
        self.tmp = tempfile.mkdtemp(prefix="imx-faults-")

    def tearDown(self):
        self.m.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_nothing_stored(self, imx, size):
        left = [p for p in blob_files(imx.data_dir) if os.path.getsize(p) == size]
        self.assertEqual(left, [], "a blob of the file's size was kept")
        tmp = [p for p in blob_files(imx.data_dir)
               if os.path.relpath(p, imx.data_dir).startswith("tmp")]
        self.assertEqual(tmp, [], "temp files left behind")

    def run_fault(self, imx, fx, page, wheel, path_prefix, kind, **params):
        m = self.m
        fn = os.path.basename(wheel)
        with open(wheel, "rb") as fh:
            data = fh.read()
        path, _ = file_entry(imx, page, fn)
        m.reset()
        fx.fault(path_prefix, kind, **params)
        for attempt in (1, 2, 3):
            st, clen, body, complete = raw_get(imx.port, path)
            # never a complete-looking 200 with wrong bytes
            if st == 200 and complete:
                self.fail("attempt %d: complete 200 (%d bytes, right bytes: %s) from a %s "
                          "upstream" % (attempt, len(body), body == data, kind))
            self.assertLess(len(body), len(data))
            good = min(len(body), params.get("offset", len(data) // 2)) \
                if kind == "corrupt" else len(body)
            self.assertEqual(body[:good], data[:good], "bytes before the fault")
            # nothing stored: every attempt went upstream again
            got = [r for r in fx.requests() if r["decoded_path"].endswith("/" + fn)]
            self.assertEqual(len(got), attempt, describe(fx.requests()))
            self.assert_nothing_stored(imx, len(data))
        # fixed upstream: the next request succeeds, and the one after is local
        fx.clear_faults()
        m.reset()
        st, clen, body, complete = raw_get(imx.port, path)
        self.assertEqual((st, complete), (200, True))
        self.assertEqual(body, data)
        m.reset()
        st, clen, body, complete = raw_get(imx.port, path)
        self.assertEqual((st, complete, body == data), (200, True, True))
        self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))
        return path

    def test_corrupt_bytes_pypi_and_pytorch(self):
        m = self.m
        with m.server() as imx:
            self.run_fault(imx, m.pypi, DEMO, m.demo10, "/packages/", "corrupt", port="files")
            self.run_fault(imx, m.torch, TORCH, m.torch_cu, "/whl/cu124/torch-2.5.1",
                           "corrupt")

    def test_corrupt_last_byte(self):
        """The held-back last byte is what catches a flip at the very end."""
        m = self.m
        size = os.path.getsize(m.demo10)
        with m.server() as imx:
            self.run_fault(imx, m.pypi, DEMO, m.demo10, "/packages/", "corrupt",
                           port="files", offset=size - 1)

    def test_cut_bodies(self):
        m = self.m
        size = os.path.getsize(m.demo10)
        for kind, params in (("short_body", {"after": size // 3}),
                             ("short_body", {"after": size - 1}),
                             ("reset_mid", {"after": size // 2})):
            with self.subTest(kind=kind, **params), m.server() as imx:
                self.run_fault(imx, m.pypi, DEMO, m.demo10, "/packages/", kind,
                               port="files", **params)

    def test_pip_download_fails_then_succeeds(self):
        m = self.m
        with m.server() as imx:
            m.pypi.fault("/packages/", "corrupt", port="files")
            m.torch.fault("/whl/cu124/torch-2.5.1", "corrupt")
            out = os.path.join(self.tmp, "out")
            for route, reqs in (("pypi", ["demo-pkg"]), ("pytorch-cu124", ["torch==2.5.1"])):
                with self.subTest(route=route):
                    p = pip("download", "--no-cache-dir", "--no-deps", *PLATFORM_ARGS,
                            "-d", out, *reqs, index_url=imx.index_url(route))
                    self.assertNotEqual(p.returncode, 0, explain(p))
                    self.assertRegex(p.stderr, r"(?i)error", explain(p))
            for w in (m.demo10, m.torch_cu):
                self.assertFalse(os.path.exists(os.path.join(out, os.path.basename(w))))
                self.assert_nothing_stored(imx, os.path.getsize(w))
            self.assertEqual(m.pypi.count("/packages/"), 1, describe(m.pypi.requests()))
            self.assertEqual(m.torch.count("/whl/cu124/torch-2.5.1"), 1,
                             describe(m.torch.requests()))
            m.reset()
            for route, reqs in (("pypi", ["demo-pkg"]), ("pytorch-cu124", ["torch==2.5.1"])):
                with self.subTest(route=route, fixed=True):
                    p = pip("download", "--no-cache-dir", "--no-deps", *PLATFORM_ARGS,
                            "-d", out, *reqs, index_url=imx.index_url(route))
                    self.assertEqual(p.returncode, 0, explain(p))
            for w in (m.demo10, m.torch_cu):
                self.assertEqual(wheels.sha256_of(os.path.join(out, os.path.basename(w))),
                                 wheels.sha256_of(w))
            # the pages were still fresh: only the two files went upstream
            reqs = m.upstream_requests()
            self.assertEqual(sorted(os.path.basename(r["decoded_path"]) for r in reqs),
                             sorted([os.path.basename(m.demo10), os.path.basename(m.torch_cu)]),
                             describe(reqs))


if __name__ == "__main__":
    unittest.main(verbosity=2)
