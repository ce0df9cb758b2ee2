#!/usr/bin/env python3
"""bench/reval.py [BIN]: the request that revalidates numpy's page.

Starts the fake upstream with numpy's real PyPI page (3,464 files) and
indexmux with ttl = 1, fetches /simple/numpy/ (JSON) once, then 6 times
waits 2.2 s (the page is stale) and times the next request, HTTP included:
a revalidation that the upstream answers 304. Prints the times and
indexmux_pages_parsed_total (1 when the first parse is reused).
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else B.BIN
    tmp = tempfile.mkdtemp(prefix="imx-reval-")
    procs = B.Procs()
    try:
        spec = {"mode": "pypi", "gzip": False, "projects": {}, "raw": {"/simple/numpy/": {
            "file": os.path.join(B.SHARED, "fixtures", "pypi-html-real", "numpy.html"),
            "content_type": "text/html"}}}
        up_port, _ = B.start_fake(procs, tmp, spec)
        port = B.free_port()
        cfg = B.write_config(tmp, port, up_port, ttl=1)
        procs.start([binary, "serve", "--config", cfg])
        B.wait_http(port, "/healthz")
        hdr = {"Accept": B.PIP_ACCEPT}
        assert B.get(port, "/simple/numpy/", hdr)[0] == 200
        times = []
        for _ in range(6):
            time.sleep(2.2)  # ttl = 1 in whole seconds: stale for sure
            t0 = time.monotonic()
            st = B.get(port, "/simple/numpy/", hdr)[0]
            times.append((time.monotonic() - t0) * 1000)
            assert st == 200, st
        metrics = B.get(port, "/metrics")[2].decode()
        parsed = re.search(r"^indexmux_pages_parsed_total (\S+)$", metrics, re.M)
        print("numpy revalidated (304), request ms: %s; pages parsed: %s"
              % (" ".join("%.1f" % t for t in times), parsed.group(1) if parsed else "n/a"))
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
