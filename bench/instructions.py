#!/usr/bin/env python3
"""User-space instructions per cached small-page request, counted by
callgrind (deterministic, unlike req/s or CPU time on this shared VM).

Starts the fake upstream and indexmux under `valgrind --tool=callgrind`,
renders demo-pkg's page, sends 50 warm-up requests on one keep-alive
connection, zeroes the counters, sends N more (pip's Accept, gzip), dumps
the counters and prints the total per request and the top functions.
Not part of `make bench`; needs valgrind (apt-get install valgrind):

    /usr/bin/python3 bench/instructions.py [BIN] [N]   (default build/server/indexmux, 2000)
"""
import glob
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fakes"))
import bench as B  # noqa: E402
import wheels  # noqa: E402


def main():
    binp = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "server",
                                                              "indexmux")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    tmp = tempfile.mkdtemp(prefix="imx-bench-cg-")
    out = os.path.join(tmp, "callgrind.out")
    procs = B.Procs()
    try:
        wdir = os.path.join(tmp, "wheels")
        os.makedirs(wdir)
        small = [wheels.make_wheel(wdir, "demo-pkg", "1.%d" % i) for i in range(5)]
        spec = {"mode": "pypi", "gzip": False,
                "projects": {"demo-pkg": {"files": [{"path": p} for p in small]}}}
        up, _ = B.start_fake(procs, tmp, spec)
        port = B.free_port()
        # valgrind cannot map LMDB's default 64 GiB
        cfg = B.write_config(tmp, port, up, 'lmdb-map-size = "1GiB"\n')
        p = procs.start(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binp,
                         "serve", "--config", cfg],
                        stderr=open(os.path.join(tmp, "valgrind.log"), "w"))
        B.wait_http(port, "/healthz", timeout=60)
        hdr = {"Accept": B.PIP_ACCEPT, "Accept-Encoding": "gzip"}
        B.get(port, "/simple/demo-pkg/", hdr)
        c = http.client.HTTPConnection("127.0.0.1", port)

        def requests(k):
            for _ in range(k):
                c.request("GET", "/simple/demo-pkg/", headers=hdr)
                r = c.getresponse()
                r.read()
                assert r.status == 200, r.status
        requests(50)
        subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
        requests(n)
        subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True)
        c.close()
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        dump = sorted(glob.glob(out + ".*"))[0]
        with open(dump) as fh:
            total = next(int(line.split()[1]) for line in fh if line.startswith("summary:"))
        print("%d requests: %.0f instructions per request (user space, all libraries)"
              % (n, total / n))
        ann = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", dump],
                             capture_output=True, text=True).stdout
        rows = [line for line in ann.splitlines()
                if "%)" in line and not any(w in line for w in ("TOTALS", ":clone", ":start_thread"))]
        print("\n".join(rows[:25]))
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
