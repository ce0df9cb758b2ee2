#!/usr/bin/env python3
"""Issue 3 "Shows": the page cache policy (SPEC 6), seen from the upstream.

- within ttl no upstream request, whatever the client's Cache-Control;
- after ttl (ttl = 1) a revalidation with If-None-Match, and a 304 keeps the
  page, without parsing it again (/metrics indexmux_pages_parsed_total); a
  changed upstream page replaces it, parsed once;
- an upstream failure while stale serves the stale page;
- "not there" answers are kept for negative-ttl, then asked again.
"""

import hashlib
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import (JSON_V1, PIP_ACCEPT, TEXT_HTML, Mirror, describe,  # noqa: E402
                             file_entry)
from harness import wheels  # noqa: E402
from ops_common import scrape, value  # noqa: E402

DEMO = "/pypi/simple/demo-pkg/"
TORCH = "/pytorch-cu124/simple/torch/"
# What indexmux asks upstreams for (resolver/project.c).
SERVER_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;"
                 "q=0.2, text/html;q=0.01")


def parsed(imx):
    """indexmux_pages_parsed_total: upstream page records parsed into memory."""
    return value(scrape(imx)[0], "indexmux_pages_parsed_total")


def upstream_etag(fx, path):
    """The ETag the fake gives `path` for indexmux's Accept (not logged)."""
    c = http.client.HTTPConnection("127.0.0.1", fx.port, timeout=10)
    try:
        c.request("GET", path, headers={"Accept": SERVER_ACCEPT})
        r = c.getresponse()
        r.read()
        return r.getheader("ETag")
    finally:
        c.close()


class WithinTtl(unittest.TestCase):

    def test_no_upstream_request_within_ttl(self):
        m = Mirror()
        try:
            with m.server() as imx:
                for p in (DEMO, TORCH, "/pypi/simple/", "/pytorch-cu124/simple/"):
                    self.assertEqual(imx.get(p)[0], 200, p)
                first = m.upstream_requests()
                self.assertEqual(sorted(r["path"] for r in first),
                                 ["/simple/", "/simple/demo-pkg/", "/whl/cu124/",
                                  "/whl/cu124/torch/"], describe(first))
                for r in first:   # first fetch: unconditional
                    self.assertNotIn("If-None-Match", r["headers"])
                m.reset()
                for cc in (None, "max-age=0", "no-cache", "no-store", "max-age=0, no-cache"):
                    for accept in (PIP_ACCEPT, TEXT_HTML, None):
                        for p in (DEMO, TORCH, "/pypi/simple/", "/pytorch-cu124/simple/"):
                            h = {}
                            if cc:
                                h["Cache-Control"] = cc
                                h["Pragma"] = "no-cache"
                            if accept:
                                h["Accept"] = accept
                            st, _, body = imx.get(p, h)
                            self.assertEqual(st, 200, body)
                reqs = m.upstream_requests()
                self.assertEqual(reqs, [], describe(reqs))
        finally:
            m.close()


class SingleFlightPages(unittest.TestCase):

    def test_concurrent_requests_for_an_uncached_page_share_one_fetch(self):
        m = Mirror()
        try:
            with m.server() as imx:
                # the upstream takes a second to answer: every client waits on it
                m.pypi.fault("/simple/demo-pkg/", "stall_before", seconds=1, count=1)
                out = [None] * 10

                def one(i):
                    accept = (JSON_V1, TEXT_HTML)[i % 2]
                    out[i] = imx.get(DEMO, {"Accept": accept})

                threads = [threading.Thread(target=one, args=(i,), daemon=True)
                           for i in range(len(out))]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=30)
                self.assertFalse(any(t.is_alive() for t in threads))
                for i, r in enumerate(out):
                    self.assertEqual(r[0], 200, r)
                    self.assertEqual(r[1]["Content-Type"], (JSON_V1, TEXT_HTML)[i % 2])
                reqs = m.pypi.requests()
                self.assertEqual([r["path"] for r in reqs], ["/simple/demo-pkg/"],
                                 describe(reqs))
        finally:
            m.close()


class AfterTtl(unittest.TestCase):

    def setUp(self):
        self.m = Mirror()

    def tearDown(self):
        self.m.close()

    def wait_stale(self):
        # ttl = 1 with whole-second timestamps: > 2 s is stale for sure
        time.sleep(2.2)

    def test_revalidation_304_keeps_the_page_200_replaces_it(self):
        m = self.m
        with m.server(ttl=1, negative_ttl=1) as imx:
            st, h, body = imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual(st, 200)
            st, _, tbody = imx.get(TORCH, {"Accept": JSON_V1})
            self.assertEqual(st, 200)
            etag = h["ETag"]
            up_demo = upstream_etag(m.pypi, "/simple/demo-pkg/")
            up_torch = upstream_etag(m.torch, "/whl/cu124/torch/")
            self.assertTrue(up_demo and up_torch)
            parsed_before = parsed(imx)
            self.assertGreaterEqual(parsed_before, 2)
            self.wait_stale()
            m.reset()
            st, h2, body2 = imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual(st, 200)
            self.assertEqual(body2, body)
            self.assertEqual(h2["ETag"], etag)
            st, _, tbody2 = imx.get(TORCH, {"Accept": JSON_V1})
            self.assertEqual(tbody2, tbody)
            for fx, path, tag in ((m.pypi, "/simple/demo-pkg/", up_demo),
                                  (m.torch, "/whl/cu124/torch/", up_torch)):
                reqs = fx.requests()
                self.assertEqual([r["path"] for r in reqs], [path], describe(reqs))
                self.assertEqual(reqs[0]["headers"].get("If-None-Match"), tag, describe(reqs))
                self.assertNotIn("Cache-Control", reqs[0]["headers"])
            # same bytes: the parse kept in memory serves on
            self.assertEqual(parsed(imx), parsed_before)
            # the 304 made the page fresh again: no request within the new ttl
            m.reset()
            imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual(m.pypi.requests(), [], describe(m.pypi.requests()))

            # a changed upstream page replaces the cached one after the ttl
            spec = m.pypi_spec()
            spec["projects"]["Demo_Pkg"]["files"] = [
                f for f in spec["projects"]["Demo_Pkg"]["files"] if f["path"] != m.demo08]
            m.pypi.set_spec(spec)
            self.wait_stale()
            m.reset()
            st, h3, body3 = imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual(st, 200)
            self.assertNotEqual(h3["ETag"], etag)
            names = [f["filename"] for f in json.loads(body3)["files"]]
            self.assertNotIn(os.path.basename(m.demo08), names)
            self.assertEqual(len(names), 3)
            self.assertEqual(parsed(imx), parsed_before + 1)  # the changed page, once
            reqs = m.pypi.requests()
            self.assertEqual([r["path"] for r in reqs], ["/simple/demo-pkg/"], describe(reqs))
            self.assertEqual(reqs[0]["headers"].get("If-None-Match"), up_demo)

    def test_stale_page_served_when_the_upstream_fails(self):
        m = self.m
        with m.server(ttl=1, negative_ttl=1) as imx:
            st, _, body = imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual(st, 200)
            st, _, tbody = imx.get(TORCH, {"Accept": TEXT_HTML})
            self.assertEqual(st, 200)
            for i, (kind, params) in enumerate((("status", {"code": 500}), ("close", {}))):
                with self.subTest(kind=kind, **params):
                    # a page served stale is retried upstream at most every
                    # 5 s (resolver/project.c), so wait that out after the first
                    time.sleep(6.2 if i else 2.2)
                    m.reset()
                    m.pypi.fault("/simple/", kind, **params)
                    m.torch.fault("/whl/cu124/torch/", kind, **params)
                    st, _, b = imx.get(DEMO, {"Accept": JSON_V1})
                    self.assertEqual((st, b), (200, body))
                    st, _, b = imx.get(TORCH, {"Accept": TEXT_HTML})
                    self.assertEqual((st, b), (200, tbody))
                    # it did ask
                    self.assertGreaterEqual(m.pypi.count("/simple/demo-pkg/"), 1)
                    self.assertGreaterEqual(m.torch.count("/whl/cu124/torch/"), 1)
            # upstream gone altogether
            time.sleep(6.2)
            m.pypi.stop()
            m.torch.stop()
            st, _, b = imx.get(DEMO, {"Accept": JSON_V1})
            self.assertEqual((st, b), (200, body))
            st, _, b = imx.get(TORCH, {"Accept": TEXT_HTML})
            self.assertEqual((st, b), (200, tbody))
            st, _, b = imx.get("/pypi/simple/dep-pkg/")
            self.assertEqual(st, 502, b)
            self.assertIn("'pypi'", b.decode())

    def test_uncached_project_with_failing_upstream_is_502(self):
        m = self.m
        with m.server() as imx:
            m.pypi.fault("/simple/dep-pkg/", "status", code=500)
            st, h, b = imx.get("/pypi/simple/dep-pkg/")
            self.assertEqual(st, 502, b)
            text = b.decode()
            self.assertIn("'pypi'", text)
            self.assertEqual(text.rstrip("\n").count("\n"), 0, text)
            self.assertGreaterEqual(m.pypi.count("/simple/dep-pkg/"), 1)
            # a failure is not cached as "absent": once fixed, the page serves
            m.pypi.clear_faults()
            st, _, b = imx.get("/pypi/simple/dep-pkg/")
            self.assertEqual(st, 200, b)

    def test_computed_hash_reaches_later_pages(self):
        """A link without a hash upstream gets the sha256 computed on first
        download, and the pages rendered after the ttl carry it."""
        m = self.m
        fn = os.path.basename(m.torch_old)
        with m.server(ttl=1, negative_ttl=1) as imx:
            for accept in (JSON_V1, TEXT_HTML):   # render both before the download
                self.assertEqual(imx.get(TORCH, {"Accept": accept})[0], 200)
            path, entry = file_entry(imx, TORCH, fn)
            self.assertEqual(entry["hashes"], {})
            st, _, body = imx.get(path)
            self.assertEqual(st, 200)
            sha = wheels.sha256_of(m.torch_old)
            self.assertEqual(hashlib.sha256(body).hexdigest(), sha)
            self.wait_stale()
            m.reset()
            _, entry = file_entry(imx, TORCH, fn)
            self.assertEqual(entry["hashes"], {"sha256": sha})
            text = imx.get(TORCH, {"Accept": TEXT_HTML})[2].decode()
            self.assertIn("#sha256=" + sha, text)
            # only a revalidation went upstream, not the file again
            reqs = m.torch.requests()
            self.assertEqual([r["path"] for r in reqs], ["/whl/cu124/torch/"], describe(reqs))

    def test_negative_answers_cached_for_negative_ttl(self):
        m = self.m
        with m.server(ttl=1, negative_ttl=3) as imx:
            for route, fx, path in (("pypi", m.pypi, "/simple/late-pkg/"),
                                    ("pytorch-cu124", m.torch, "/whl/cu124/late-pkg/")):
                with self.subTest(route=route):
                    t0 = time.monotonic()
                    m.reset()
                    st, _, b = imx.get("/%s/simple/late-pkg/" % route)
                    self.assertEqual(st, 404, b)
                    self.assertEqual(fx.count(path), 1)
                    # the project appears upstream; the negative answer is kept
                    if fx is m.pypi:
                        spec = m.pypi_spec()
                        spec["projects"]["late-pkg"] = {"files": [{"path": m.dep}]}
                        fx.set_spec(spec)
                    else:
                        spec = m.torch_spec()
                        spec["variants"]["cu124"]["late-pkg"] = {"files": [{"path": m.dep}]}
                        fx.set_spec(spec)
                    st, _, b = imx.get("/%s/simple/late-pkg/" % route)
                    self.assertLess(time.monotonic() - t0, 1.5, "test too slow to tell")
                    self.assertEqual(st, 404, b)
                    self.assertEqual(fx.count(path), 1, describe(fx.requests()))
                    time.sleep(4.2 - (time.monotonic() - t0))
                    st, _, b = imx.get("/%s/simple/late-pkg/" % route)
                    self.assertEqual(st, 200, b)
                    self.assertEqual(fx.count(path), 2, describe(fx.requests()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
