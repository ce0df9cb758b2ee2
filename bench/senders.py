#!/usr/bin/env python3
"""How libmicrohttpd's way of sending a file compares with nginx's, apart
from indexmux (the cached-file row of bench.py measures indexmux against
both). Four servers send the same 1 GiB file (random bytes, written with
dd) in interleaved rounds of `curl -o /dev/null`:

  ngx2m      nginx as bench.py runs it (sendfile in steps of up to 2 MiB)
  ngx128k    the same with `sendfile_max_chunk 128k` (libmicrohttpd's step)
  mhd_epoll  bench/mhd_file: libmicrohttpd with indexmux's daemon flags
             (epoll pool; 128 KiB sendfile steps, an event loop between them)
  mhd_tpc    bench/mhd_file ... tpc: a thread per connection (2 MiB steps)

and prints each one's median speed, CPU seconds per GiB (the whole
process, exited threads included) and median speed ratio to ngx2m with a
bootstrap 95% interval. Not part of `make bench`; run after `make build`:

    /usr/bin/python3 bench/senders.py [ROUNDS]     (default 60, ~3 minutes)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

MHD_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench",
                        "mhd_file")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    tmp = tempfile.mkdtemp(prefix="imx-bench-senders-")
    os.chmod(tmp, 0o755)  # nginx workers run as www-data
    procs = B.Procs()
    try:
        root = os.path.join(tmp, "www")
        os.makedirs(root)
        path = os.path.join(root, "f.whl")
        subprocess.run(["dd", "if=/dev/urandom", "of=" + path, "bs=1M", "count=1024"],
                       check=True, capture_output=True)
        os.chmod(path, 0o644)
        servers = []
        for name, extra in (("ngx2m", ""), ("ngx128k", "  sendfile_max_chunk 128k;\n")):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            port = B.free_port()
            conf = B.NGINX_CONF.format(tmp=d, port=port, root=root)
            conf = conf.replace("  sendfile on;\n", "  sendfile on;\n" + extra)
            with open(os.path.join(d, "nginx.conf"), "w") as fh:
                fh.write(conf)
            ngx = procs.start(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d],
                              stderr=subprocess.DEVNULL)
            B.wait_http(port)
            servers.append((name, "http://127.0.0.1:%d/f.whl" % port, B.nginx_workers(ngx.pid)))
        for name, extra in (("mhd_epoll", []), ("mhd_tpc", ["tpc"])):
            port = B.free_port()
            p = procs.start([MHD_FILE, str(port), path] + extra)
            B.wait_http(port)
            servers.append((name, "http://127.0.0.1:%d/" % port, [p.pid]))
        runs = B.interleaved(servers, rounds)
        print("%d interleaved rounds of a 1024 MiB file" % rounds)
        for name, _, _ in servers:
            t = statistics.median(r[name][0] for r in runs)
            cpu = sum(r[name][1] for r in runs) / len(runs)
            med, lo, hi = B.median_ci([r["ngx2m"][0] / r[name][0] for r in runs])
            print("%-10s %5.0f MiB/s  CPU %.3f s per GiB  speed vs ngx2m %.3fx (95%% CI %.3f-%.3f)"
                  % (name, 1024 / t, cpu, med, lo, hi), flush=True)
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
