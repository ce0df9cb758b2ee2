#!/usr/bin/env python3
"""Fail closed (SPEC.md 5.6 and section 4 "Errors"): when the index a torch
pin points at cannot be read and nothing is cached, /cu124/simple/torch/ is
a 502 naming that index, never PyPI's torch (which would hand Linux users the
squatted 9.9.9). Projects that do not need the pinned index are unaffected.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux, explain, free_port  # noqa: E402
from virtual_fixture import (JSON_ACCEPT, LINUX, PIP_ACCEPT,  # noqa: E402
                             UniverseCase, json_page, pip_download)


class VirtualFailClosed(UniverseCase):
    pass

    def assert502(self, imx, view, index):
        for accept in (JSON_ACCEPT, {"Accept": PIP_ACCEPT}, {"Accept": "text/html"}):
            st, h, body = imx.get("/%s/simple/torch/" % view, accept)
            self.assertEqual(st, 502, (body, imx.log()[-3000:]))
            text = body.decode("utf-8", "replace")
            self.assertIn(index, text)
            self.assertNotIn(".whl", text)             # no file of any upstream
            self.assertEqual(text.strip().count("\n"), 0, text)  # one line

    def test_pinned_index_unreachable_is_502(self):
        dead = "http://127.0.0.1:%d/whl/cu124/" % free_port()
        with Indexmux(self.u.config(cu124_url=dead)) as imx:
            self.assert502(imx, "cu124", "pytorch-cu124")
            self.assert502(imx, "mixed", "pytorch-cu124")
            # pip sees an error, and no wheel at all (not PyPI's)
            p, got = pip_download(imx, "cu124", LINUX, "torch")
            self.assertNotEqual(p.returncode, 0, explain(p))
            self.assertEqual(got, {})
            # numpy never needs the pinned index: still served, from PyPI
            st, doc, body = json_page(imx, "cu124", "numpy")
            self.assertEqual(st, 200, body)
            # PyPI's torch files were not downloaded on the way
            self.assertFalse([r for r in self.u.pypi.requests()
                              if r["port"] == "files" and "torch" in r["decoded_path"]])

    def test_pinned_index_server_error_is_502(self):
        # The pinned index answers 503 for the torch page (nothing cached yet).
        self.u.torch.fault("/whl/cu124/torch/", "status", code=503, body="down\n")
        with Indexmux(self.u.config()) as imx:
            self.assert502(imx, "cu124", "pytorch-cu124")
            # the PyPI-only route for the same project still works
            st, doc, body = json_page(imx, "default", "torch")
            self.assertEqual(st, 200, body)

    def test_private_index_unreachable_is_502_not_pypi(self):
        # first-index with the private index first: if it cannot be asked,
        # PyPI's squatted acme-internal must not be served instead.
        dead = "http://127.0.0.1:%d/api/pypi/simple/" % free_port()
        with Indexmux(self.u.config(internal_url=dead)) as imx:
            st, h, body = imx.get("/corp/simple/acme-internal/", JSON_ACCEPT)
            self.assertEqual(st, 502, body)
            self.assertIn(b"'internal'", body)
            self.assertNotIn(b"99.0.0", body)
            p, got = pip_download(imx, "corp", LINUX, "acme-internal")
            self.assertNotEqual(p.returncode, 0, explain(p))
            self.assertEqual(got, {})
            # unsafe-best-match needs every index too
            st, h, body = imx.get("/corp-best/simple/acme-internal/", JSON_ACCEPT)
            self.assertEqual(st, 502, body)

    def test_pinned_index_lacking_project_contributes_nothing(self):
        # SPEC 5.6: a 403 (PyTorch's "not here") from the pinned index is not
        # an error; Linux/Windows then find no torch, macOS still gets PyPI's.
        self.u.torch.fault("/whl/cu124/torch/", "status", code=403, body="AccessDenied\n")
        with Indexmux(self.u.config()) as imx:
            st, doc, body = json_page(imx, "cu124", "torch")
            self.assertEqual(st, 200, body)
            names = sorted(f["filename"] for f in doc["files"])
            self.assertEqual(names, ["torch-2.5.1-cp312-none-macosx_11_0_arm64.whl"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
