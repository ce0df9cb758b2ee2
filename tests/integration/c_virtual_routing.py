#!/usr/bin/env python3
"""Virtual indexes (issue 4, SPEC.md sections 2 and 5) through the REAL pip:
the `cu124` and `mixed` views of SPEC section 2 route torch per platform,
never show PyPI's squatted torch 9.9.9 to Linux or Windows, and never ask the
explicit PyTorch index for anything that is not pinned to it (numpy, jinja2).

One Universe (virtual_fixture.py) and one indexmux serve the whole class; the
tests only read, so their order does not matter.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import explain  # noqa: E402
from virtual_fixture import (AARCH64, LINUX, MACOS, WINDOWS, json_page,  # noqa: E402
                             UniverseCase, page_origins, pip_download, upstream_paths)

P = "cp312"
T_CU_LINUX = "torch-2.5.1+cu124-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
T_CU_WIN = "torch-2.5.1+cu124-cp312-cp312-win_amd64.whl"
T_CPU_LINUX = "torch-2.5.1+cpu-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
T_CPU_WIN = "torch-2.5.1+cpu-cp312-cp312-win_amd64.whl"
T_MAC = "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl"
T_AARCH64 = "torch-2.5.1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
T_PYPI_LINUX = "torch-2.5.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
T_PYPI_WIN = "torch-2.5.1-cp312-cp312-win_amd64.whl"
T_SQUAT_LINUX = "torch-9.9.9-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
T_SQUAT_WIN = "torch-9.9.9-cp312-cp312-win_amd64.whl"


class VirtualRouting(UniverseCase):
    serve_kwargs = {}

    def download(self, view, platform, *reqs):
        p, got = pip_download(self.imx, view, platform, *reqs)
        self.assertEqual(p.returncode, 0, explain(p) + "\n--- server\n" + self.imx.log()[-4000:])
        return got

    def assertGot(self, got, filename, origin):
        self.assertEqual(list(got), [filename])
        self.assertEqual(self.u.origin_of(filename, got[filename]), origin,
                         "%s came from the wrong upstream" % filename)

    # ------------------------------------------------------------ cu124 view
    def test_cu124_linux_gets_cu124_wheel(self):
        got = self.download("cu124", LINUX, "torch")
        self.assertGot(got, T_CU_LINUX, "pytorch-cu124")

    def test_cu124_windows_gets_cu124_wheel(self):
        got = self.download("cu124", WINDOWS, "torch")
        self.assertGot(got, T_CU_WIN, "pytorch-cu124")

    def test_cu124_macos_gets_pypi_wheel(self):
        # PyTorch lists a macOS wheel of the same name too: the marker is false
        # for it, so PyPI's (different bytes) is the one served.
        got = self.download("cu124", MACOS, "torch")
        self.assertGot(got, T_MAC, "pypi")

    def test_cu124_linux_aarch64_gets_pytorch_copy(self):
        # Same filename on both upstreams; the pin is true for aarch64 Linux.
        got = self.download("cu124", AARCH64, "torch")
        self.assertGot(got, T_AARCH64, "pytorch-cu124")

    def test_cu124_squatted_version_is_invisible(self):
        # Even asking for it by version: Linux and Windows find no 9.9.9.
        for plat in (LINUX, WINDOWS):
            p, got = pip_download(self.imx, "cu124", plat, "torch==9.9.9")
            self.assertNotEqual(p.returncode, 0, explain(p))
            self.assertEqual(got, {})
            self.assertIn("No matching distribution found for torch==9.9.9", p.stderr,
                          explain(p))
            # what pip saw as available: the +cu124 build only
            self.assertIn("2.5.1+cu124", p.stderr, explain(p))
            self.assertNotIn("9.9.9,", p.stderr.split("from versions:")[-1])

    def test_cu124_json_page_lists_no_pypi_linux_or_windows_torch(self):
        st, doc, body = json_page(self.imx, "cu124", "torch")
        self.assertEqual(st, 200, body)
        origins = page_origins(self.u, doc)
        self.assertEqual(origins, {
            T_CU_LINUX: "pytorch-cu124",
            T_CU_WIN: "pytorch-cu124",
            T_AARCH64: "pytorch-cu124",
            T_MAC: "pypi",
        })
        for f in doc["files"]:
            self.assertFalse(f["filename"].startswith("torch-9.9.9"), f)
            self.assertTrue(f["url"].startswith("../../../files/") or "/files/" in f["url"], f)
        # versions are recomputed from the files kept (no 9.9.9); PEP 700 has
        # them only in API 1.1, which needs every size (PyTorch gives none)
        self.assertIn(doc["meta"]["api-version"], ("1.0", "1.1"))
        if doc["meta"]["api-version"] != "1.0":
            self.assertEqual(sorted(doc["versions"]), ["2.5.1", "2.5.1+cu124"])
        else:
            self.assertNotIn("versions", doc)
        self.assertEqual(doc["name"], "torch")

    # ------------------------------------------------------------ mixed view
    def test_mixed_each_platform_gets_its_build(self):
        cases = [
            (WINDOWS, T_CPU_WIN, "pytorch-cpu"),
            (LINUX, T_CU_LINUX, "pytorch-cu124"),
            (AARCH64, T_AARCH64, "pytorch-cu124"),
            (MACOS, T_MAC, "pypi"),
        ]
        for plat, fn, origin in cases:
            with self.subTest(platform=plat):
                got = self.download("mixed", plat, "torch")
                self.assertGot(got, fn, origin)

    def test_mixed_json_page(self):
        st, doc, body = json_page(self.imx, "mixed", "torch")
        self.assertEqual(st, 200, body)
        self.assertEqual(page_origins(self.u, doc), {
            T_CPU_WIN: "pytorch-cpu",          # Windows: source 1
            T_CU_LINUX: "pytorch-cu124",       # Linux: source 2
            T_AARCH64: "pytorch-cu124",        # Linux aarch64: source 2 (cpu's is false)
            T_MAC: "pypi",                     # neither marker true: PyPI
        })
        names = {f["filename"] for f in doc["files"]}
        for absent in (T_CPU_LINUX, T_CU_WIN, T_PYPI_LINUX, T_PYPI_WIN, T_SQUAT_LINUX,
                       T_SQUAT_WIN):
            self.assertNotIn(absent, names)

    # ------------------------------------------------------------ numpy, jinja2
    def test_cu124_numpy_and_jinja2_only_from_pypi(self):
        got = self.download("cu124", LINUX, "numpy")
        self.assertGot(got, "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
                            ".whl", "pypi")
        got = self.download("cu124", LINUX, "jinja2")
        self.assertGot(got, "jinja2-3.1.4-py3-none-any.whl", "pypi")
        # the stale copies are not even listed
        for project, stale in (("numpy", "1.26.3"), ("jinja2", "3.1.2")):
            st, doc, body = json_page(self.imx, "cu124", project)
            self.assertEqual(st, 200, body)
            self.assertNotIn(stale, doc["versions"])
            self.assertEqual(set(page_origins(self.u, doc).values()), {"pypi"})
        # the explicit PyTorch index was never asked about them (by this or
        # any earlier test of the class: its log is never reset)
        asked = upstream_paths(self.u.torch)
        self.assertFalse([p for p in asked if "numpy" in p.lower() or "jinja" in p.lower()],
                         asked)


if __name__ == "__main__":
    unittest.main(verbosity=2)
