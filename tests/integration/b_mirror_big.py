#!/usr/bin/env python3
"""Issue 3 "Shows": 20 concurrent requests for one uncached 200 MB file make
exactly one upstream request and get 20 identical, complete, correct bodies.

Bodies are hashed while they stream (memory stays bounded: no copies kept).
The upstream stalls for a moment after the first MiB so that every client
surely joins the download in flight rather than finding the stored blob.
"""

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import Mirror, blob_files, describe, file_entry  # noqa: E402
from harness import wait_for, wheels  # noqa: E402

CLIENTS = 20
SIZE = 200 * 1000 * 1000
BIG = "/pypi/simple/big-pkg/"


def fetch(port, path, barrier, result):
    h = hashlib.sha256()
    n = 0
    try:
        barrier.wait(timeout=30)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            c.request("GET", path, headers={"Accept-Encoding": "identity"})
            r = c.getresponse()
            result["status"] = r.status
            result["length"] = r.getheader("Content-Length")
            result["encoding"] = r.getheader("Content-Encoding")
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - reported by the test
        result["error"] = repr(e)
    result["bytes"] = n
    result["sha256"] = h.hexdigest()


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class BigConcurrent(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-big-")
        t0 = time.monotonic()
        cls.big = wheels.make_big_wheel(os.path.join(cls.tmp, "w"), "big-pkg", "1.0", SIZE)
        cls.sha = wheels.sha256_of(cls.big)
        cls.size = os.path.getsize(cls.big)
        sys.stderr.write("built %d-byte wheel in %.1fs\n" % (cls.size, time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_20_clients_one_upstream_request(self):
        m = Mirror()
        try:
            # the big wheel joins the pypi fake, its hash precomputed
            spec = m.pypi_spec()
            spec["projects"]["big-pkg"] = {"files": [
                {"path": self.big, "sha256": self.sha, "metadata": False}]}
            m.pypi.set_spec(spec)
            with m.server() as imx:
                path, entry = file_entry(imx, BIG, os.path.basename(self.big))
                self.assertEqual(entry["hashes"]["sha256"], self.sha)
                m.reset()
                m.pypi.fault("/packages/", "stall_mid", port="files", after=1 << 20,
                             seconds=2)
                barrier = threading.Barrier(CLIENTS)
                results = [{} for _ in range(CLIENTS)]
                threads = [threading.Thread(target=fetch, args=(imx.port, path, barrier, r),
                                            daemon=True) for r in results]
                t0 = time.monotonic()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=180)
                elapsed = time.monotonic() - t0
                self.assertFalse(any(t.is_alive() for t in threads), "clients hung")
                sys.stderr.write("%d x %d bytes in %.1fs\n" % (CLIENTS, self.size, elapsed))
                for i, r in enumerate(results):
                    with self.subTest(client=i):
                        self.assertNotIn("error", r)
                        self.assertEqual(r.get("status"), 200)
                        self.assertEqual(r.get("length"), str(self.size))
                        self.assertIsNone(r.get("encoding"))
                        self.assertEqual(r["bytes"], self.size)
                        self.assertEqual(r["sha256"], self.sha)
                reqs = m.pypi.requests()
                gets = [q for q in reqs if q["decoded_path"].endswith(os.path.basename(self.big))]
                self.assertEqual(len(gets), 1, describe(reqs))
                self.assertEqual(gets[0]["method"], "GET")
                self.assertEqual(len(reqs), 1, describe(reqs))
                # the server streamed from disk: its peak memory is far below one body
                hwm = vm_hwm_kib(imx.proc.pid)
                sys.stderr.write("indexmux peak RSS %s KiB\n" % hwm)
                if hwm is not None:
                    self.assertLess(hwm * 1024, self.size // 2, "server memory not bounded")
                # stored: a 21st request is local
                m.reset()
                r = {}
                fetch(imx.port, path, threading.Barrier(1), r)
                self.assertEqual((r.get("status"), r.get("sha256")), (200, self.sha))
                self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))
        finally:
            m.close()

    def test_first_client_leaves_download_completes(self):
        """The client that started the download goes away after 1 MiB: the
        download still completes and is stored (no second upstream GET)."""
        m = Mirror()
        try:
            spec = m.pypi_spec()
            spec["projects"]["big-pkg"] = {"files": [
                {"path": self.big, "sha256": self.sha, "metadata": False}]}
            m.pypi.set_spec(spec)
            with m.server() as imx:
                path, _ = file_entry(imx, BIG, os.path.basename(self.big))
                m.reset()
                c = http.client.HTTPConnection("127.0.0.1", imx.port, timeout=60)
                c.request("GET", path)
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.read(1 << 20)), 1 << 20)
                c.close()
                wait_for(lambda: [p for p in blob_files(imx.data_dir)
                                  if os.path.getsize(p) == self.size
                                  and "tmp" not in os.path.relpath(p, imx.data_dir)],
                         timeout=60, what="the blob to be stored")
                r = {}
                fetch(imx.port, path, threading.Barrier(1), r)
                self.assertEqual((r.get("status"), r.get("sha256")), (200, self.sha))
                reqs = m.pypi.requests()
                self.assertEqual(len(reqs), 1, describe(reqs))
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
