#!/usr/bin/env python3
"""Virtual indexes with a private index first (SPEC.md 5.4, protocol-notes
4.5): `corp` = indexes ["internal", "pypi"] under first-index resolves the
private acme-internal 1.2.0 although PyPI has a squatted 99.0.0, and its
dependency (jinja2, only on PyPI) from PyPI; `corp-best` (unsafe-best-match)
unites both pages, so the higher PyPI version is visible (and wins with pip).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import explain  # noqa: E402
from virtual_fixture import LINUX, json_page, page_origins, pip_download, UniverseCase  # noqa: E402

PRIVATE = "acme_internal-1.2.0-py3-none-any.whl"
SQUAT = "acme_internal-99.0.0-py3-none-any.whl"
JINJA = "jinja2-3.1.4-py3-none-any.whl"


class VirtualCorp(UniverseCase):
    serve_kwargs = {}

    def test_first_index_private_version_and_deps_from_pypi(self):
        p, got = pip_download(self.imx, "corp", LINUX, "acme-internal", deps=True)
        self.assertEqual(p.returncode, 0, explain(p) + "\n--- server\n" + self.imx.log()[-4000:])
        self.assertEqual(sorted(got), [PRIVATE, JINJA])
        self.assertEqual(self.u.origin_of(PRIVATE, got[PRIVATE]), "internal")
        self.assertEqual(self.u.origin_of(JINJA, got[JINJA]), "pypi")
        # first-index: PyPI was never asked about acme-internal (its page may
        # be cached already by another test); the private wheel came from the
        # internal index, and the internal index was asked about jinja2 (404)
        # before PyPI answered it
        pypi_paths = [r["decoded_path"] for r in self.u.pypi.requests()]
        self.assertFalse([x for x in pypi_paths if "acme" in x], pypi_paths)
        self.assertIn("/simple/jinja2/", pypi_paths)
        internal_paths = [r["decoded_path"] for r in self.u.internal.requests()]
        self.assertTrue([x for x in internal_paths if x.endswith("/" + PRIVATE)], internal_paths)
        self.assertIn("/api/pypi/simple/jinja2/", internal_paths)

    def test_first_index_page_has_only_the_private_version(self):
        st, doc, body = json_page(self.imx, "corp", "acme-internal")
        self.assertEqual(st, 200, body)
        self.assertEqual(page_origins(self.u, doc), {PRIVATE: "internal"})
        self.assertEqual(doc["versions"], ["1.2.0"])

    def test_first_index_squatted_version_not_installable(self):
        p, got = pip_download(self.imx, "corp", LINUX, "acme-internal==99.0.0")
        self.assertNotEqual(p.returncode, 0, explain(p))
        self.assertEqual(got, {})

    def test_unsafe_best_match_shows_the_higher_version(self):
        st, doc, body = json_page(self.imx, "corp-best", "acme-internal")
        self.assertEqual(st, 200, body)
        self.assertEqual(page_origins(self.u, doc), {PRIVATE: "internal", SQUAT: "pypi"})
        self.assertEqual(sorted(doc["versions"]), ["1.2.0", "99.0.0"])
        # and pip, as everywhere with a union of indexes, takes the higher one
        p, got = pip_download(self.imx, "corp-best", LINUX, "acme-internal")
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertEqual(list(got), [SQUAT])
        self.assertEqual(self.u.origin_of(SQUAT, got[SQUAT]), "pypi")


if __name__ == "__main__":
    unittest.main(verbosity=2)
