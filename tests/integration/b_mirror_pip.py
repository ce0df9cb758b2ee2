#!/usr/bin/env python3
"""Issue 3 "Shows": the real pip through indexmux.

- `pip download --no-deps --only-binary=:all: --python-version 3.12 --platform ...`
  through /pypi/simple/ and /pytorch-cu124/simple/ (a +cu124 local version,
  root-relative %2B hrefs upstream) succeeds, with pip checking hashes;
- the same commands a second time make zero upstream requests;
- `pip install` of a pure-Python package into a fresh venv works and imports;
- pip's `Cache-Control: max-age=0` never reaches the upstream;
- with the upstreams stopped, cached pages and files are still served and an
  uncached project is a 502 naming the upstream.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import (PLATFORM_ARGS, Mirror, describe)  # noqa: E402
from harness import explain, pip, run_python, venv, wheels  # noqa: E402


class PipThroughMirror(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.m = Mirror()
        cls.out = tempfile.mkdtemp(prefix="imx-pip-out-")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        shutil.rmtree(cls.out, ignore_errors=True)

    def setUp(self):
        self.m.reset()
        self.dir = tempfile.mkdtemp(dir=self.out)

    def download(self, imx, route, *reqs, dest=None, extra=()):
        p = pip("download", "--no-cache-dir", "--no-deps", *PLATFORM_ARGS, *extra,
                "-d", dest or self.dir, *reqs, index_url=imx.index_url(route))
        return p

    def assert_same_bytes(self, path, want):
        self.assertEqual(wheels.sha256_of(path), wheels.sha256_of(want), path)

    def test_download_twice_pypi_and_pytorch(self):
        m = self.m
        with m.server() as imx:
            # --- first run: through both routes, hashes checked by pip
            req = os.path.join(self.dir, "req.txt")
            with open(req, "w") as fh:
                fh.write("torch==2.5.1 --hash=sha256:%s\n" % wheels.sha256_of(m.torch_cu))
            d1 = os.path.join(self.dir, "one")
            p = self.download(imx, "pypi", "demo-pkg", "native-pkg", dest=d1)
            self.assertEqual(p.returncode, 0, explain(p))
            p2 = self.download(imx, "pytorch-cu124", "-r", req, dest=d1,
                               extra=["--require-hashes"])
            self.assertEqual(p2.returncode, 0, explain(p2))
            self.assertEqual(sorted(os.listdir(d1)), sorted(
                os.path.basename(x) for x in (m.demo10, m.native, m.torch_cu)))
            for w in (m.demo10, m.native, m.torch_cu):
                self.assert_same_bytes(os.path.join(d1, os.path.basename(w)), w)

            # what reached the upstreams: each page once, each file once
            preq = m.pypi.requests()
            treq = m.torch.requests()
            self.assertEqual(sorted(r["path"] for r in preq if r["port"] == "pages"),
                             ["/simple/demo-pkg/", "/simple/native-pkg/"], describe(preq))
            self.assertEqual(sorted(os.path.basename(r["decoded_path"])
                                    for r in preq if r["port"] == "files"),
                             sorted([os.path.basename(m.demo10), os.path.basename(m.native)]),
                             describe(preq))
            self.assertEqual([r["path"] for r in treq], [
                "/whl/cu124/torch/",
                "/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-manylinux_2_17_x86_64."
                "manylinux2014_x86_64.whl"], describe(treq))
            # '+' went upstream as %2B, never literally
            for r in treq:
                self.assertNotIn("+", r["path"], describe(treq))
            # pip's Cache-Control: max-age=0 stopped at the server
            for r in preq + treq:
                self.assertNotIn("Cache-Control", r["headers"], describe(preq + treq))
            self.assertIn("Saved", p2.stdout)

            # --- second run: the same commands, zero upstream requests
            m.reset()
            d2 = os.path.join(self.dir, "two")
            p = self.download(imx, "pypi", "demo-pkg", "native-pkg", dest=d2)
            self.assertEqual(p.returncode, 0, explain(p))
            p2 = self.download(imx, "pytorch-cu124", "-r", req, dest=d2,
                               extra=["--require-hashes"])
            self.assertEqual(p2.returncode, 0, explain(p2))
            self.assertEqual(sorted(os.listdir(d2)), sorted(os.listdir(d1)))
            for w in (m.demo10, m.native, m.torch_cu):
                self.assert_same_bytes(os.path.join(d2, os.path.basename(w)), w)
            self.assertEqual(m.upstream_requests(), [], describe(m.upstream_requests()))

    def test_pip_rejects_a_hash_that_differs(self):
        """pip checks hashes through the mirror: a wrong --hash fails."""
        with self.m.server() as imx:
            req = os.path.join(self.dir, "req.txt")
            with open(req, "w") as fh:
                fh.write("torch==2.5.1 --hash=sha256:%s\n" % ("0" * 64))
            p = self.download(imx, "pytorch-cu124", "-r", req, extra=["--require-hashes"])
            self.assertNotEqual(p.returncode, 0, explain(p))
            self.assertIn("DO NOT MATCH THE HASHES", p.stderr, explain(p))

    def test_yanked_files_pass_through(self):
        """pip skips yanked files unless pinned, then warns with the reason."""
        m = self.m
        with m.server() as imx:
            p = self.download(imx, "pypi", "demo-pkg==1.1")
            self.assertEqual(p.returncode, 0, explain(p))
            self.assertIn("broken <release> & more", p.stdout + p.stderr, explain(p))
            p = self.download(imx, "pypi", "demo-pkg==0.9")
            self.assertEqual(p.returncode, 0, explain(p))
            self.assertIn("yanked", (p.stdout + p.stderr).lower(), explain(p))
            self.assertEqual(sorted(os.listdir(self.dir)),
                             sorted([os.path.basename(m.demo11), os.path.basename(m.demo09)]))
            files = [os.path.basename(r["decoded_path"]) for r in m.pypi.requests()
                     if r["port"] == "files"]
            self.assertEqual(sorted(files), sorted(os.listdir(self.dir)))

    def test_pip_install_into_fresh_venv(self):
        m = self.m
        py = venv(os.path.join(self.dir, "venv"))
        with m.server() as imx:
            p = pip("install", "--no-cache-dir", "demo-pkg", python=py,
                    index_url=imx.index_url("pypi"))
            self.assertEqual(p.returncode, 0, explain(p))
            r = run_python(py, "import demo_pkg, dep_pkg; "
                               "print(demo_pkg.__version__, dep_pkg.__version__)")
            self.assertEqual(r.stdout.strip(), "1.0 0.4", explain(r))
            reqs = m.pypi.requests()
            self.assertEqual(sorted(r["path"] for r in reqs if r["port"] == "pages"),
                             ["/simple/demo-pkg/", "/simple/dep-pkg/"], describe(reqs))
            self.assertEqual(sorted(os.path.basename(r["decoded_path"])
                                    for r in reqs if r["port"] == "files"),
                             [os.path.basename(m.demo10), os.path.basename(m.dep)],
                             describe(reqs))
            for r in reqs:
                self.assertNotIn("Cache-Control", r["headers"], describe(reqs))

    def test_upstream_stopped(self):
        """Separate fakes, stopped after the first run."""
        m = Mirror()
        try:
            req = os.path.join(self.dir, "req.txt")
            with open(req, "w") as fh:
                fh.write("torch==2.5.1 --hash=sha256:%s\n" % wheels.sha256_of(m.torch_cu))
            with m.server() as imx:
                d1 = os.path.join(self.dir, "one")
                p = self.download(imx, "pypi", "demo-pkg", dest=d1)
                self.assertEqual(p.returncode, 0, explain(p))
                p = self.download(imx, "pytorch-cu124", "-r", req, dest=d1,
                                  extra=["--require-hashes"])
                self.assertEqual(p.returncode, 0, explain(p))
                m.pypi.stop()
                m.torch.stop()
                d2 = os.path.join(self.dir, "two")
                p = self.download(imx, "pypi", "demo-pkg", dest=d2)
                self.assertEqual(p.returncode, 0, explain(p))
                p = self.download(imx, "pytorch-cu124", "-r", req, dest=d2,
                                  extra=["--require-hashes"])
                self.assertEqual(p.returncode, 0, explain(p))
                self.assertEqual(sorted(os.listdir(d2)), sorted(os.listdir(d1)))
                for route, project, upstream in (("pypi", "dep-pkg", "pypi"),
                                                 ("pytorch-cu124", "torchvision",
                                                  "pytorch-cu124")):
                    st, h, body = imx.get("/%s/simple/%s/" % (route, project))
                    self.assertEqual(st, 502, body)
                    text = body.decode()
                    self.assertIn("'%s'" % upstream, text)
                    self.assertEqual(text.rstrip("\n").count("\n"), 0, "one line: %r" % text)
                    self.assertTrue(h.get("Content-Type", "").startswith("text/plain"), h)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
