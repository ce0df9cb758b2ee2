#!/usr/bin/env python3
"""SPEC.md 5.1-5.5 file by file, through the JSON pages of small views (the
unit-level view of the merge, end to end): each file's environment from its
tags, markers in three-valued logic, "listed from source k iff Mk(f) is not
false and no earlier source is true", "listed from the view's indexes iff no
source is true", and "same filename: the first place wins".

Projects (besides the Universe's torch/numpy/...):
  tri  on pytorch-cpu and PyPI, pinned in view `arm` with
       platform_machine == 'arm64'   (universal2 = {x86_64, arm64}: unknown)
  pyv  on pytorch-cpu and PyPI, pinned in view `pyv` with
       python_version >= '3.12' and platform_system == 'Darwin'
  ord  on pytorch-cpu, pytorch-cu124 and PyPI, pinned in view `ord` to
       [cpu if sys_platform == 'darwin', cu124 if os_name == 'posix']
  tri  again in view `nomarker`: a source without marker (M = true) takes
       every file, PyPI contributes nothing.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from virtual_fixture import json_page, page_origins, UniverseCase  # noqa: E402

CPU, CU, PYPI = "pytorch-cpu", "pytorch-cu124", "pypi"

VIEWS = """
[virtual.arm]
indexes = ["pypi"]
[virtual.arm.sources]
tri = [{ index = "pytorch-cpu", marker = "platform_machine == 'arm64'" }]

[virtual.pyv]
indexes = ["pypi"]
[virtual.pyv.sources]
pyv = [{ index = "pytorch-cpu", marker = "python_version >= '3.12' and platform_system == 'Darwin'" }]

[virtual.ord]
indexes = ["pypi"]
[virtual.ord.sources]
ord = [
  { index = "pytorch-cpu", marker = "sys_platform == 'darwin'" },
  { index = "pytorch-cu124", marker = "os_name == 'posix'" },
]

[virtual.nomarker]
indexes = ["pypi"]
[virtual.nomarker.sources]
tri = [{ index = "pytorch-cpu" }]
"""


def add_projects(u, pypi, torch):
    w = u.wheel
    torch["cpu"]["tri"] = [
        w(CPU, "tri", "1.0", "cp312-cp312-macosx_11_0_universal2"),   # unknown -> listed
        w(CPU, "tri", "1.0", "cp312-cp312-macosx_11_0_arm64"),        # true -> listed
        w(CPU, "tri", "1.0", "cp312-cp312-macosx_10_9_x86_64"),       # false -> dropped
        w(CPU, "tri", "1.0", "py3-none-any"),                         # unknown -> listed
        u.sdist(CPU, "tri", "1.0"),                                   # unknown -> listed
        w(CPU, "tri", "1.0", "cp312-cp312-win_amd64"),                # AMD64: false
        w(CPU, "tri", "1.0", "cp312-cp312-manylinux_2_17_aarch64"),   # aarch64: false
    ]
    pypi["tri"] = [
        w(PYPI, "tri", "1.0", "cp312-cp312-macosx_11_0_universal2"),  # dup: the source's wins
        w(PYPI, "tri", "1.0", "cp312-cp312-macosx_11_0_arm64"),       # pinned (true) -> dropped
        w(PYPI, "tri", "1.0", "cp312-cp312-macosx_10_9_x86_64"),      # false -> fallback lists
        w(PYPI, "tri", "2.0", "cp312-cp312-macosx_11_0_universal2"),  # unknown -> fallback lists
        w(PYPI, "tri", "2.0", "cp312-cp312-macosx_11_0_arm64"),       # true -> dropped
        w(PYPI, "tri", "2.0", "py3-none-any"),                        # unknown -> fallback lists
    ]
    torch["cpu"]["pyv"] = [
        w(CPU, "pyv", "1.0", "cp312-cp312-macosx_11_0_arm64"),        # true and true
        w(CPU, "pyv", "1.0", "cp311-cp311-macosx_11_0_arm64"),        # false and true
        w(CPU, "pyv", "1.0", "cp311.cp312-cp311.cp312-macosx_11_0_arm64"),  # unknown and true
        w(CPU, "pyv", "1.0", "cp38-abi3-macosx_11_0_arm64"),          # unknown (abi3) and true
        w(CPU, "pyv", "1.0", "cp312-cp312-manylinux_2_17_x86_64"),    # true and false
        w(CPU, "pyv", "1.0", "py3-none-any"),                         # unknown and unknown
    ]
    pypi["pyv"] = [
        w(PYPI, "pyv", "1.0", "cp312-cp312-macosx_11_0_arm64"),       # pinned -> dropped
        w(PYPI, "pyv", "1.0", "cp311-cp311-macosx_11_0_arm64"),       # fallback lists
        w(PYPI, "pyv", "1.0", "cp311.cp312-cp311.cp312-macosx_11_0_arm64"),  # dup of source's
        w(PYPI, "pyv", "1.0", "cp312-cp312-manylinux_2_17_x86_64"),   # fallback lists
    ]
    torch["cpu"]["ord"] = [
        w(CPU, "ord", "1.0", "py3-none-macosx_11_0_arm64"),           # darwin: source 1
        w(CPU, "ord", "1.0", "py3-none-manylinux_2_17_x86_64"),       # false for source 1
    ]
    torch["cu124"]["ord"] = [
        w(CU, "ord", "1.0", "py3-none-macosx_11_0_arm64"),            # source 1 true first
        w(CU, "ord", "1.0", "py3-none-manylinux_2_17_x86_64"),        # posix: source 2
        w(CU, "ord", "1.0", "py3-none-win_amd64"),                    # nt: false
        w(CU, "ord", "1.0", "py3-none-any"),                          # unknown: source 2
    ]
    pypi["ord"] = [
        w(PYPI, "ord", "1.0", "py3-none-win_amd64"),                  # no source true: listed
        w(PYPI, "ord", "1.0", "py3-none-macosx_11_0_arm64"),          # source 1 true: dropped
        w(PYPI, "ord", "1.0", "py3-none-any"),                        # dup of cu124's
    ]


class VirtualMarkers(UniverseCase):
    universe_kwargs = {"extra_projects": add_projects}
    serve_kwargs = {"extra": VIEWS}

    def page(self, view, project):
        st, doc, body = json_page(self.imx, view, project)
        self.assertEqual(st, 200, body + self.imx.log()[-3000:].encode())
        return page_origins(self.u, doc)

    def rules(self, view, project):
        st, h, body = self.imx.get("/%s/explain/%s/" % (view, project))
        self.assertEqual(st, 200, body)
        return {(d["index"], d["filename"]): (d["kept"], d["rule"])
                for d in json.loads(body)["decisions"]}

    def test_universal2_against_arm64_is_unknown(self):
        self.assertEqual(self.page("arm", "tri"), {
            # from the source: true or unknown
            "tri-1.0-cp312-cp312-macosx_11_0_universal2.whl": CPU,
            "tri-1.0-cp312-cp312-macosx_11_0_arm64.whl": CPU,
            "tri-1.0-py3-none-any.whl": CPU,
            "tri-1.0.tar.gz": CPU,
            # from PyPI: no source marker true for them
            "tri-1.0-cp312-cp312-macosx_10_9_x86_64.whl": PYPI,
            "tri-2.0-cp312-cp312-macosx_11_0_universal2.whl": PYPI,
            "tri-2.0-py3-none-any.whl": PYPI,
        })
        rules = self.rules("arm", "tri")
        uni = "tri-1.0-cp312-cp312-macosx_11_0_universal2.whl"
        self.assertEqual(rules[(CPU, uni)],
                         (True, "source 1 marker platform_machine == 'arm64' is unknown"))
        self.assertEqual(rules[(PYPI, uni)], (False, "duplicate of the file from 'pytorch-cpu'"))
        self.assertEqual(rules[(CPU, "tri-1.0-cp312-cp312-win_amd64.whl")],
                         (False, "source 1 marker platform_machine == 'arm64' is false"))
        self.assertEqual(rules[(CPU, "tri-1.0-cp312-cp312-manylinux_2_17_aarch64.whl")],
                         (False, "source 1 marker platform_machine == 'arm64' is false"))
        self.assertFalse(rules[(PYPI, "tri-2.0-cp312-cp312-macosx_11_0_arm64.whl")][0])
        # SPEC 5.5: the same filename with a different hash is logged
        self.assertIn("differs between 'pytorch-cpu' and 'pypi'", self.imx.log())

    def test_python_version_and_kleene_and(self):
        self.assertEqual(self.page("pyv", "pyv"), {
            "pyv-1.0-cp312-cp312-macosx_11_0_arm64.whl": CPU,                 # true
            "pyv-1.0-cp311.cp312-cp311.cp312-macosx_11_0_arm64.whl": CPU,     # unknown
            "pyv-1.0-cp38-abi3-macosx_11_0_arm64.whl": CPU,                   # unknown
            "pyv-1.0-py3-none-any.whl": CPU,                                  # unknown
            "pyv-1.0-cp311-cp311-macosx_11_0_arm64.whl": PYPI,                # false: PyPI's
            "pyv-1.0-cp312-cp312-manylinux_2_17_x86_64.whl": PYPI,            # false: PyPI's
        })
        rules = self.rules("pyv", "pyv")
        m = "python_version >= '3.12' and platform_system == 'Darwin'"
        for fn, val in (("pyv-1.0-cp312-cp312-macosx_11_0_arm64.whl", "true"),
                        ("pyv-1.0-cp311-cp311-macosx_11_0_arm64.whl", "false"),
                        ("pyv-1.0-cp311.cp312-cp311.cp312-macosx_11_0_arm64.whl", "unknown"),
                        ("pyv-1.0-cp38-abi3-macosx_11_0_arm64.whl", "unknown"),
                        ("pyv-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "false"),
                        ("pyv-1.0-py3-none-any.whl", "unknown")):
            with self.subTest(filename=fn):
                self.assertEqual(rules[(CPU, fn)],
                                 (val != "false", "source 1 marker %s is %s" % (m, val)))

    def test_earlier_true_source_wins(self):
        self.assertEqual(self.page("ord", "ord"), {
            "ord-1.0-py3-none-macosx_11_0_arm64.whl": CPU,
            "ord-1.0-py3-none-manylinux_2_17_x86_64.whl": CU,
            "ord-1.0-py3-none-any.whl": CU,
            "ord-1.0-py3-none-win_amd64.whl": PYPI,
        })
        rules = self.rules("ord", "ord")
        self.assertEqual(rules[(CU, "ord-1.0-py3-none-macosx_11_0_arm64.whl")],
                         (False, "source 1 ('pytorch-cpu', sys_platform == 'darwin') is true "
                                 "for it first"))
        self.assertEqual(rules[(CU, "ord-1.0-py3-none-any.whl")],
                         (True, "source 2 marker os_name == 'posix' is unknown"))
        self.assertEqual(rules[(PYPI, "ord-1.0-py3-none-any.whl")],
                         (False, "duplicate of the file from 'pytorch-cu124'"))

    def test_source_without_marker_takes_everything(self):
        origins = self.page("nomarker", "tri")
        self.assertEqual(set(origins.values()), {CPU})
        self.assertEqual(len(origins), 7)
        rules = self.rules("nomarker", "tri")
        self.assertEqual(rules[(CPU, "tri-1.0-cp312-cp312-win_amd64.whl")],
                         (True, "source 1 marker (no marker) is true"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
