#!/usr/bin/env python3
"""Validates the fake upstreams with the REAL pip (no indexmux involved), so
that the server's integration tests stand on realistic upstreams: pip must
find, hash-check and install what the fakes serve, exactly as from PyPI and
download.pytorch.org.
"""

import gzip
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FakeIndex, PIP_ACCEPT, explain, http_request, pip,  # noqa: E402
                     run_python, venv, wheels)

TORCH_TAG = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
PLATFORM = ["--only-binary=:all:", "--python-version", "3.12",
            "--platform", "manylinux_2_17_x86_64"]


class FakesWithPip(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-fakes-")
        w = os.path.join(cls.tmp, "wheels")
        cls.demo10 = wheels.make_wheel(w, "demo-pkg", "1.0", deps=["dep-pkg"],
                                       requires_python=">=3.7")
        cls.demo11 = wheels.make_wheel(w, "demo-pkg", "1.1", deps=["dep-pkg>=0.5"])
        cls.dep = wheels.make_wheel(w, "dep-pkg", "0.5")
        cls.newpy = wheels.make_wheel(w, "demo-pkg", "2.0", requires_python=">=4")
        cls.sdist = wheels.make_sdist(w, "demo-pkg", "1.0")
        cls.t_cu = wheels.make_wheel(w, "torch", "2.5.1+cu124", tag=TORCH_TAG)
        cls.t_cpu = wheels.make_wheel(w, "torch", "2.5.1+cpu", tag=TORCH_TAG)
        cls.t_nohash = wheels.make_wheel(w, "torch", "2.4.0+cu124", tag=TORCH_TAG)
        cls.pypi = FakeIndex({
            "mode": "pypi", "api_version": "1.4",
            "projects": {
                "Demo_Pkg": {"files": [
                    {"path": cls.sdist},
                    {"path": cls.demo10, "requires_python": ">=3.7"},
                    {"path": cls.demo11, "yanked": "broken release"},
                    {"path": cls.newpy, "requires_python": ">=4"},
                ]},
                "dep-pkg": {"files": [{"path": cls.dep, "yanked": True, "metadata": False},
                                      {"path": wheels.make_wheel(w, "dep-pkg", "0.4")}]},
            },
        }).start()
        cls.torch = FakeIndex({
            "mode": "pytorch",
            "variants": {
                "cu124": {"torch": {"files": [{"path": cls.t_cu},
                                              {"path": cls.t_nohash, "hash": False}]}},
                "cpu": {"torch": {"files": [{"path": cls.t_cpu}]}},
            },
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.pypi.stop()
        cls.torch.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.pypi.reset()
        self.torch.reset()
        self.pypi.clear_faults()
        self.torch.clear_faults()
        self.out = tempfile.mkdtemp(dir=self.tmp)

    # ------------------------------------------------------------ pip runs
    def test_pip_download_torch_per_variant(self):
        for variant, want in (("cu124", self.t_cu), ("cpu", self.t_cpu)):
            out = os.path.join(self.out, variant)
            p = pip("download", "--no-deps", *PLATFORM, "-d", out, "torch==2.5.1",
                    index_url=self.torch.index_url(variant))
            self.assertEqual(p.returncode, 0, explain(p))
            got = os.listdir(out)
            self.assertEqual(got, [os.path.basename(want)])
            self.assertEqual(wheels.sha256_of(os.path.join(out, got[0])), wheels.sha256_of(want))
        # pip asked for the page, then the file with the '+' as %2B
        paths = [r["path"] for r in self.torch.requests()]
        self.assertIn("/whl/cu124/torch/", paths)
        self.assertTrue(any("torch-2.5.1%2Bcu124-" in p for p in paths), paths)
        self.assertTrue(any("torch-2.5.1%2Bcpu-" in p for p in paths), paths)
        page_req = self.torch.requests("/whl/cu124/torch/")[0]
        self.assertEqual(page_req["headers"]["Accept"], PIP_ACCEPT)

    def test_pip_download_link_without_hash(self):
        p = pip("download", "--no-deps", *PLATFORM, "-d", self.out, "torch==2.4.0",
                index_url=self.torch.index_url("cu124"))
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertEqual(os.listdir(self.out), [os.path.basename(self.t_nohash)])

    def test_pip_install_into_venv(self):
        py = venv(os.path.join(self.out, "venv"))
        p = pip("install", "demo-pkg", python=py, index_url=self.pypi.index_url())
        self.assertEqual(p.returncode, 0, explain(p))
        r = run_python(py, "import demo_pkg, dep_pkg; print(demo_pkg.__version__, "
                           "dep_pkg.__version__)")
        self.assertEqual(r.stdout.strip(), "1.0 0.4", explain(r))  # 1.1 and dep 0.5 are yanked
        # what pip asked: both pages (JSON accepted), both wheels, nothing else
        pages = self.pypi.requests("/simple/")
        self.assertEqual(sorted(r["path"] for r in pages),
                         ["/simple/demo-pkg/", "/simple/dep-pkg/"])
        for r in pages:
            self.assertEqual(r["headers"]["Accept"], PIP_ACCEPT)
            self.assertEqual(r["headers"].get("Cache-Control"), "max-age=0")
        files = [r["path"] for r in self.pypi.requests() if r["port"] == "files"]
        self.assertEqual(sorted(os.path.basename(f) for f in files),
                         ["demo_pkg-1.0-py3-none-any.whl", "dep_pkg-0.4-py3-none-any.whl"])
        for r in self.pypi.requests("/packages/"):
            self.assertEqual(r["headers"].get("Accept-Encoding"), "identity")

    def test_pip_pinned_yanked_and_requires_python(self):
        p = pip("download", "--no-deps", "-d", self.out, "demo-pkg==1.1",
                index_url=self.pypi.index_url())
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertIn("yanked", (p.stdout + p.stderr).lower())
        self.assertIn("broken release", p.stdout + p.stderr)
        p = pip("download", "--no-deps", "-d", self.out, "demo-pkg==2.0",
                index_url=self.pypi.index_url())
        self.assertNotEqual(p.returncode, 0, explain(p))
        self.assertIn("Requires-Python", p.stdout + p.stderr)

    def test_html_page_attributes(self):
        st, h, body = http_request("127.0.0.1", self.pypi.port, "GET", "/simple/demo-pkg/",
                                   {"Accept": "text/html"})
        self.assertEqual(st, 200)
        self.assertEqual(h["Content-Type"], "text/html")
        self.assertIn(b'data-yanked="broken release"', body)
        self.assertIn(b'data-requires-python="&gt;=3.7"', body)
        self.assertIn(b"data-core-metadata=\"sha256=", body)

    def test_corrupt_fault_fails_pip_hash_check(self):
        self.pypi.fault("/packages/", "corrupt", port="files")
        p = pip("download", "--no-deps", "-d", self.out, "demo-pkg",
                index_url=self.pypi.index_url())
        self.assertNotEqual(p.returncode, 0, explain(p))
        self.assertIn("DO NOT MATCH THE HASHES", p.stderr, explain(p))
        self.torch.fault("/whl/cu124/torch-2.5.1", "corrupt", count=1)
        p = pip("download", "--no-deps", *PLATFORM, "-d", self.out, "torch==2.5.1",
                index_url=self.torch.index_url("cu124"))
        self.assertNotEqual(p.returncode, 0, explain(p))
        self.assertIn("DO NOT MATCH THE HASHES", p.stderr, explain(p))

    def test_status_fault_makes_pip_skip_index(self):
        self.pypi.fault("/simple/demo-pkg/", "status", code=503)
        p = pip("download", "--no-deps", "-d", self.out, "demo-pkg",
                index_url=self.pypi.index_url())
        self.assertNotEqual(p.returncode, 0, explain(p))
        self.assertIn("No matching distribution", p.stderr, explain(p))


class FakeHttpBehaviour(unittest.TestCase):
    """Direct HTTP checks of the fakes' protocol details."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-fakes-http-")
        w = os.path.join(cls.tmp, "wheels")
        cls.whl = wheels.make_wheel(w, "demo-pkg", "1.0", size_pad=300_000)
        cls.t = wheels.make_wheel(w, "torch", "2.5.1+cu124", tag=TORCH_TAG)
        cls.pypi = FakeIndex({"mode": "pypi", "api_version": "1.1",
                              "projects": {"demo-pkg": {"files": [{"path": cls.whl}]}},
                              "auth": {"user": "ci", "password": "s3cret"}}).start()
        cls.torch = FakeIndex({"mode": "pytorch",
                               "variants": {"cu124": {"torch": {"files": [{"path": cls.t}]}}}
                               }).start()
        cls.auth = {"Authorization": "Basic Y2k6czNjcmV0"}

    @classmethod
    def tearDownClass(cls):
        cls.pypi.stop()
        cls.torch.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.pypi.clear_faults()
        self.torch.clear_faults()

    def get(self, fx, path, headers=None, method="GET", files=False):
        h = dict(self.auth) if fx is self.pypi else {}
        h.update(headers or {})
        return http_request("127.0.0.1", fx.files_port if files else fx.port, method, path, h,
                            timeout=20)

    def file_path(self):
        st, h, body = self.get(self.pypi, "/simple/demo-pkg/",
                               {"Accept": "application/vnd.pypi.simple.v1+json"})
        self.assertEqual(st, 200)
        doc = json.loads(body)
        url = doc["files"][0]["url"]
        self.assertTrue(url.startswith("http://127.0.0.1:%d/packages/" % self.pypi.files_port))
        self.assertEqual(doc["files"][0]["size"], os.path.getsize(self.whl))
        self.assertNotIn("project-status", doc)   # api 1.1
        return url.split(str(self.pypi.files_port), 1)[1]

    def test_pypi_shape_and_redirects(self):
        self.assertEqual(self.get(self.pypi, "/simple/demo-pkg/", {"Authorization": ""})[0], 401)
        st, h, _ = self.get(self.pypi, "/simple/Demo_Pkg/")
        self.assertEqual(st, 301)
        self.assertTrue(h["Location"].endswith("/simple/demo-pkg/"))
        st, h, _ = self.get(self.pypi, "/simple/demo-pkg")
        self.assertEqual((st, h["Location"].endswith("/simple/demo-pkg/")), (301, True))
        self.assertEqual(self.get(self.pypi, "/simple/nope/")[0], 404)
        for accept, want in ((None, "text/html"), ("*/*", "text/html"),
                             ("application/vnd.pypi.simple.latest+json",
                              "application/vnd.pypi.simple.v1+json"),
                             ("text/html;q=0.5, application/vnd.pypi.simple.v1+html",
                              "application/vnd.pypi.simple.v1+html")):
            st, h, _ = self.get(self.pypi, "/simple/", {"Accept": accept} if accept else {})
            self.assertEqual((st, h["Content-Type"]), (200, want), accept)
        st, h, _ = self.get(self.pypi, "/simple/?format=application/vnd.pypi.simple.v1%2Bjson")
        self.assertEqual(h["Content-Type"], "application/vnd.pypi.simple.v1+json")
        # conditional requests
        st, h, body = self.get(self.pypi, "/simple/demo-pkg/")
        self.assertEqual(h["Vary"], "Accept, Accept-Encoding")
        st2, _, b2 = self.get(self.pypi, "/simple/demo-pkg/", {"If-None-Match": h["ETag"]})
        self.assertEqual((st2, b2), (304, b""))
        st2, _, _ = self.get(self.pypi, "/simple/demo-pkg/",
                             {"If-Modified-Since": h["Last-Modified"]})
        self.assertEqual(st2, 304)
        st, h, gz = self.get(self.pypi, "/simple/demo-pkg/", {"Accept-Encoding": "gzip"})
        self.assertEqual(h["Content-Encoding"], "gzip")
        self.assertEqual(gzip.decompress(gz), body)

    def test_files_ranges_head_metadata(self):
        path = self.file_path()
        size = os.path.getsize(self.whl)
        with open(self.whl, "rb") as fh:
            data = fh.read()
        st, h, body = self.get(self.pypi, path, files=True)
        self.assertEqual((st, body), (200, data))
        self.assertEqual(h["Accept-Ranges"], "bytes")
        st, h, body = self.get(self.pypi, path, method="HEAD", files=True)
        self.assertEqual((st, body, int(h["Content-Length"])), (200, b"", size))
        for rng, a, b in (("bytes=0-9", 0, 9), ("bytes=100-", 100, size - 1),
                          ("bytes=-22", size - 22, size - 1)):
            st, h, body = self.get(self.pypi, path, {"Range": rng}, files=True)
            self.assertEqual(st, 206, rng)
            self.assertEqual(h["Content-Range"], "bytes %d-%d/%d" % (a, b, size))
            self.assertEqual(body, data[a:b + 1])
        st, h, _ = self.get(self.pypi, path, {"Range": "bytes=%d-" % size}, files=True)
        self.assertEqual((st, h["Content-Range"]), (416, "bytes */%d" % size))
        st, h, _ = self.get(self.pypi, path, {"Range": "bytes=0-9", "If-Range": '"other"'},
                            files=True)
        self.assertEqual(st, 200)
        st, _, md = self.get(self.pypi, path + ".metadata", files=True)
        self.assertEqual((st, md), (200, wheels.metadata_of(self.whl)))

    def test_pytorch_quirks(self):
        st, h, body = self.get(self.torch, "/whl/cu124/torch/",
                               {"Accept": "application/vnd.pypi.simple.v1+json"})
        self.assertEqual((st, h["Content-Type"]), (200, "text/html"))
        self.assertNotIn(b"<head>", body)
        self.assertIn(b"<h1>Links for torch</h1>", body)
        self.assertIn(b'href="/whl/cu124/torch-2.5.1%2Bcu124-cp312', body)
        self.assertIn(b">torch-2.5.1+cu124-cp312", body)
        self.assertNotIn(b"data-requires-python", body)
        st, _, body = self.get(self.torch, "/whl/cu124/")
        self.assertIn(b'<a href="torch/">torch</a>', body)
        for bad in ("/whl/cu124/nope/", "/whl/cu124/torch", "/whl/cu124",
                    "/whl/cu124/" + os.path.basename(self.t)):   # literal '+'
            st, h, body = self.get(self.torch, bad)
            self.assertEqual((st, h["Content-Type"]), (403, "application/xml"), bad)
            self.assertIn(b"<Code>AccessDenied</Code>", body)
        st, _, body = self.get(self.torch, "/whl/cu124/" + os.path.basename(self.t)
                               .replace("+", "%2B"))
        with open(self.t, "rb") as fh:
            self.assertEqual((st, body), (200, fh.read()))

    def test_body_faults(self):
        path = self.file_path()
        size = os.path.getsize(self.whl)
        fp = self.pypi.files_port

        def raw_get(p, timeout=10):
            s = socket.create_connection(("127.0.0.1", fp), timeout=timeout)
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % p).encode())
            buf = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    buf += b
            except ConnectionResetError:
                buf += b"<RST>"
            except socket.timeout:
                buf += b"<TIMEOUT>"
            s.close()
            head, _, body = buf.partition(b"\r\n\r\n")
            return head, body

        self.pypi.fault(path, "short_body", after=1000, count=1)
        head, body = raw_get(path)
        self.assertIn(b"Content-Length: %d" % size, head)
        self.assertEqual(len(body), 1000)
        self.pypi.fault(path, "reset_mid", after=5000, count=1)
        head, body = raw_get(path)
        self.assertTrue(body.endswith(b"<RST>") or len(body) == 5000, len(body))
        self.pypi.fault(path, "long_body", extra=10, count=1)
        head, body = raw_get(path)
        self.assertEqual(len(body), size + 10)
        self.pypi.fault(path, "chunked_cut", after=3000, count=1)
        head, body = raw_get(path)
        self.assertIn(b"Transfer-Encoding: chunked", head)
        self.assertNotIn(b"Content-Length", head)
        self.assertTrue(body.startswith(b"%x\r\n" % min(3000, 65536)), body[:20])
        self.assertFalse(body.endswith(b"0\r\n\r\n"))
        self.pypi.fault(path, "chunked_cut", count=1)      # all bytes, no final chunk
        head, body = raw_get(path)
        self.assertEqual(body.count(b"\r\n0\r\n\r\n"), 0)
        self.assertGreater(len(body), size)
        self.pypi.fault(path, "stall_mid", after=100, seconds=3, count=1)
        head, body = raw_get(path, timeout=1)
        self.assertTrue(body.endswith(b"<TIMEOUT>") and len(body) == 100 + 9, len(body))
        self.pypi.fault(path, "slow", bytes_per_sec=200_000, count=1)
        t0 = time.monotonic()
        head, body = raw_get(path)
        self.assertEqual(len(body), size)
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.pypi.fault("/simple/", "redirect_loop", count=1)
        st, h, _ = self.get(self.pypi, "/simple/demo-pkg/")
        self.assertEqual((st, h["Location"]), (302, "/simple/demo-pkg/"))
        self.pypi.fault("/simple/", "gzip_bomb", size=64 << 20, count=1)
        st, h, body = self.get(self.pypi, "/simple/demo-pkg/")
        self.assertEqual(h["Content-Encoding"], "gzip")
        self.assertLess(len(body), 1 << 20)
        self.assertEqual(len(zlib.decompressobj(31).decompress(body, 1 << 16)), 1 << 16)
        self.pypi.fault("/simple/", "json_garbage", count=1)
        st, _, body = self.get(self.pypi, "/simple/demo-pkg/")
        self.assertRaises(ValueError, json.loads, body)
        self.pypi.fault("/simple/", "stall_before", seconds=0.5, count=1, method="GET")
        t0 = time.monotonic()
        self.assertEqual(self.get(self.pypi, "/simple/demo-pkg/")[0], 200)
        self.assertGreater(time.monotonic() - t0, 0.4)
        # count ran out: normal again
        self.assertEqual(self.get(self.pypi, "/simple/demo-pkg/")[0], 200)

    def test_stalled_download_does_not_block_others(self):
        import threading
        path = self.file_path()
        self.pypi.fault(path, "stall_mid", after=1000, seconds=5, count=1)
        t = threading.Thread(target=lambda: self.get(self.pypi, path, files=True), daemon=True)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        self.assertEqual(self.get(self.pypi, "/simple/demo-pkg/")[0], 200)
        self.assertEqual(self.get(self.pypi, path, {"Range": "bytes=0-0"}, files=True)[0], 206)
        self.assertLess(time.monotonic() - t0, 2.0)
        t.join(timeout=15)

    def test_subprocess_mode(self):
        spec = {"mode": "pypi", "projects": {"demo-pkg": {"files": [{"path": self.whl}]}}}
        with FakeIndex(spec, subprocess=True) as fx:
            st, h, body = http_request("127.0.0.1", fx.port, "GET", "/simple/demo-pkg/")
            self.assertEqual(st, 200)
            fx.fault("/simple/", "status", code=500, count=1)
            self.assertEqual(http_request("127.0.0.1", fx.port, "GET", "/simple/x/")[0], 500)
            self.assertEqual(fx.count("/simple/"), 2)
            self.assertEqual(fx.requests("/simple/demo-pkg/")[0]["method"], "GET")
            fx.reset()
            self.assertEqual(fx.count(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
