#!/usr/bin/env python3
"""Issue 6 "Shows": the air-gap runbook (docs/air-gap.md) followed literally,
and cache care on a running server.

AirGap:
 1. fill through a connected server with `pip download` for two platforms
    (manylinux_2_17_x86_64 and win_amd64) from a PyPI-shaped fake holding a
    pure wheel and linux/windows/macOS platform wheels;
 2. stop it, `indexmux export`;
 3. `indexmux import` into an empty data dir (a damaged copy is refused first);
 4. `indexmux serve --offline` with the upstream URL pointing at a closed port;
    the same pip commands succeed with zero upstream requests, macOS (never
    filled) finds no distribution and returns promptly, offline JSON pages
    list only stored files, a never-fetched project is 404.
GcWhileServing: max-cache-size far below the stored bytes and a 1 s gc
interval; a slow download in progress completes with the right bytes, the
store comes down under the limit, evicted files are fetched again.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FakeIndex, Indexmux, explain, free_port, http_request, pip,  # noqa: E402
                     run_imx, toml_str, wait_for, wheels)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
PLATFORMS = ["manylinux_2_17_x86_64", "win_amd64"]
NEVER = "macosx_11_0_arm64"
TAGS = {
    "manylinux_2_17_x86_64": "cp312-cp312-manylinux_2_17_x86_64",
    "win_amd64": "cp312-cp312-win_amd64",
    NEVER: "cp312-cp312-macosx_11_0_arm64",
}


def config(url, extra_server=""):
    return """\
[server]
%s
[[index]]
name = "pypi"
url = %s

[virtual.default]
indexes = ["pypi"]
""" % (extra_server, toml_str(url))


def dead_url():
    return "http://127.0.0.1:%d/simple/" % free_port()


def pip_download(imx, plat, dest, *reqs):
    """docs/air-gap.md step 1, for one platform."""
    return pip("download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
               "--platform", plat, "-d", dest, *reqs, index_url=imx.index_url(), timeout=90)


def sha256_of(path):
    return wheels.sha256_of(path)


class AirGap(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-airgap-")
        wd = os.path.join(cls.tmp, "wheels")
        os.makedirs(wd)
        cls.pure = wheels.make_wheel(wd, "demo-pkg", "1.0")
        cls.native = {p: wheels.make_wheel(wd, "native-pkg", "2.0", tag=t)
                      for p, t in TAGS.items()}
        spec = {"mode": "pypi", "projects": {
            "demo-pkg": {"files": [{"path": cls.pure}]},
            "native-pkg": {"files": [{"path": p} for p in cls.native.values()]},
        }}
        cls.up = FakeIndex(spec).start()

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as fh:
            fh.write(text)
        return path

    def check_downloads(self, dest, plat):
        got = sorted(os.listdir(dest))
        want = sorted([os.path.basename(self.pure), os.path.basename(self.native[plat])])
        self.assertEqual(got, want)
        self.assertEqual(sha256_of(os.path.join(dest, os.path.basename(self.native[plat]))),
                         sha256_of(self.native[plat]))

    def test_runbook(self):
        connected_cfg = self.write("connected.toml", config(self.up.index_url()))
        airgap_cfg = self.write("airgap.toml", config(dead_url()))
        data1 = os.path.join(self.tmp, "data-connected")
        data2 = os.path.join(self.tmp, "data-airgap")
        bundle = os.path.join(self.tmp, "bundle.tar")

        # 1. Fill through a connected server, one pip run per target platform.
        with Indexmux(config(self.up.index_url()), data_dir=data1) as imx:
            for plat in PLATFORMS:
                dest = os.path.join(self.tmp, "fill-" + plat)
                p = pip_download(imx, plat, dest, "demo-pkg", "native-pkg")
                self.assertEqual(p.returncode, 0, explain(p) + imx.log())
                self.check_downloads(dest, plat)
        # (stopped by the with block: SIGTERM, exit 0 asserted)

        # 2. Export.
        p = run_imx("export", "--config", connected_cfg, "--data-dir", data1, "--out", bundle)
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertTrue(os.path.getsize(bundle) > 0)

        # 3. Carry (a damaged copy is refused and changes nothing), import.
        with open(bundle, "rb") as fh:
            data = fh.read()
        bad = os.path.join(self.tmp, "truncated.tar")
        with open(bad, "wb") as fh:
            fh.write(data[: len(data) // 2])
        p = run_imx("import", "--config", airgap_cfg, "--data-dir", data2, bad)
        self.assertEqual(p.returncode, 1, explain(p))
        self.assertIn("truncated", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        p = run_imx("import", "--config", airgap_cfg, "--data-dir", data2, bundle)
        self.assertEqual(p.returncode, 0, explain(p))
        p = run_imx("import", "--config", airgap_cfg, "--data-dir", data2, bundle)
        self.assertEqual(p.returncode, 0, "importing twice: " + explain(p))
        self.assertIn("imported 0 new blob(s)", p.stdout)
        p = run_imx("fsck", "--config", airgap_cfg, "--data-dir", data2)
        self.assertEqual(p.returncode, 0, explain(p))
        p = run_imx("stats", "--config", airgap_cfg, "--data-dir", data2)
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertRegex(p.stdout, r"\npypi +2 +4 +3 ")  # 2 pages, 4 files, 3 stored

        # 4. Serve offline; upstream URL is a closed port; the fake stays up to prove silence.
        self.up.reset()
        with Indexmux(config(dead_url()), data_dir=data2, extra_args=["--offline"]) as imx:
            for plat in PLATFORMS:
                dest = os.path.join(self.tmp, "offline-" + plat)
                p = pip_download(imx, plat, dest, "demo-pkg", "native-pkg")
                self.assertEqual(p.returncode, 0, explain(p) + imx.log())
                self.check_downloads(dest, plat)

            t0 = time.monotonic()
            p = pip_download(imx, NEVER, os.path.join(self.tmp, "offline-mac"), "native-pkg")
            self.assertNotEqual(p.returncode, 0, explain(p))
            self.assertIn("No matching distribution", p.stderr + p.stdout)
            self.assertLess(time.monotonic() - t0, 60, "a never-filled platform hung")

            st, h, body = imx.get("/simple/native-pkg/", headers={"Accept": JSON_V1})
            self.assertEqual(st, 200, imx.log())
            names = sorted(f["filename"] for f in json.loads(body)["files"])
            self.assertEqual(names, sorted(os.path.basename(self.native[p]) for p in PLATFORMS))

            st, _, _ = imx.get("/simple/never-fetched/", headers={"Accept": JSON_V1})
            self.assertEqual(st, 404)
        self.assertEqual(self.up.requests(), [], "offline server contacted the upstream")


class GcWhileServing(unittest.TestCase):

    def test_small_max_cache_size_keeps_serving(self):
        tmp = tempfile.mkdtemp(prefix="imx-gc-")
        self.addCleanup(shutil.rmtree, tmp, True)
        wd = os.path.join(tmp, "wheels")
        os.makedirs(wd)
        small = [wheels.make_wheel(wd, "small-%d" % i, "1.0", size_pad=20000) for i in range(3)]
        big = wheels.make_big_wheel(wd, "big-pkg", "1.0", 400000)
        projects = {"small-%d" % i: {"files": [{"path": p}]} for i, p in enumerate(small)}
        projects["big-pkg"] = {"files": [{"path": big}]}
        limit = 30000
        with FakeIndex({"mode": "pypi", "projects": projects}) as up, \
                Indexmux(config(up.index_url(), 'max-cache-size = "%d"' % limit),
                         extra_args=["--gc-interval", "1"]) as imx:

            def file_path(project):
                page = imx.url("/simple/%s/" % project)
                st, _, body = imx.get("/simple/%s/" % project, headers={"Accept": JSON_V1})
                self.assertEqual(st, 200, imx.log())
                url = urllib.parse.urljoin(page, json.loads(body)["files"][0]["url"])
                return urllib.parse.urlsplit(url).path

            def fetch(project):
                st, _, body = imx.get(file_path(project), timeout=60)
                self.assertEqual(st, 200, imx.log())
                return hashlib.sha256(body).hexdigest()

            for i, p in enumerate(small):
                self.assertEqual(fetch("small-%d" % i), sha256_of(p))

            # A download in progress (~4 s) while gc runs every second.
            up.fault("/", "slow", port="files", bytes_per_sec=100000)
            result = {}
            t = threading.Thread(target=lambda: result.update(sha=fetch("big-pkg")))
            t.start()
            t.join(90)
            self.assertFalse(t.is_alive(), "download hung")
            self.assertEqual(result.get("sha"), sha256_of(big), "download broken by gc")
            up.clear_faults()

            def under_limit():
                p = run_imx("stats", "--data-dir", imx.data_dir)
                for line in p.stdout.splitlines():
                    if line.startswith("pages:"):
                        return int(line.split("blob bytes:")[1].split()[0]) <= limit
                return False
            wait_for(under_limit, timeout=20, what="the store under max-cache-size")
            self.assertIn("evicted", imx.log())

            # Evicted files come back from the upstream (at most one small one still fits).
            before = len([r for r in up.requests() if r["port"] == "files"])
            for i, p in enumerate(small):
                self.assertEqual(fetch("small-%d" % i), sha256_of(p))
            self.assertGreaterEqual(len([r for r in up.requests() if r["port"] == "files"]) - before, 2)

if __name__ == "__main__":
    unittest.main(verbosity=2)
