#!/usr/bin/env python3
"""Basic integration tests of the indexmux skeleton: the command line, the
health check, the landing page, errors and shutdown. No upstream is ever
contacted (the configured upstream URLs point at a closed local port)."""

import os
import re
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Indexmux, free_port, run_imx, toml_str  # noqa: E402

DEFAULT_VIEWS = ["default", "cpu", "cu118", "cu121", "cu124", "cu126", "cu128", "rocm6.2"]


def two_view_config():
    dead = "http://127.0.0.1:%d" % free_port()
    return """\
[[index]]
name = "up-one"
url = %s

[[index]]
name = "up-two"
url = %s

[virtual.alpha]
indexes = ["up-one", "up-two"]

[virtual.beta]
indexes = ["up-two"]
""" % (toml_str(dead + "/simple/"), toml_str(dead + "/other/simple/"))


class Basic(unittest.TestCase):

    def test_healthz(self):
        with Indexmux(two_view_config()) as imx:
            st, h, body = imx.get("/healthz")
            self.assertEqual(st, 200, imx.log())
            self.assertTrue(body.strip(), "empty /healthz body")
            st, h, body = imx.head("/healthz")
            self.assertEqual((st, body), (200, b""))

    def test_landing_lists_configured_views(self):
        with Indexmux(two_view_config()) as imx:
            st, h, body = imx.get("/")
            self.assertEqual(st, 200, imx.log())
            self.assertTrue(h.get("Content-Type", "").startswith("text/html"), h)
            text = body.decode("utf-8", "replace")
            for v in ("alpha", "beta"):
                self.assertIn("/%s/simple/" % v, text)

    def test_landing_default_config(self):
        with Indexmux(None) as imx:
            st, h, body = imx.get("/")
            self.assertEqual(st, 200, imx.log())
            text = body.decode("utf-8", "replace")
            for v in DEFAULT_VIEWS:
                self.assertIn("/%s/simple/" % v, text, "view %s missing from /" % v)

    def test_tls_verify_off_is_warned_at_start(self):
        cfg = two_view_config().replace('name = "up-one"\n',
                                        'name = "up-one"\ntls-verify = false\n', 1)
        with Indexmux(cfg) as imx:
            st, _, _ = imx.get("/healthz")
            self.assertEqual(st, 200)
            log = imx.log()
        self.assertRegex(log, r"indexmux\.toml:\d+:\d+: index\[0\]\.tls-verify: TLS certificate "
                              r"verification is disabled")

    def test_unknown_path_is_404_one_line(self):
        with Indexmux(two_view_config()) as imx:
            for path in ("/definitely-not-a-route", "/nope/zzz/qqq", "/favicon.ico"):
                st, h, body = imx.get(path)
                self.assertEqual(st, 404, path)
                self.assertTrue(body.strip(), "empty 404 body for %s" % path)
                self.assertLessEqual(body.rstrip(b"\n").count(b"\n"), 0,
                                     "404 body is not one line: %r" % body)

    def test_post_is_405(self):
        with Indexmux(two_view_config()) as imx:
            for path in ("/healthz", "/", "/simple/"):
                st, h, body = imx.request("POST", path, body=b"")
                self.assertEqual(st, 405, path)
                self.assertIn("GET", h.get("Allow", ""), h)

    def test_sigterm_exits_zero_promptly(self):
        imx = Indexmux(two_view_config(), stop_timeout=5)
        with imx:
            self.assertEqual(imx.get("/healthz")[0], 200)
            t0 = time.monotonic()
            rc = imx.stop(signal.SIGTERM)
            self.assertEqual(rc, 0, imx.log())
            self.assertLess(time.monotonic() - t0, 5.0)

    def test_sigterm_with_an_open_idle_connection(self):
        import socket
        imx = Indexmux(two_view_config(), stop_timeout=5)
        with imx:
            s = socket.create_connection(("127.0.0.1", imx.port), timeout=5)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertIn(b" 200 ", s.recv(4096))
                self.assertEqual(imx.stop(signal.SIGTERM), 0, imx.log())
            finally:
                s.close()


class CommandLine(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="imx-cli-")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.tmp.name, name)
        with open(p, "w") as fh:
            fh.write(text)
        return p

    def test_help(self):
        p = run_imx("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("serve", p.stdout + p.stderr)
        p = run_imx("serve", "--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--listen", p.stdout + p.stderr)

    def test_unknown_flag_exits_2(self):
        p = run_imx("serve", "--bogus", timeout=10)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertTrue(p.stderr.strip())
        p = run_imx("check-config", "--bogus", timeout=10)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)

    def test_bad_config_exits_1_with_position(self):
        bad = self.write("bad.toml", '[server]\nlisten = "127.0.0.1:%d"\nbogus-key = 1\n'
                         % free_port())
        for args in (["serve", "--config", bad, "--data-dir",
                      os.path.join(self.tmp.name, "d")],
                     ["check-config", "--config", bad]):
            p = run_imx(*args, timeout=10)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertRegex(p.stderr, re.escape(bad) + r":3:\d+:", p.stderr)
        syntax = self.write("syntax.toml", '[server]\nlisten = "127.0.0.1:1\n')
        p = run_imx("check-config", "--config", syntax, timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, re.escape(syntax) + r":2:\d+:")

    def test_missing_config_file_exits_1(self):
        p = run_imx("check-config", "--config", os.path.join(self.tmp.name, "nope.toml"),
                    timeout=10)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("nope.toml", p.stderr)

    def test_check_config_default(self):
        p = run_imx("check-config", timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        for v in DEFAULT_VIEWS:
            self.assertRegex(p.stdout, r"(?m)\b%s\b" % re.escape(v))
        self.assertIn("pytorch-cu124", p.stdout)

    def test_check_config_file(self):
        good = self.write("good.toml", '[server]\ndefault = "alpha"\n\n' + two_view_config())
        p = run_imx("check-config", "--config", good, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("alpha", "beta", "up-one", "up-two"):
            self.assertIn(name, p.stdout)

    # A config with no view named "default" and no server.default is valid
    # (config.h: /simple/ is then 404); check-config must still print it.
    def test_check_config_without_default_view(self):
        good = self.write("nodefault.toml", two_view_config())
        p = run_imx("check-config", "--config", good, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("alpha", "beta"):
            self.assertIn(name, p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
