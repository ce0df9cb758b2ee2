#!/usr/bin/env python3
"""`indexmux explain cu124 torch` for the Universe of virtual_fixture.py,
checked line by line, and the same decisions as JSON at /cu124/explain/torch/.

How to run explain (found here, asserted below):
  - `/<view>/explain/<project>/` works while the server runs;
  - `indexmux explain --config C --data-dir D VIEW PROJECT` opens the store
    read-write, and the store allows one read-write opener at a time: while
    `serve` holds D it exits 1 ("in use by another read-write process").
    Run it after the server stopped (or on a copy of the data directory):
    with the pages still fresh (ttl 600) it answers from the cache and
    makes no upstream request at all.
"""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux, run_imx  # noqa: E402
from virtual_fixture import json_page, UniverseCase  # noqa: E402

PIN_TRUE = "source 1 marker platform_system != 'Darwin' is true"
PIN_FALSE = "source 1 marker platform_system != 'Darwin' is false"
PINNED = "pinned to source 1 ('pytorch-cu124', platform_system != 'Darwin'), which is true for it"
FALLBACK = "fallback: no source marker is true for it"

# (keep, index, filename, rule) in the order explain prints them: sources
# first, then the view's indexes, each in the upstream page's order.
CU124_TORCH = [
    (True, "pytorch-cu124",
     "torch-2.5.1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", PIN_TRUE),
    (False, "pytorch-cu124", "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl", PIN_FALSE),
    (True, "pytorch-cu124",
     "torch-2.5.1+cu124-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", PIN_TRUE),
    (True, "pytorch-cu124", "torch-2.5.1+cu124-cp312-cp312-win_amd64.whl", PIN_TRUE),
    (False, "pypi",
     "torch-2.5.1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", PINNED),
    (False, "pypi",
     "torch-2.5.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", PINNED),
    (False, "pypi", "torch-2.5.1-cp312-cp312-win_amd64.whl", PINNED),
    (True, "pypi", "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl", FALLBACK),
    (False, "pypi",
     "torch-9.9.9-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", PINNED),
    (False, "pypi", "torch-9.9.9-cp312-cp312-win_amd64.whl", PINNED),
]


def expected_text(view, project, listed, decisions):
    lines = ["%s %s: %d file(s) listed" % (view, project, listed)]
    for keep, index, fn, rule in decisions:
        lines.append("%-4s %-16s %s  -- %s" % ("keep" if keep else "drop", index, fn, rule))
    return lines


class VirtualExplain(UniverseCase):
    pass

    def explain_cli(self, imx, *args):
        return run_imx("explain", "--config", imx.config_path, "--data-dir", imx.data_dir,
                       *args, timeout=60)

    def test_explain_cu124_torch(self):
        imx = Indexmux(self.u.config())
        try:
            imx.start()
            st, doc, body = json_page(imx, "cu124", "torch")   # fills the cache
            self.assertEqual(st, 200, body)

            # JSON, while the server runs
            st, h, body = imx.get("/cu124/explain/torch/")
            self.assertEqual(st, 200, body)
            self.assertEqual(h.get("Content-Type"), "application/json")
            ex = json.loads(body)
            self.assertEqual((ex["view"], ex["project"], ex["found"], ex["listed"]),
                             ("cu124", "torch", True, 4))
            self.assertEqual([(d["kept"], d["index"], d["filename"], d["rule"])
                              for d in ex["decisions"]], CU124_TORCH)
            # what is kept is exactly what the page lists
            self.assertEqual(sorted(d["filename"] for d in ex["decisions"] if d["kept"]),
                             sorted(f["filename"] for f in doc["files"]))

            # the CLI while serve holds the store: refused (one read-write opener)
            r = self.explain_cli(imx, "cu124", "torch")
            if r.returncode != 0:
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("in use", r.stderr)
                self.assertEqual(r.stdout, "")
            else:   # a later read-only explain would be fine too
                self.assertEqual(r.stdout.splitlines(), expected_text("cu124", "torch", 4,
                                                                      CU124_TORCH))
            self.assertEqual(imx.stop(), 0, imx.log())

            # the CLI after the server stopped: line by line, from the cache
            self.u.reset()
            r = self.explain_cli(imx, "cu124", "torch")
            self.assertEqual(r.returncode, 0, r.stderr)
            got = r.stdout.splitlines()
            want = expected_text("cu124", "torch", 4, CU124_TORCH)
            for i, (g, w) in enumerate(zip(got, want)):
                self.assertEqual(g, w, "line %d" % (i + 1))
            self.assertEqual(len(got), len(want), r.stdout)
            self.assertEqual([x["decoded_path"] for f in self.u.fakes for x in f.requests()], [])

            # first-index shadowing, and a project no index has
            r = self.explain_cli(imx, "corp", "acme-internal")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.splitlines(), [
                "corp acme-internal: 1 file(s) listed",
                "keep internal         acme_internal-1.2.0-py3-none-any.whl"
                "  -- from the view's indexes",
                "drop pypi             *  -- not consulted: first-index stopped at 'internal'",
            ])
            r = self.explain_cli(imx, "nosuchview", "torch")
            self.assertEqual(r.returncode, 1)
            self.assertIn("nosuchview", r.stderr)
        finally:
            imx.cleanup()

    def test_explain_json_project_nobody_has(self):
        with Indexmux(self.u.config()) as imx:
            st, h, body = imx.get("/cu124/explain/no-such-project/")
            self.assertEqual(st, 200, body)
            ex = json.loads(body)
            self.assertEqual((ex["found"], ex["listed"], ex["decisions"]), (False, 0, []))
            st, h, body = imx.get("/nosuchview/explain/torch/")
            self.assertEqual(st, 404, body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
