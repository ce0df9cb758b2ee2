#!/usr/bin/env python3
"""Rendered pages kept in LMDB (issue 5, deliverable 1): a page rendered
before a restart is answered after it with the same bytes and ETag, with no
upstream request and nothing merged or rendered (/metrics
indexmux_rendered_pages_total{outcome="loaded"}), both encodings included;
and never when something it was made from changed meanwhile:

  - an input page that expired and revalidates unchanged (304) keeps the
    stored bytes (outcome "reused"); one that changed upstream is rendered
    again;
  - a configuration change (a pin's marker, offline mode) is not served the
    old rendering, while pages the change does not touch still are;
  - a file stored before the restart that adds PEP 658 metadata to the page
    (the files generation, persisted by storage) makes it rendered again;
  - ... but only its own project's page: storing a file of torch leaves
    numpy's rendering valid, in memory (answered on the event thread, not
    rendered again) and in LMDB (loaded after a restart);
  - a herd of concurrent requests renders and writes a page once, and after
    a restart loads it once.

Views of tests/integration/virtual_fixture.py: cu124 merges the PyTorch-like
fake (torch pinned to pytorch-cu124 off macOS) and the PyPI-like fake.
"""

import copy
import gzip
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux, wait_for  # noqa: E402
from ops_common import scrape, value  # noqa: E402
from virtual_fixture import JSON_ACCEPT, LINUX_TAG, UniverseCase, upstream_paths  # noqa: E402

TORCH = "/cu124/simple/torch/"
NUMPY = "/cu124/simple/numpy/"
LIST = "/cu124/simple/"
OUTCOMES = ("loaded", "reused", "rendered", "written", "unwritten")
GZ = {"Accept-Encoding": "gzip"}


def rendered(imx):
    """{outcome: count} of indexmux_rendered_pages_total."""
    fams, _ = scrape(imx)
    return {o: int(value(fams, "indexmux_rendered_pages_total", outcome=o)) for o in OUTCOMES}


def written(imx, n):
    """Wait until n renderings were written (a writer thread stores them after
    the response) and return the counters."""
    wait_for(lambda: rendered(imx)["written"] >= n, timeout=20, what="%d renderings stored" % n)
    return rendered(imx)


def get(imx, path, *extra):
    headers = {}
    for h in extra:
        headers.update(h)
    st, h, body = imx.get(path, headers)
    if st != 200:
        raise AssertionError("%s: %d %r" % (path, st, body[:300]))
    return h, body


class StoredRenderings(UniverseCase):

    def data_dir(self):
        return tempfile.mkdtemp(dir=self.tmp, prefix="data-")

    def upstream_requests(self):
        return [p for f in self.u.fakes for p in upstream_paths(f)]

    def snapshot(self, imx):
        """ETag and bytes of the pages a client of cu124 reads."""
        out = {}
        for name, path, hdrs in (("torch-json", TORCH, [JSON_ACCEPT]),
                                 ("torch-html", TORCH, []),
                                 ("torch-json-gz", TORCH, [JSON_ACCEPT, GZ]),
                                 ("numpy-json", NUMPY, [JSON_ACCEPT]),
                                 ("list-json", LIST, [JSON_ACCEPT])):
            h, body = get(imx, path, *hdrs)
            if name.endswith("-gz"):
                self.assertEqual(h.get("Content-Encoding"), "gzip", name)
                body = gzip.decompress(body)
            out[name] = (h.get("ETag"), body)
        return out

    def test_a_restart_serves_the_stored_rendering(self):
        d = self.data_dir()
        cfg = self.u.config()
        with Indexmux(cfg, data_dir=d) as imx:
            before = self.snapshot(imx)
            m = written(imx, 4)
            self.assertEqual(m["rendered"], 4, m)        # torch json+html, numpy, list
            self.assertEqual(m["written"], 4, m)
            self.assertEqual(m["loaded"] + m["reused"] + m["unwritten"], 0, m)
        self.u.reset()
        with Indexmux(cfg, data_dir=d) as imx:
            after = self.snapshot(imx)
            for name in before:
                self.assertEqual(after[name], before[name], name)
            self.assertEqual(self.upstream_requests(), [])
            m = rendered(imx)
            self.assertEqual(m["loaded"], 4, m)
            self.assertEqual(m["rendered"] + m["reused"] + m["written"], 0, m)
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_index_page_cache_total"), 0,
                             "no upstream page was even read")
            # a client holding the old ETag gets a 304, no body
            st, h, body = imx.get(TORCH, dict(JSON_ACCEPT, **{"If-None-Match":
                                                              before["torch-json"][0]}))
            self.assertEqual((st, body), (304, b""))
            self.assertEqual(h.get("ETag"), before["torch-json"][0])

    def test_b_expired_inputs_reuse_unchanged_bytes_and_changed_ones_render(self):
        d = self.data_dir()
        cfg = self.u.config(ttl=1)
        with Indexmux(cfg, data_dir=d) as imx:
            h0, body0 = get(imx, TORCH, JSON_ACCEPT)
        time.sleep(2.2)  # past the inputs' ttl of 1 s (second granularity)
        self.u.reset()
        with Indexmux(cfg, data_dir=d) as imx:
            h1, body1 = get(imx, TORCH, JSON_ACCEPT)
            self.assertEqual((h1.get("ETag"), body1), (h0.get("ETag"), body0))
            reqs = self.u.torch.requests() + self.u.pypi.requests()
            self.assertTrue(reqs, "expired inputs were not revalidated")
            self.assertTrue(all(r["headers"].get("If-None-Match") for r in reqs), reqs)
            m = rendered(imx)
            self.assertEqual((m["reused"], m["loaded"], m["rendered"]), (1, 0, 0), m)

        # a new +cu124 build appears upstream while indexmux is down
        new = self.u.wheel("pytorch-cu124", "torch", "2.6.0+cu124", "cp312-cp312-" + LINUX_TAG)
        spec = copy.deepcopy(self.u.torch.spec)
        spec["variants"]["cu124"]["torch"]["files"].append({"path": new})
        self.u.torch.set_spec(spec)
        time.sleep(2.2)
        with Indexmux(cfg, data_dir=d) as imx:
            h2, body2 = get(imx, TORCH, JSON_ACCEPT)
            files = [f["filename"] for f in json.loads(body2)["files"]]
            self.assertIn(os.path.basename(new), files)
            self.assertNotEqual(h2.get("ETag"), h0.get("ETag"))
            m = rendered(imx)
            self.assertEqual((m["rendered"], m["loaded"], m["reused"]), (1, 0, 0), m)
            self.assertEqual(written(imx, 1)["written"], 1)
        # ... and that rendering is the one the next restart serves
        self.u.reset()
        with Indexmux(self.u.config(), data_dir=d) as imx:
            pass
        with Indexmux(cfg, data_dir=d) as imx:
            h3, body3 = get(imx, TORCH, JSON_ACCEPT)
            self.assertEqual((h3.get("ETag"), body3), (h2.get("ETag"), body2))

    def test_c_a_changed_configuration_is_not_served_an_old_rendering(self):
        d = self.data_dir()
        cfg = self.u.config()
        # torch pinned to pytorch-cu124 on Linux only: Windows wheels come from PyPI
        cfg_linux = cfg.replace("marker = \"platform_system != 'Darwin'\" }]",
                                "marker = \"platform_system == 'Linux'\" }]", 1)
        self.assertNotEqual(cfg, cfg_linux)
        with Indexmux(cfg, data_dir=d) as imx:
            old = self.snapshot(imx)
        with Indexmux(cfg_linux, data_dir=self.data_dir()) as imx:
            fresh = self.snapshot(imx)        # what the new configuration renders
        self.assertNotEqual(fresh["torch-json"][1], old["torch-json"][1])
        self.u.reset()
        with Indexmux(cfg_linux, data_dir=d) as imx:
            new = self.snapshot(imx)
            self.assertEqual(new["torch-json"][1], fresh["torch-json"][1])
            self.assertEqual(new["torch-html"][1], fresh["torch-html"][1])
            self.assertNotEqual(new["torch-json"][0], old["torch-json"][0])
            # numpy's pin did not change: its stored rendering still holds
            self.assertEqual(new["numpy-json"], old["numpy-json"])
            self.assertEqual(new["list-json"], old["list-json"])
            m = rendered(imx)
            self.assertEqual((m["rendered"], m["loaded"]), (2, 2), m)
            self.assertEqual(self.upstream_requests(), [], "inputs were fresh in LMDB")

        # offline, a page lists only files whose bytes are stored (none here)
        with Indexmux(cfg, data_dir=d, extra_args=["--offline"]) as imx:
            h, body = get(imx, TORCH, JSON_ACCEPT)
            self.assertEqual(json.loads(body)["files"], [])
            self.assertNotEqual(h.get("ETag"), old["torch-json"][0])
            self.assertEqual(rendered(imx)["loaded"], 0)
            # Offline nothing can change a page record: the rendering stays
            # fresh in memory (no re-check, nothing reused or rendered again).

        # Offline nothing can change a page record: a rendering stays fresh in
        # memory however old its inputs (ttl 1 s here), whether it was
        # rendered (default view: never stored) or loaded from LMDB (TORCH),
        # so later requests neither merge (indexmux_index_page_cache_total
        # counts every input a merge asks for) nor load again: they are
        # answered on the event threads, no worker involved.
        other = "/default/simple/torch/"
        with Indexmux(self.u.config(ttl=1), data_dir=d, extra_args=["--offline"]) as imx:
            h, body = get(imx, TORCH, JSON_ACCEPT)
            ho, bo = get(imx, other, JSON_ACCEPT)
            merged = value(scrape(imx)[0], "indexmux_index_page_cache_total")
            loaded = rendered(imx)["loaded"]
            workers = value(scrape(imx)[0], "indexmux_worker_requests_total")
            self.assertGreater(merged, 0)
            self.assertEqual(loaded, 1)
            time.sleep(2)
            for _ in range(3):
                h2, body2 = get(imx, TORCH, JSON_ACCEPT)
                self.assertEqual((h2.get("ETag"), body2), (h.get("ETag"), body))
                h2, body2 = get(imx, other, JSON_ACCEPT)
                self.assertEqual((h2.get("ETag"), body2), (ho.get("ETag"), bo))
            self.assertEqual(value(scrape(imx)[0], "indexmux_index_page_cache_total"), merged)
            self.assertEqual(rendered(imx)["loaded"], loaded)
            # only the scrapes themselves (/metrics) ran on workers: 3 since
            # the one that read `workers` (a request is counted before it runs)
            self.assertEqual(value(scrape(imx)[0], "indexmux_worker_requests_total"),
                             workers + 3)

    def test_d_a_file_stored_before_the_restart_changes_the_page_after_it(self):
        d = self.data_dir()
        cfg = self.u.config()
        with Indexmux(cfg, data_dir=d) as imx:
            _, body = get(imx, TORCH, JSON_ACCEPT)
            doc = json.loads(body)
            wheel = next(f for f in doc["files"] if f["filename"].endswith(
                "cu124-cp312-cp312-" + LINUX_TAG + ".whl"))
            self.assertFalse(wheel.get("core-metadata"), "the PyTorch fake advertises none")
            st, _, _ = imx.get(urllib.parse.urljoin(TORCH, wheel["url"]))
            self.assertEqual(st, 200)
            # stopping waits for the download thread, which reads METADATA out of the wheel
        self.u.reset()
        with Indexmux(cfg, data_dir=d) as imx:
            _, body = get(imx, TORCH, JSON_ACCEPT)
            after = {f["filename"]: f for f in json.loads(body)["files"]}
            self.assertTrue(after[wheel["filename"]].get("core-metadata"), after[wheel["filename"]])
            m = rendered(imx)
            self.assertEqual((m["loaded"], m["rendered"]), (0, 1), m)
            self.assertEqual(self.upstream_requests(), [])

    def test_e_a_herd_renders_and_writes_once(self):
        d = self.data_dir()
        cfg = self.u.config()

        def herd(imx, n=24):
            out, errs = [], []

            def one():
                try:
                    out.append(get(imx, TORCH, JSON_ACCEPT))
                except Exception as e:  # noqa: BLE001 - reported below
                    errs.append(e)
            ths = [threading.Thread(target=one) for _ in range(n)]
            for t in ths:
                t.start()
            for t in ths:
                t.join(60)
            self.assertEqual(errs, [])
            self.assertEqual(len({(h.get("ETag"), b) for h, b in out}), 1)
            return out[0]

        with Indexmux(cfg, data_dir=d) as imx:
            first = herd(imx)
            m = written(imx, 1)
            self.assertEqual((m["rendered"], m["written"]), (1, 1), m)
        with Indexmux(cfg, data_dir=d) as imx:
            again = herd(imx)
            self.assertEqual((again[0].get("ETag"), again[1]), (first[0].get("ETag"), first[1]))
            m = rendered(imx)
            self.assertEqual((m["loaded"], m["rendered"], m["written"]), (1, 0, 0), m)

    def test_f_a_file_stored_for_one_project_leaves_other_projects_renderings(self):
        d = self.data_dir()
        cfg = self.u.config()
        with Indexmux(cfg, data_dir=d) as imx:
            _, tbody = get(imx, TORCH, JSON_ACCEPT)
            h_np, b_np = get(imx, NUMPY, JSON_ACCEPT)
            m0 = written(imx, 2)
            self.assertEqual(m0["rendered"], 2, m0)
            wheel = next(f for f in json.loads(tbody)["files"] if f["filename"].endswith(
                "cu124-cp312-cp312-" + LINUX_TAG + ".whl"))
            self.assertFalse(wheel.get("core-metadata"), "the PyTorch fake advertises none")
            url = urllib.parse.urljoin(TORCH, wheel["url"])
            st, _, _ = imx.get(url)
            self.assertEqual(st, 200)

            # The download thread records the file, then reads METADATA out of
            # it: torch's files generation moves, and its page shows it.
            def torch_metadata():
                _, body = get(imx, TORCH, JSON_ACCEPT)
                f = {x["filename"]: x for x in json.loads(body)["files"]}[wheel["filename"]]
                return f.get("core-metadata")
            md = wait_for(torch_metadata, timeout=30, what="torch's page showing the metadata")
            self.assertRegex(md["sha256"], "^[0-9a-f]{64}$")
            st, _, meta = imx.get(url + ".metadata")
            self.assertEqual(st, 200)
            self.assertEqual(hashlib.sha256(meta).hexdigest(), md["sha256"])
            m1 = rendered(imx)
            self.assertGreaterEqual(m1["rendered"], 3, "torch rendered again: %r" % m1)

            # numpy's page is another project's: still fresh in memory, so it
            # is answered on the event thread (no worker, nothing rendered).
            workers = value(scrape(imx)[0], "indexmux_worker_requests_total")
            h2, b2 = get(imx, NUMPY, JSON_ACCEPT)
            self.assertEqual((h2.get("ETag"), b2), (h_np.get("ETag"), b_np))
            self.assertEqual(value(scrape(imx)[0], "indexmux_worker_requests_total"),
                             workers + 1, "only the scrape ran on a worker")
            m2 = rendered(imx)
            for o in ("rendered", "reused", "loaded"):
                self.assertEqual(m2[o], m1[o], "%s: %r then %r" % (o, m1, m2))
        # (stopping drains the writer: torch's last rendering is stored too)
        # ... and in LMDB: after a restart numpy's stored rendering still holds.
        self.u.reset()
        with Indexmux(cfg, data_dir=d) as imx:
            h3, b3 = get(imx, NUMPY, JSON_ACCEPT)
            self.assertEqual((h3.get("ETag"), b3), (h_np.get("ETag"), b_np))
            m = rendered(imx)
            self.assertEqual((m["loaded"], m["rendered"], m["reused"]), (1, 0, 0), m)
            _, tb = get(imx, TORCH, JSON_ACCEPT)
            f = {x["filename"]: x for x in json.loads(tb)["files"]}[wheel["filename"]]
            self.assertEqual(f.get("core-metadata"), md)
            self.assertEqual(rendered(imx)["rendered"], 0, "torch's last rendering was stored")
            self.assertEqual(self.upstream_requests(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
