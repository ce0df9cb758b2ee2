"""Shared helpers of the g_faults_* integration tests (issue 7, items 1 and 3).

Not a test. Builds on b_mirror_common (wheels + a PyPI-shaped and a
PyTorch-shaped fake) with a configuration that has short upstream timeouts
and a small page cap, plus:

    Prober(imx, path)     a second client that keeps fetching a cached page
                          while a fault is in progress; .check() asserts every
                          answer was 200 and came within the limit
    raw_get(port, path)   (status, Content-Length, body, complete?) that does
                          not raise on a cut body
    fsck(imx)             `indexmux fsck` on the server's data dir (server stopped)
    rss_kib(pid)          VmRSS and VmHWM of a process from /proc/<pid>/status
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# raw_get is re-exported for the g_faults_* suites.
from harness import Indexmux, raw_get, run_imx, toml_str  # noqa: E402, F401

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def config(pypi_url, torch_url, ttl=600, negative_ttl=60, timeout=2, max_page_size="256KiB",
           server_extra="", extra=""):
    """Each fake served alone (/pypi/, /pytorch-cu124/), a default view over
    pypi and a "mix" view over both (first-index: torch's 403 falls through
    to pypi)."""
    return """\
[server]
default = "default"
connect-timeout = %d
timeout = %d
max-page-size = %s
%s

[[index]]
name = "pypi"
url = %s
ttl = %d
negative-ttl = %d

[[index]]
name = "pytorch-cu124"
url = %s
ttl = %d
negative-ttl = %d

[virtual.default]
indexes = ["pypi"]

[virtual.mix]
indexes = ["pytorch-cu124", "pypi"]
index-strategy = "first-index"
%s""" % (timeout, timeout, toml_str(max_page_size), server_extra, toml_str(pypi_url), ttl,
         negative_ttl, toml_str(torch_url), ttl, negative_ttl, extra)


class Prober:
    """While the block runs, a second client fetches `path` (a cached page)
    every 50 ms on a fresh connection and records how long each took."""

    def __init__(self, imx, path, accept=JSON_V1):
        self.imx, self.path, self.accept = imx, path, accept
        self.samples = []       # (status, seconds)
        self._stop = threading.Event()
        self._t = None

    def __enter__(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                st = self.imx.get(self.path, {"Accept": self.accept}, timeout=10)[0]
            except OSError:
                st = -1
            self.samples.append((st, time.monotonic() - t0))
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=15)

    def check(self, tc, limit=1.0):
        tc.assertTrue(self.samples, "the prober made no request")
        bad = [s for s in self.samples if s[0] != 200 or s[1] > limit]
        tc.assertEqual(bad, [], "another client was slowed or failed (status, seconds) "
                       "of %d probes" % len(self.samples))


def fsck(imx):
    """`indexmux fsck` on the (stopped) server's data dir: CompletedProcess."""
    args = ["fsck", "--data-dir", imx.data_dir]
    if imx.config_path:
        args[1:1] = ["--config", imx.config_path]
    return run_imx(*args, timeout=120)


def rss_kib(pid):
    """{'VmRSS': kib, 'VmHWM': kib} of pid."""
    out = {}
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def tmp_files(data_dir):
    """Files in the store's temp directories (downloads in progress)."""
    out = []
    for root, _, files in os.walk(data_dir):
        rel = os.path.relpath(root, data_dir).split(os.sep)
        if "tmp" in rel:
            out += [os.path.join(root, f) for f in files]
    return out


def server(m, **kw):
    """An Indexmux on the Mirror's two fakes with config(**kw)."""
    data_dir = kw.pop("data_dir", None)
    return Indexmux(config(m.pypi.index_url(), m.torch.index_url("cu124"), **kw),
                    data_dir=data_dir)
