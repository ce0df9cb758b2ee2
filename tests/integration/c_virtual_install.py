#!/usr/bin/env python3
"""A real `pip install torch==2.5.1` into a fresh venv on THIS machine
(/usr/bin/python3, CPython 3.11 on linux-x86_64) through the `cu124` view
installs the +cu124 build from the PyTorch-like index, its dependency jinja2
from PyPI (not PyTorch's stale copy), and an unpinned upgrade never reaches
PyPI's squatted 9.9.9.

The wheels are tagged cp311-cp311-manylinux_2_17_x86_64 (virtual_fixture's
Universe with pytag="cp311"), which this interpreter accepts on glibc >= 2.17.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux, explain, pip, run_python, venv  # noqa: E402
from virtual_fixture import UniverseCase  # noqa: E402


class VirtualInstall(UniverseCase):
    universe_kwargs = {"pytag": "cp311"}

    def test_pip_install_torch_gets_cu124_build(self):
        with Indexmux(self.u.config()) as imx:
            py = venv(os.path.join(imx.tmp, "venv"))
            p = pip("install", "torch==2.5.1", python=py, index_url=imx.index_url("cu124"))
            self.assertEqual(p.returncode, 0, explain(p) + "\n--- server\n" + imx.log()[-4000:])
            r = run_python(py, "import torch; print(torch.__version__)")
            self.assertEqual(r.returncode, 0, explain(r))
            self.assertEqual(r.stdout.strip(), "2.5.1+cu124", explain(r))
            r = run_python(py, "import torch._origin as o, jinja2, jinja2._origin as j; "
                               "print(o.ORIGIN, jinja2.__version__, j.ORIGIN)")
            self.assertEqual(r.stdout.split(), ["pytorch-cu124", "3.1.4", "pypi"], explain(r))
            # an unpinned upgrade stays on the +cu124 build: 9.9.9 is not listed
            p = pip("install", "--upgrade", "torch", python=py, index_url=imx.index_url("cu124"))
            self.assertEqual(p.returncode, 0, explain(p))
            r = run_python(py, "import torch; print(torch.__version__)")
            self.assertEqual(r.stdout.strip(), "2.5.1+cu124", explain(r))
            # no PyPI torch file was ever fetched, and PyTorch's files port
            # (pages port in pytorch mode) served the +cu124 wheel
            self.assertFalse([r for r in self.u.pypi.requests()
                              if r["port"] == "files" and "torch-" in r["decoded_path"]])
            self.assertTrue([r for r in self.u.torch.requests()
                             if "torch-2.5.1+cu124-cp311" in r["decoded_path"]])


if __name__ == "__main__":
    unittest.main(verbosity=2)
