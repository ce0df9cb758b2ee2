#!/usr/bin/env python3
"""/metrics, the access log and credential hygiene (issue 6 items 4, 5, 8).

Every scrape is parsed line by line (ops_common.parse_metrics); counters are
asserted to move as requests happen, and the upstream request count is
checked against what the fake index actually saw."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import downloads_settled, wait_for  # noqa: E402
from ops_common import (JSON_V1, PASSWORD, URL_PASSWORD, Ops, file_url,  # noqa: E402
                        parse_metrics, scrape, value)


class Metrics(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ops = Ops()

    @classmethod
    def tearDownClass(cls):
        cls.ops.close()

    def setUp(self):
        self.ops.fake.reset()

    def test_parser_rejects_bad_lines(self):
        good = ("# HELP indexmux_x_total X.\n# TYPE indexmux_x_total counter\n"
                "indexmux_x_total{a=\"b\"} 1\n")
        parse_metrics(good)
        for bad in (good.replace("# TYPE indexmux_x_total counter\n", ""),
                    good + "indexmux_x_total{a=b} 1\n",
                    good + "garbage\n",
                    good.rstrip("\n")):
            with self.assertRaises(AssertionError):
                parse_metrics(bad)

    def test_counters_move(self):
        with self.ops.server() as imx:
            fams, _ = scrape(imx)
            for fam in ("indexmux_requests_total", "indexmux_page_cache_total",
                        "indexmux_file_cache_total", "indexmux_upstream_requests_total",
                        "indexmux_upstream_errors_total", "indexmux_upstream_latency_seconds",
                        "indexmux_served_bytes_total", "indexmux_fetched_bytes_total",
                        "indexmux_transfers_in_flight", "indexmux_transfer_clients",
                        "indexmux_store_bytes", "indexmux_store_evictions_total",
                        "indexmux_hash_mismatches_total", "indexmux_routing_decisions_total"):
                self.assertIn(fam, fams, sorted(fams))
            self.assertEqual(value(fams, "indexmux_page_cache_total", outcome="miss"), 0)

            st, _, body = imx.get("/simple/demo-pkg/", headers={"Accept": JSON_V1})
            self.assertEqual(st, 200, body[:300])
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_page_cache_total", outcome="miss"), 1)
            self.assertEqual(value(fams, "indexmux_page_cache_total", outcome="hit"), 0)
            self.assertEqual(value(fams, "indexmux_requests_total", view="default", kind="page",
                                   status="200"), 1)
            self.assertGreaterEqual(value(fams, "indexmux_routing_decisions_total",
                                          view="default", rule="index"), 1)

            st, _, _ = imx.get("/simple/demo-pkg/", headers={"Accept": JSON_V1})
            self.assertEqual(st, 200)
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_page_cache_total", outcome="miss"), 1)
            self.assertEqual(value(fams, "indexmux_page_cache_total", outcome="hit"), 1)
            self.assertEqual(value(fams, "indexmux_requests_total", view="default", kind="page",
                                   status="200"), 2)

            url = file_url(imx, "demo-pkg")
            st, _, data = imx.get(url)
            self.assertEqual(st, 200)
            with open(self.ops.demo, "rb") as fh:
                self.assertEqual(data, fh.read())
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_file_cache_total", index="pypi",
                                   outcome="miss"), 1)
            st, _, data2 = imx.get(url)
            self.assertEqual((st, data2), (200, data))
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_file_cache_total", index="pypi",
                                   outcome="miss"), 1)
            self.assertEqual(value(fams, "indexmux_file_cache_total", index="pypi",
                                   outcome="hit"), 1)
            self.assertEqual(value(fams, "indexmux_requests_total", kind="file", status="200"), 2)
            # Bytes are counted once a response is sent, a moment after the client has it.
            wait_for(lambda: value(scrape(imx)[0], "indexmux_served_bytes_total")
                     >= 2 * len(data), timeout=10, what="served bytes")
            self.assertGreaterEqual(value(fams, "indexmux_fetched_bytes_total", index="pypi"),
                                    len(data))
            # The download's thread extracts the wheel's metadata after the
            # client has its last byte: the gauges drop to 0 once it is done.
            downloads_settled(imx)
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_transfers_in_flight"), 0)
            self.assertEqual(value(fams, "indexmux_transfer_clients"), 0)
            # Store figures are cached for a few seconds: they catch up.
            wait_for(lambda: value(scrape(imx)[0], "indexmux_store_bytes") >= len(data),
                     timeout=15, interval=0.5, what="indexmux_store_bytes to count the wheel")

            # What the fake saw is what the counters say.
            seen = len(self.ops.fake.requests())
            self.assertGreater(seen, 0)
            self.assertEqual(value(fams, "indexmux_upstream_requests_total", index="pypi"), seen,
                             self.ops.fake.requests())
            self.assertEqual(value(fams, "indexmux_upstream_latency_seconds_count",
                                   index="pypi"), seen)
            self.assertEqual(value(fams, "indexmux_upstream_errors_total", index="pypi"), 0)

            # An unreachable upstream: 502, counted as an upstream error.
            st, _, body = imx.get("/broken/simple/demo-pkg/")
            self.assertEqual(st, 502, body)
            fams, _ = scrape(imx)
            self.assertEqual(value(fams, "indexmux_upstream_errors_total", index="dead"), 1)
            self.assertEqual(value(fams, "indexmux_requests_total", view="broken", kind="page",
                                   status="502"), 1)

            # Landing page figures.
            st, _, body = imx.get("/")
            text = body.decode()
            self.assertEqual(st, 200)
            self.assertIn("Hit ratio:", text)
            self.assertIn("Store:", text)
            self.assertRegex(text, r"<code>pypi</code></td><td>\d{4}-\d\d-\d\d [^<]*</td>"
                                   r"<td>HTTP 200</td>")
            self.assertRegex(text, r"<code>dead</code></td><td>\d{4}-")

    def test_access_log_text(self):
        with self.ops.server() as imx:
            imx.get("/simple/demo-pkg/", headers={"Accept": JSON_V1})
            imx.get("/simple/demo-pkg/", headers={"Accept": JSON_V1})
            imx.get("/nowhere")
        lines = [ln for ln in imx.log().splitlines() if " access " in ln]
        page = [ln for ln in lines if "GET /simple/demo-pkg/ 200 " in ln]
        self.assertEqual(len(page), 2, imx.log())
        # Lines are written as requests complete: their order may differ from the requests'.
        page.sort(key=lambda ln: "cache=hit" in ln)
        self.assertRegex(page[0], r" access GET /simple/demo-pkg/ 200 \d+ \d+ms cache=miss "
                                  r"upstream=pypi view=default$")
        self.assertRegex(page[1], r" access GET /simple/demo-pkg/ 200 \d+ \d+ms cache=hit "
                                  r"upstream=- view=default$")
        self.assertTrue(any("GET /nowhere 404 " in ln for ln in lines), lines)

    def test_access_log_json(self):
        with self.ops.server(extra_args=["--log-format", "json"]) as imx:
            imx.get("/simple/demo-pkg/", headers={"Accept": JSON_V1})
            url = file_url(imx, "demo-pkg")
            imx.get(url)
            imx.request("HEAD", url)
        recs = []
        for ln in imx.log().splitlines():
            recs.append(json.loads(ln))   # every line is one JSON object
        acc = [r for r in recs if r.get("msg") == "access"]
        for r in acc:
            for k in ("ts", "level", "method", "path", "status", "bytes", "ms", "cache",
                      "upstream", "view"):
                self.assertIn(k, r, r)
        page = [r for r in acc if r["path"] == "/simple/demo-pkg/"]
        self.assertEqual(sorted((r["status"], r["cache"], r["upstream"], r["view"])
                                for r in page),
                         [(200, "hit", "-", "default"), (200, "miss", "pypi", "default")])
        files = [r for r in acc if r["path"] == url]
        with open(self.ops.demo, "rb") as fh:
            size = len(fh.read())
        self.assertEqual(sorted((r["method"], r["status"], r["bytes"], r["cache"], r["upstream"])
                                for r in files),
                         [("GET", 200, size, "miss", "pypi"), ("HEAD", 200, 0, "hit", "-")])

    def test_credentials_never_appear(self):
        with self.ops.server(extra_args=["--log-level", "debug"]) as imx:
            bodies = []
            for path in ("/", "/simple/demo-pkg/", "/simple/", "/broken/simple/demo-pkg/",
                         "/broken/simple/", "/default/explain/demo-pkg/"):
                st, _, body = imx.get(path)
                bodies.append((path, st, body))
            st, _, body = imx.get("/broken/simple/demo-pkg/")
            self.assertEqual(st, 502, body)
            self.assertIn(b"dead", body)
            url = file_url(imx, "demo-pkg")
            bodies.append((url, 200, imx.get(url)[2]))
            _, text = scrape(imx)
            bodies.append(("/metrics", 200, text.encode()))
        self.assertTrue(any(r[1] == 200 for r in bodies))
        for secret in (PASSWORD, URL_PASSWORD):
            for path, st, body in bodies:
                self.assertNotIn(secret.encode(), body, "%s (%d)" % (path, st))
            self.assertNotIn(secret, imx.log())
            self.assertNotIn(secret, imx.stdout())


if __name__ == "__main__":
    unittest.main(verbosity=2)
