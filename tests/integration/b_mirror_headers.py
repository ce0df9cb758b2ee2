#!/usr/bin/env python3
"""Issue 3 "Shows": curl-level (http.client) checks of every header rule in
SPEC section 4 on pages, and the content rules of rendered pages. Each test
also checks what reached the fake upstream."""

import gzip
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import (HTML_V1, JSON_V1, PIP_ACCEPT, TEXT_HTML, UV_ACCEPT,  # noqa: E402
                             Mirror, describe, resolve)

DEMO = "/pypi/simple/demo-pkg/"
TORCH = "/pytorch-cu124/simple/torch/"


class PageHeaders(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.m = Mirror()
        try:
            cls.imx = cls.m.server().__enter__()
        except BaseException:
            cls.m.close()
            raise
        # Warm the pages: later requests must not reach the upstream.
        for p in (DEMO, TORCH, "/pypi/simple/", "/pytorch-cu124/simple/"):
            st, _, body = cls.imx.get(p)
            assert st == 200, (p, st, body)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.imx.__exit__(None, None, None)
        finally:
            cls.m.close()

    def setUp(self):
        self.m.reset()

    def tearDown(self):
        # Every check here is served from the cache: nothing went upstream.
        reqs = self.m.upstream_requests()
        self.assertEqual(reqs, [], describe(reqs))

    def get(self, path, **headers):
        return self.imx.get(path, {k.replace("_", "-"): v for k, v in headers.items()})

    def assert_page_headers(self, h):
        self.assertEqual(h.get_all("Vary"), ["Accept, Accept-Encoding"])
        self.assertEqual(h.get("Cache-Control"), "max-age=600, public")
        etag = h.get("ETag", "")
        self.assertRegex(etag, r'^"[^"]+"$', "strong ETag")

    # ------------------------------------------------------------ negotiation
    def test_content_type_exact(self):
        cases = [
            (PIP_ACCEPT, JSON_V1),
            (UV_ACCEPT, JSON_V1),
            (None, TEXT_HTML),
            ("*/*", TEXT_HTML),
            ("text/html", TEXT_HTML),                 # pip <= 22.1
            (HTML_V1, HTML_V1),
            ("application/vnd.pypi.simple.latest+json", JSON_V1),
            ("application/vnd.pypi.simple.latest+html", HTML_V1),
            ("application/vnd.pypi.simple.v1+json;q=0.1, text/html", TEXT_HTML),
            ("application/vnd.pypi.simple.v1+json; q=0.1, text/html; q=0.5", TEXT_HTML),
            (HTML_V1 + ", " + JSON_V1, JSON_V1),      # a tie prefers JSON
            ("image/png, " + JSON_V1 + ";q=0.001", JSON_V1),
        ]
        for path in (DEMO, TORCH, "/pypi/simple/", "/pytorch-cu124/simple/"):
            for accept, want in cases:
                with self.subTest(path=path, accept=accept):
                    st, h, body = self.imx.get(path, {"Accept": accept} if accept else {})
                    self.assertEqual(st, 200, body)
                    self.assertEqual(h.get_all("Content-Type"), [want])
                    self.assert_page_headers(h)
                    if want == JSON_V1:
                        json.loads(body)
                    else:
                        self.assertTrue(body.startswith(b"<!DOCTYPE html>"), body[:80])

    def test_406_when_nothing_is_acceptable(self):
        for accept in ("image/png", "application/json", "text/plain, image/*",
                       JSON_V1 + ";q=0"):
            with self.subTest(accept=accept):
                st, h, body = self.get(DEMO, Accept=accept)
                self.assertEqual(st, 406, body)
                self.assertEqual(body.decode().rstrip("\n").count("\n"), 0, body)

    def test_format_query_overrides_accept(self):
        for fmt, want in ((JSON_V1, JSON_V1), (HTML_V1, HTML_V1), (TEXT_HTML, TEXT_HTML)):
            with self.subTest(fmt=fmt):
                q = fmt.replace("+", "%2B")
                st, h, body = self.get(DEMO + "?format=" + q, Accept="image/png")
                self.assertEqual(st, 200, body)
                self.assertEqual(h.get("Content-Type"), want)
                st, h, body = self.get(DEMO + "?format=" + q, Accept=PIP_ACCEPT)
                self.assertEqual(h.get("Content-Type"), want)

    # ------------------------------------------------------------ ETag / 304
    def test_etag_and_304(self):
        for accept in (PIP_ACCEPT, TEXT_HTML, HTML_V1):
            with self.subTest(accept=accept):
                st, h, body = self.get(DEMO, Accept=accept)
                etag = h["ETag"]
                self.assertFalse(etag.startswith("W/"))
                st2, h2, _ = self.get(DEMO, Accept=accept)
                self.assertEqual(h2["ETag"], etag, "stable")
                st3, h3, b3 = self.get(DEMO, Accept=accept, If_None_Match=etag)
                self.assertEqual(st3, 304)
                self.assertEqual(b3, b"")
                self.assertEqual(h3["ETag"], etag)
                self.assert_page_headers(h3)
                st4, _, _ = self.get(DEMO, Accept=accept,
                                     If_None_Match='"other", ' + etag)
                self.assertEqual(st4, 304)
                st5, _, b5 = self.get(DEMO, Accept=accept, If_None_Match='"other"')
                self.assertEqual(st5, 200)
                self.assertEqual(b5, body)
        # representations differ, so do their tags
        tags = {self.get(DEMO, Accept=a)[1]["ETag"] for a in (JSON_V1, HTML_V1, TEXT_HTML)}
        tags.add(self.get(DEMO, Accept=JSON_V1, Accept_Encoding="gzip")[1]["ETag"])
        self.assertGreaterEqual(len(tags), 3, tags)
        # an ETag of the JSON page does not validate the HTML one
        jtag = self.get(DEMO, Accept=JSON_V1)[1]["ETag"]
        st, _, _ = self.get(DEMO, Accept=TEXT_HTML, If_None_Match=jtag)
        self.assertEqual(st, 200)

    def test_head_page(self):
        for accept in (PIP_ACCEPT, TEXT_HTML):
            with self.subTest(accept=accept):
                st, h, body = self.get(DEMO, Accept=accept)
                st2, h2, body2 = self.imx.head(DEMO, {"Accept": accept})
                self.assertEqual((st2, body2), (200, b""))
                for k in ("Content-Type", "ETag", "Vary", "Cache-Control", "Content-Length"):
                    self.assertEqual(h2.get(k), h.get(k), k)

    # ------------------------------------------------------------ gzip
    def test_gzip_when_accepted(self):
        for path in (DEMO, "/pypi/simple/"):
            for accept in (PIP_ACCEPT, TEXT_HTML):
                with self.subTest(path=path, accept=accept):
                    st, h, plain = self.get(path, Accept=accept)
                    self.assertNotIn("Content-Encoding", h)
                    st, h, gz = self.get(path, Accept=accept, Accept_Encoding="gzip, deflate")
                    self.assertEqual(st, 200)
                    if len(plain) >= 512:
                        self.assertEqual(h.get("Content-Encoding"), "gzip")
                        self.assertEqual(gzip.decompress(gz), plain)
                        self.assertEqual(int(h["Content-Length"]), len(gz))
                    self.assert_page_headers(h)
                    etag = h["ETag"]
                    st, h, _ = self.get(path, Accept=accept, Accept_Encoding="gzip",
                                        If_None_Match=etag)
                    self.assertEqual(st, 304)
                    for ae in ("identity", "gzip;q=0", "br", "*;q=0"):
                        st, h, body = self.get(path, Accept=accept, Accept_Encoding=ae)
                        self.assertNotIn("Content-Encoding", h, ae)
                        self.assertEqual(body, plain, ae)

    # ------------------------------------------------------------ redirects
    def test_301_non_normalized_and_missing_slash(self):
        cases = [
            ("/pypi/simple/Demo_Pkg/", DEMO),
            ("/pypi/simple/demo.pkg/", DEMO),
            ("/pypi/simple/DEMO--pkg/", DEMO),
            ("/pypi/simple/demo-pkg", DEMO),
            ("/pypi/simple/Demo_Pkg", DEMO),
            ("/pypi/simple", "/pypi/simple/"),
            ("/pytorch-cu124/simple/Torch/", TORCH),
            ("/pytorch-cu124/simple/torch", TORCH),
            ("/simple/Demo_Pkg/", "/simple/demo-pkg/"),
            ("/simple", "/simple/"),
        ]
        for path, want in cases:
            with self.subTest(path=path):
                st, h, body = self.get(path, Accept=PIP_ACCEPT)
                self.assertEqual(st, 301, body)
                loc = h["Location"]
                self.assertFalse(loc.startswith("/") or "://" in loc,
                                 "relative Location: %r" % loc)
                self.assertEqual(resolve(path, loc), want)
        # and the target serves
        st, _, _ = self.get("/simple/demo-pkg/", Accept=PIP_ACCEPT)
        self.assertEqual(st, 200)
        # the query survives the redirect (?format= chooses the representation)
        q = "?format=application/vnd.pypi.simple.v1%2Bjson"
        st, h, body = self.get("/pypi/simple/Demo_Pkg/" + q)
        self.assertEqual(st, 301, body)
        self.assertEqual(h["Location"], "../demo-pkg/" + q)
        st, h, body = self.get(DEMO + q)
        self.assertEqual(st, 200, body)
        self.assertEqual(h["Content-Type"], "application/vnd.pypi.simple.v1+json")

    # ------------------------------------------------------------ page contents
    def test_json_page_contents(self):
        st, h, body = self.get(DEMO, Accept=JSON_V1)
        self.assertNotIn(b"dist-info-metadata", body)   # the fake sends it; we never do
        doc = json.loads(body)
        self.assertEqual(doc["meta"]["api-version"], "1.1")
        self.assertEqual(doc["name"], "demo-pkg")
        self.assertEqual(sorted(doc["versions"]), ["0.8", "0.9", "1.0", "1.1"])
        by = {f["filename"]: f for f in doc["files"]}
        m = self.m
        for path in (m.demo08, m.demo09, m.demo10, m.demo11):
            fn = os.path.basename(path)
            f = by[fn]
            self.assertEqual(f["hashes"], {"sha256": m_sha(path)})
            self.assertEqual(f["size"], os.path.getsize(path))
            self.assertTrue(f["url"].endswith("/" + fn), f["url"])
            self.assertNotIn("127.0.0.1", f["url"])
            self.assertTrue(resolve(DEMO, f["url"]).startswith("/files/"), f["url"])
            self.assertIn("upload-time", f)
        self.assertEqual(by[os.path.basename(m.demo09)]["yanked"], True)
        self.assertEqual(by[os.path.basename(m.demo11)]["yanked"], "broken <release> & more")
        self.assertEqual(by[os.path.basename(m.demo10)]["yanked"], False)
        self.assertEqual(by[os.path.basename(m.demo08)]["requires-python"], ">=3.7,<4")
        self.assertIn(by[os.path.basename(m.demo08)].get("core-metadata", False),
                      (False, None))
        self.assertEqual(by[os.path.basename(m.demo10)]["core-metadata"],
                         {"sha256": m_sha_bytes(m_metadata(m.demo10))})
        # torch: no sizes upstream -> 1.0; %2B in the link
        doc = json.loads(self.get(TORCH, Accept=JSON_V1)[2])
        self.assertEqual(doc["meta"]["api-version"], "1.0")
        urls = [f["url"] for f in doc["files"]]
        self.assertTrue(any("torch-2.5.1%2Bcu124-" in u for u in urls), urls)
        self.assertFalse(any("+" in u for u in urls), urls)
        for f in doc["files"]:
            self.assertIn("hashes", f)      # {} for the link without a hash

    def test_project_status_passed_through(self):
        doc = json.loads(self.get(DEMO, Accept=JSON_V1)[2])
        self.assertEqual(doc.get("project-status"), {"status": "active"})
        text = self.get(DEMO, Accept=TEXT_HTML)[2].decode()
        self.assertIn('<meta name="pypi:project-status" content="active">', text)

    def test_html_page_contents(self):
        st, h, body = self.get(DEMO, Accept=TEXT_HTML)
        text = body.decode()
        self.assertTrue(text.startswith("<!DOCTYPE html>"))
        self.assertRegex(text, r'<meta name="pypi:repository-version" content="1\.\d+"')
        anchors = re.findall(r"<a\s[^>]*>[^<]*</a>", text)
        self.assertEqual(len(anchors), 4, text)
        for a in anchors:
            self.assertRegex(a, r'href="[^"]*#sha256=[0-9a-f]{64}"')
            self.assertNotIn("127.0.0.1", a)
            # never a bare data-yanked, never ="false"
            self.assertNotRegex(a, r"data-yanked(?!=)")
            self.assertNotIn('="false"', a)
            self.assertEqual("data-core-metadata" in a, "data-dist-info-metadata" in a, a)
            fn = re.search(r">([^<]*)</a>", a).group(1)
            self.assertTrue(fn.endswith(".whl"))
        by = {re.search(r">([^<]*)</a>", a).group(1): a for a in anchors}
        m = self.m
        self.assertIn('data-yanked=""', by[os.path.basename(m.demo09)])
        self.assertIn('data-yanked="broken &lt;release&gt; &amp; more"',
                      by[os.path.basename(m.demo11)])
        self.assertNotIn("data-yanked", by[os.path.basename(m.demo10)])
        self.assertIn('data-requires-python="&gt;=3.7,&lt;4"', by[os.path.basename(m.demo08)])
        self.assertNotIn("data-core-metadata", by[os.path.basename(m.demo08)])
        self.assertIn('data-core-metadata="sha256=%s"' % m_sha_bytes(m_metadata(m.demo10)),
                      by[os.path.basename(m.demo10)])
        # torch: anchor text keeps '+', the href has %2B
        text = self.get(TORCH, Accept=TEXT_HTML)[2].decode()
        self.assertIn(">torch-2.5.1+cu124-cp312", text)
        self.assertIn("torch-2.5.1%2Bcu124-cp312", text)

    def test_project_lists(self):
        doc = json.loads(self.get("/pypi/simple/", Accept=JSON_V1)[2])
        names = sorted(p["name"] for p in doc["projects"])
        self.assertEqual(names, ["demo-pkg", "dep-pkg", "native-pkg"])
        text = self.get("/pytorch-cu124/simple/", Accept=TEXT_HTML)[2].decode()
        self.assertIn(">torch<", text)


class NotFound(unittest.TestCase):
    """404 for absent projects (pypi 404 and pytorch 403 alike)."""

    @classmethod
    def setUpClass(cls):
        cls.m = Mirror()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_absent_projects_are_404(self):
        m = self.m
        with m.server() as imx:
            for route, upstream, path, code in (
                    ("pypi", m.pypi, "/simple/no-such/", 404),
                    ("pytorch-cu124", m.torch, "/whl/cu124/no-such/", 403)):
                with self.subTest(route=route):
                    m.reset()
                    for accept in (PIP_ACCEPT, UV_ACCEPT, TEXT_HTML, None):
                        st, h, body = imx.get("/%s/simple/no-such/" % route,
                                              {"Accept": accept} if accept else {})
                        self.assertEqual(st, 404, body)
                        self.assertEqual(body.decode().rstrip("\n").count("\n"), 0, body)
                    reqs = upstream.requests()
                    # the upstream really said 403/404, once (negative answer cached)
                    self.assertEqual([r["path"] for r in reqs], [path], describe(reqs))
            # unknown route
            st, _, body = imx.get("/nowhere/simple/demo-pkg/")
            self.assertEqual(st, 404, body)


def m_sha(path):
    from harness import wheels
    return wheels.sha256_of(path)


def m_metadata(path):
    from harness import wheels
    return wheels.metadata_of(path)


def m_sha_bytes(b):
    import hashlib
    return hashlib.sha256(b).hexdigest()


if __name__ == "__main__":
    unittest.main(verbosity=2)
