#!/usr/bin/env python3
"""SIGHUP reload (issue 6 item 6): a good configuration takes effect for new
requests without dropping a kept-alive connection; a broken one is logged
with file:line:col and the old one keeps serving."""

import http.client
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import wait_for  # noqa: E402
from ops_common import JSON_V1, Ops, scrape, value  # noqa: E402

EXTRA_VIEW = """
[virtual.later]
indexes = ["pypi"]
"""


class Reload(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ops = Ops()

    @classmethod
    def tearDownClass(cls):
        cls.ops.close()

    def keepalive_get(self, conn, path):
        conn.request("GET", path, headers={"Accept": JSON_V1})
        r = conn.getresponse()
        return r.status, r.read()

    def test_good_config_adds_a_view(self):
        with self.ops.server() as imx:
            conn = http.client.HTTPConnection("127.0.0.1", imx.port, timeout=30)
            try:
                st, _ = self.keepalive_get(conn, "/default/simple/demo-pkg/")
                self.assertEqual(st, 200)
                self.assertEqual(imx.get("/later/simple/demo-pkg/")[0], 404)
                sock = conn.sock
                with open(imx.config_path, "w") as fh:
                    fh.write(self.ops.config(EXTRA_VIEW))
                imx.proc.send_signal(signal.SIGHUP)
                wait_for(lambda: imx.get("/later/simple/demo-pkg/")[0] == 200, timeout=15,
                         what="the new view to be served\n" + imx.log())
                # Logged after the swap, once the old generation is freed: wait for it.
                wait_for(lambda: "configuration reloaded" in imx.log(), timeout=15,
                         what="the reload to be logged\n" + imx.log())
                # The connection opened before the reload still works.
                st, body = self.keepalive_get(conn, "/default/simple/demo-pkg/")
                self.assertEqual(st, 200, body)
                self.assertIs(conn.sock, sock, "the kept-alive connection was replaced")
                st, _, body = imx.get("/")
                self.assertIn(b"/later/simple/", body)
                # Counters survive the reload.
                fams, _ = scrape(imx)
                self.assertGreaterEqual(value(fams, "indexmux_requests_total", view="default",
                                              kind="page", status="200"), 2)
                self.assertEqual(value(fams, "indexmux_requests_total", view="later",
                                       kind="page", status="200"), 1)
            finally:
                conn.close()
                with open(imx.config_path, "w") as fh:
                    fh.write(self.ops.config())

    def test_broken_config_keeps_the_old_one(self):
        with self.ops.server() as imx:
            self.assertEqual(imx.get("/default/simple/demo-pkg/")[0], 200)
            good = self.ops.config()
            broken = good + "\n[virtual.bad]\nindexes = [\"pypi\"]\nno-such-key = 1\n"
            line = broken.count("\n", 0, broken.index("no-such-key")) + 1
            with open(imx.config_path, "w") as fh:
                fh.write(broken)
            imx.proc.send_signal(signal.SIGHUP)
            pat = re.compile(re.escape(imx.config_path) + r":(\d+):(\d+):")
            m = wait_for(lambda: pat.search(imx.log()), timeout=15,
                         what="the configuration error in the log")
            self.assertEqual(int(m.group(1)), line, imx.log())
            self.assertIn("configuration not reloaded", imx.log())
            self.assertEqual(imx.get("/default/simple/demo-pkg/")[0], 200)
            self.assertEqual(imx.get("/default/simple/other-pkg/")[0], 200)
            self.assertEqual(imx.get("/bad/simple/demo-pkg/")[0], 404)
            # And a good one after that still works.
            with open(imx.config_path, "w") as fh:
                fh.write(self.ops.config(EXTRA_VIEW))
            imx.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: imx.get("/later/simple/demo-pkg/")[0] == 200, timeout=15,
                     what="the new view after a failed reload\n" + imx.log())

    def test_restart_only_setting_is_kept_with_a_warning(self):
        with self.ops.server() as imx:
            with open(imx.config_path, "w") as fh:
                fh.write(self.ops.config(EXTRA_VIEW).replace(
                    "[server]\n", "[server]\nmax-connections = 7\n"))
            imx.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in imx.log(), timeout=15,
                     what="the reload\n" + imx.log())
            self.assertIn("take a restart; keeping the old ones", imx.log())
            self.assertEqual(imx.get("/later/simple/demo-pkg/")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
