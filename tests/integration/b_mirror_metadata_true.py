#!/usr/bin/env python3
"""PEP 658 metadata advertised without a hash (`data-core-metadata="true"`).

indexmux keeps only metadata it can verify, so it cannot fetch such a
.metadata through; pip fails hard when a promised .metadata is a 404. The
page must therefore not advertise it until indexmux has the wheel and its
own METADATA (then with a sha256), and pip must install from the page.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FakeIndex, Indexmux, pip, toml_str, wheels  # noqa: E402

JSON_V1 = "application/vnd.pypi.simple.v1+json"


class MetadataTrue(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imx-metadata-true-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.wheel = wheels.make_wheel(self.tmp, "plain-pkg", "1.0")
        name = os.path.basename(self.wheel)
        with open(self.wheel, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        # The file is served by the fake (a pypi project) and linked from a
        # hand-written page that says data-core-metadata="true".
        spec = {"mode": "pypi", "projects": {"plain-src": {"files": [{"path": self.wheel,
                                                                       "metadata": False}]}}}
        self.fake = FakeIndex(spec).start()
        self.addCleanup(self.fake.stop)
        src = json.loads(self._get_json(self.fake.url("/simple/plain-src/")))
        href = src["files"][0]["url"]
        spec["raw"] = {"/simple/plain-pkg/": {
            "body": '<!DOCTYPE html><html><body><a href="%s#sha256=%s" '
                    'data-core-metadata="true" data-dist-info-metadata="true">%s</a>'
                    '</body></html>' % (href, sha, name),
            "content_type": "text/html"}}
        self.fake.set_spec(spec)
        self.name = name

    def _get_json(self, url):
        import urllib.request
        req = urllib.request.Request(url, headers={"Accept": JSON_V1})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def test_unverifiable_metadata_is_not_advertised(self):
        cfg = '[[index]]\nname = "up"\nurl = %s\n' % toml_str(self.fake.url("/simple/"))
        with Indexmux(cfg) as imx:
            st, _, body = imx.get("/up/simple/plain-pkg/", {"Accept": JSON_V1})
            self.assertEqual(st, 200, body)
            entry = json.loads(body)["files"][0]
            self.assertNotIn("core-metadata", entry)
            st, _, html = imx.get("/up/simple/plain-pkg/", {"Accept": "text/html"})
            self.assertNotIn(b"data-core-metadata", html)
            self.assertNotIn(b"data-dist-info-metadata", html)
            # pip installs from the page (it would fail on a promised 404)
            out = os.path.join(self.tmp, "dl")
            p = pip("download", "--no-deps", "-d", out, "plain-pkg",
                    index_url=imx.url("/up/simple/"))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(os.listdir(out), [self.name])
            # once the wheel is stored, indexmux advertises its own METADATA
            st, _, body = imx.get("/up/simple/plain-pkg/", {"Accept": JSON_V1})
            entry = json.loads(body)["files"][0]
            want = hashlib.sha256(wheels.metadata_of(self.wheel)).hexdigest()
            self.assertEqual(entry.get("core-metadata"), {"sha256": want})
            path = "/up/simple/plain-pkg/" + entry["url"]
            path = os.path.normpath(path)
            st, _, meta = imx.get(path + ".metadata")
            self.assertEqual((st, hashlib.sha256(meta).hexdigest()), (200, want))


if __name__ == "__main__":
    unittest.main(verbosity=2)
