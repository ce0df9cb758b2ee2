#!/usr/bin/env python3
"""Virtual pages as objects (issue 4, deliverable 4): the view's project list
is the union of its indexes' lists plus its pinned names (never the explicit
index's list); a rendered page is cached while its inputs are fresh (no
upstream request) and rebuilt when an input page changes.
"""

import copy
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux  # noqa: E402
from virtual_fixture import JSON_ACCEPT, LINUX_TAG, json_page, UniverseCase  # noqa: E402


class VirtualPages(UniverseCase):
    pass

    def project_list(self, imx, view):
        st, h, body = imx.get("/%s/simple/" % view, JSON_ACCEPT)
        self.assertEqual(st, 200, body)
        return sorted(p["name"] for p in json.loads(body)["projects"])

    def test_project_lists(self):
        with Indexmux(self.u.config()) as imx:
            self.assertEqual(self.project_list(imx, "cu124"),
                             ["acme-internal", "jinja2", "numpy", "torch"])
            self.assertEqual(self.project_list(imx, "corp"),
                             ["acme-internal", "jinja2", "numpy", "torch"])
            # the explicit PyTorch index's root listing was never fetched
            self.assertEqual(self.u.torch.count(), 0, self.u.torch.requests())

    def test_rendered_page_cached_then_rebuilt_on_change(self):
        with Indexmux(self.u.config(ttl=1)) as imx:
            st, doc, _ = json_page(imx, "cu124", "torch")
            self.assertEqual(st, 200)
            before = {f["filename"] for f in doc["files"]}
            _, h1, _ = imx.get("/cu124/simple/torch/", JSON_ACCEPT)
            # a new +cu124 build appears upstream
            new = self.u.wheel("pytorch-cu124", "torch", "2.6.0+cu124",
                               "cp312-cp312-" + LINUX_TAG)
            spec = copy.deepcopy(self.u.torch.spec)
            spec["variants"]["cu124"]["torch"]["files"].append({"path": new})
            self.u.torch.set_spec(spec)
            time.sleep(2.2)     # well past the inputs' ttl of 1 s (second granularity)
            st, doc, _ = json_page(imx, "cu124", "torch")
            self.assertEqual(st, 200)
            after = {f["filename"] for f in doc["files"]}
            self.assertEqual(after - before, {os.path.basename(new)})
            _, h2, _ = imx.get("/cu124/simple/torch/", JSON_ACCEPT)
            self.assertNotEqual(h1.get("ETag"), h2.get("ETag"))

    def test_rendered_page_served_without_upstream_while_fresh(self):
        with Indexmux(self.u.config()) as imx:
            st, doc, _ = json_page(imx, "mixed", "torch")
            self.assertEqual(st, 200)
            self.u.reset()
            for _ in range(3):
                st, doc2, _ = json_page(imx, "mixed", "torch")
                self.assertEqual((st, doc2), (200, doc))
            self.assertEqual([r["decoded_path"] for f in self.u.fakes for r in f.requests()],
                             [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
