#!/usr/bin/env python3
"""make bench: indexmux against nginx serving the same bytes, on this machine.

Starts a fake upstream (tests/fakes/fake_index.py), indexmux, and nginx
(Debian's nginx-light, serving the bytes indexmux rendered as static files),
then measures with wrk and curl and prints one table of ratios. Results are
also written to bench/results.md (copied into docs/benchmarks.md by hand after
a run). Nothing here reaches beyond 127.0.0.1.

Usage: bench.py [--quick] [--big-mib N] [--pages-only | --restart-only | --hold]
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import wheels  # noqa: E402

SHARED = os.environ.get("IMX_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
BIN = os.environ.get("IMX_BIN", os.path.join(ROOT, "build", "server", "indexmux"))
PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; "
              "q=0.1, text/html; q=0.01")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(port, path="/", timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nothing answered on port %d" % port)


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def wrk(url, headers=(), seconds=8, conns=32, threads=2):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(m.group(1)) if m else 0.0
    lat = None
    if p99:
        v = float(p99.group(1))
        lat = v / 1000 if p99.group(2) == "us" else (v * 1000 if p99.group(2) == "s" else v)
    return rps, lat, int(errs.group(1)) if errs else 0


def curl_time(url, out="/dev/null"):
    t0 = time.monotonic()
    subprocess.run(["curl", "-s", "-f", "-o", out, url], check=True, timeout=600)
    return time.monotonic() - t0


def curl_ttfb(url):
    """(seconds to the first body byte, seconds in all) of one download."""
    out = subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-w",
                          "%{time_starttransfer} %{time_total}", url],
                         check=True, timeout=900, capture_output=True, text=True).stdout
    a, b = out.split()
    return float(a), float(b)


def proc_cpu(pids):
    """CPU seconds (user + system) used so far by pids, all their threads
    included, also those that have exited (a thread per connection)."""
    t = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15)
    return t / os.sysconf("SC_CLK_TCK")


def nginx_workers(master):
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


FILE_ROUNDS = 100


def median_ci(xs, draws=4000, seed=1):
    """The median of xs with a bootstrap 95% interval (resampling xs with
    replacement), so a row says how far its median can be trusted."""
    rnd = random.Random(seed)
    meds = sorted(statistics.median(rnd.choices(xs, k=len(xs))) for _ in range(draws))
    return statistics.median(xs), meds[int(0.025 * draws)], meds[int(0.975 * draws) - 1]


def interleaved(servers, rounds):
    """rounds x [{name: (seconds, CPU seconds of its pids)}], one curl
    download per server per round; seconds is curl's own total. The order
    rotates from round to round, so no server always comes first or last."""
    runs = []
    for i in range(rounds):
        r = {}
        for name, url, pids in servers[i % len(servers):] + servers[:i % len(servers)]:
            c0 = proc_cpu(pids)
            out = subprocess.run(["curl", "-s", "-f", "-o", "/dev/null", "-w", "%{time_total}", url],
                                 check=True, timeout=600, capture_output=True, text=True).stdout
            r[name] = (float(out), proc_cpu(pids) - c0)
        runs.append(r)
    return runs


def lazy_row(port, up_port, spec, big, big_sha, big_mib):
    """uv's lazy metadata on a wheel indexmux has not stored: HEAD, the last
    16 KiB (the zip's central directory), then METADATA's range, each timed
    with a fresh connection; the upstream must see no full GET."""
    spec["projects"]["bigpkg5"] = {"files": [{"path": big, "sha256": big_sha, "metadata": False,
                                              "url_path": "/packages/lazy/" +
                                              os.path.basename(big)}]}
    post_json(up_port, "/_fake/spec", spec)
    st, _, body = get(port, "/simple/bigpkg5/", {"Accept": PIP_ACCEPT})
    assert st == 200, st
    path = "/" + json.loads(body)["files"][0]["url"].split("../")[-1]
    before = len(json.loads(get(up_port, "/_fake/requests")[2]))
    times = []

    def timed(method, headers):
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request(method, path, headers=dict(headers, **{"Accept-Encoding": "identity"}))
        r = c.getresponse()
        data = r.read()
        c.close()
        times.append((time.monotonic() - t0) * 1000)
        return r.status, r, data

    st, r, _ = timed("HEAD", {})
    assert st == 200, st
    size = int(r.getheader("Content-Length"))
    start = size - 16384
    st, _, tail = timed("GET", {"Range": "bytes=%d-%d" % (start, size - 1)})
    assert st == 206 and len(tail) == 16384, st
    sparse = wheels.Sparse(size)
    sparse.add(start, tail)
    zf = zipfile.ZipFile(sparse)
    name = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)][0]
    zi = zf.getinfo(name)
    mstart = zi.header_offset
    mend = min(size - 1, mstart + 30 + len(zi.filename.encode()) + 256 + zi.compress_size)
    st, _, mbytes = timed("GET", {"Range": "bytes=%d-%d" % (mstart, mend)})
    assert st == 206, st
    sparse.add(mstart, mbytes)
    meta = zf.read(name)
    assert meta.startswith(b"Metadata-Version"), meta[:40]
    reqs = json.loads(get(up_port, "/_fake/requests")[2])[before:]
    full = [q for q in reqs if q["method"] == "GET" and not q["headers"].get("Range")]
    return ("uv-style lazy metadata, uncached %d MiB wheel" % big_mib,
            "%.1f ms in all" % sum(times), "", "",
            "HEAD %.1f, last 16 KiB %.1f, METADATA %.1f ms; upstream: %d requests, %d full GETs"
            % (times[0], times[1], times[2], len(reqs), len(full)))


def cached_file_row(procs, big_mib, imx_url, nbase, root, big, blob, ngx_pid, imx_pid, imx_port,
                    rounds):
    """The cached big file vs nginx. One download of 1 GiB takes ~0.6 s here
    and varies by +-20% between consecutive runs, so the row is the median of
    many interleaved rounds, with a bootstrap 95% interval, and what each
    download cost each server in CPU (its threads' utime+stime). nginx serves
    the very file indexmux stored (a hard link: the same page cache) and, as
    a second reference, a copy. bench/mhd_file, bare libmicrohttpd with
    indexmux's daemon flags serving the same blob, splits indexmux's share
    from the library's."""
    shutil.copy(big, os.path.join(root, "big.whl"))
    settle(imx_port)  # the download's commit has put the blob in place
    os.link(blob, os.path.join(root, "blob.whl"))
    servers = [("imx", imx_url, [imx_pid]),
               ("same", nbase + "/blob.whl", nginx_workers(ngx_pid)),
               ("copy", nbase + "/big.whl", nginx_workers(ngx_pid))]
    ref = os.path.join(os.path.dirname(os.path.dirname(BIN)), "bench", "mhd_file")
    if os.path.exists(ref):
        mport = free_port()
        mhd = procs.start([ref, str(mport), blob])
        wait_http(mport)
        servers.append(("mhd", "http://127.0.0.1:%d/" % mport, [mhd.pid]))
    runs = interleaved(servers, rounds)
    t_imx = statistics.median(r["imx"][0] for r in runs)
    t_ngx = statistics.median(r["same"][0] for r in runs)

    def ratio(k):  # indexmux's throughput over k's, per round
        return [r[k][0] / r["imx"][0] for r in runs]
    med, lo, hi = median_ci(ratio("same"))
    cpu = {k: sum(r[k][1] for r in runs) / len(runs) * 1024 / big_mib for k in runs[0]}
    note = ("%d interleaved rounds, 95%% CI of the median %.2f-%.2fx; vs nginx on a copy %.2fx; "
            % (len(runs), lo, hi, statistics.median(ratio("copy"))))
    if "mhd" in runs[0]:
        m, mlo, mhi = median_ci(ratio("mhd"))
        note += "vs bare libmicrohttpd %.2fx (CI %.2f-%.2f); " % (m, mlo, mhi)
    note += "CPU per GiB: indexmux %.3f s, nginx %.3f s (copy %.3f s%s)" % (
        cpu["imx"], cpu["same"], cpu["copy"],
        ", libmicrohttpd %.3f s" % cpu["mhd"] if "mhd" in cpu else "")
    return ("cached %d MiB file" % big_mib, "%.0f MiB/s" % (big_mib / t_imx),
            "%.0f MiB/s" % (big_mib / t_ngx), "%.2fx" % med, note)


def settle(port, timeout=120):
    """Wait until indexmux has no download in flight (a finished download
    still commits its file: an fsync of 1 GiB), then flush dirty pages, so
    that what an earlier row wrote does not run during the next one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = get(port, "/metrics")[2].decode()
        m = re.search(r"^indexmux_transfers_in_flight (\S+)$", body, re.M)
        if m and float(m.group(1)) == 0:
            break
        time.sleep(0.2)
    os.sync()
    time.sleep(1)


def post_json(port, path, obj):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", path, body=json.dumps(obj))
    c.getresponse().read()
    c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


NGINX_CONF = """
worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  types {{ }}
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    gzip_static on;
    location ~ \\.json$ {{ default_type application/vnd.pypi.simple.v1+json; }}
    location ~ \\.html$ {{ default_type text/html; }}
  }}
}}
"""


PAUSE = float(os.environ.get("IMX_BENCH_PAUSE", "1"))


def start_fake(procs, tmp, spec):
    """The fake upstream serving `spec`: (pages port, files port)."""
    spec_path = os.path.join(tmp, "spec.json")
    with open(spec_path, "w") as fh:
        json.dump(spec, fh)
    fake = procs.start([sys.executable, os.path.join(ROOT, "tests", "fakes", "fake_index.py"),
                        "--config", spec_path, "--port", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = fake.stdout.readline().split()
    return int(line[1]), int(line[3])


def write_config(tmp, port, up_port, server_extra="", ttl=3600):
    """indexmux's config for the bench: view default over the fake as pypi."""
    cfg = os.path.join(tmp, "indexmux.toml")
    with open(cfg, "w") as fh:
        fh.write('[server]\nlisten = "127.0.0.1:%d"\ndata-dir = "%s"\n%slog-level = "warn"\n\n'
                 '[[index]]\nname = "pypi"\nurl = "http://127.0.0.1:%d/simple/"\nttl = %d\n\n'
                 '[virtual.default]\nindexes = ["pypi"]\n'
                 % (port, os.path.join(tmp, "data"), server_extra, up_port, ttl))
    return cfg


def restart_rows(procs, tmp, cfg, port, rounds=5):
    """numpy right after a restart. indexmux must be stopped, its data dir
    (<tmp>/data) holding numpy's upstream page, fresh, and /simple/numpy/
    rendered as JSON (and, since the rendered pages are kept in LMDB, stored).
    Each round restores that metadata (so /default/simple/numpy/ is never
    stored), starts indexmux and times, HTTP included, each request PAUSE
    seconds (env IMX_BENCH_PAUSE, default 1) after the previous one:
      1. /simple/numpy/ (JSON): the first request after the restart; a stored
         rendering whose inputs still hold is loaded (no parse, no merge);
      2. /default/simple/numpy/ (JSON): a page with no stored rendering:
         LMDB read + parse + merge + render (+ gzip + store);
      3. the same as HTML: a new rendering of the input parsed in 2
         (merge + render + gzip + store).
    Returns the table rows."""
    lmdb = os.path.join(tmp, "data", "index.lmdb")
    saved = os.path.join(tmp, "index.lmdb.saved")
    shutil.rmtree(saved, ignore_errors=True)
    shutil.copytree(lmdb, saved)
    first, nostored, newrender, loaded = [], [], [], []
    for _ in range(rounds):
        shutil.rmtree(lmdb)
        shutil.copytree(saved, lmdb)
        imx = procs.start([BIN, "serve", "--config", cfg],
                          stderr=open(os.path.join(tmp, "imx2.log"), "a"))
        wait_http(port, "/healthz")
        for path, hdr, into in (("/simple/numpy/", {"Accept": PIP_ACCEPT}, first),
                                ("/default/simple/numpy/", {"Accept": PIP_ACCEPT}, nostored),
                                ("/default/simple/numpy/", {"Accept": "text/html"}, newrender)):
            # Let the writer thread gzip and store the previous rendering first:
            # on this 2-core machine it would otherwise compete with this one.
            time.sleep(PAUSE)
            t0 = time.monotonic()
            st, h, body = get(port, path, hdr)
            into.append((time.monotonic() - t0) * 1000)
            assert st == 200, (path, st)
        m = re.search(rb'indexmux_rendered_pages_total\{outcome="loaded"\} (\d+)',
                      get(port, "/metrics")[2])
        loaded.append(int(m.group(1)) if m else 0)
        imx.send_signal(signal.SIGTERM)
        imx.wait(30)
    rows = [("numpy: first request after restart", "median %.1f ms" % statistics.median(first),
             "", "", "stored renderings loaded: %s; no upstream request" % loaded),
            ("numpy: page without a stored rendering after restart",
             "median %.1f ms" % statistics.median(nostored), "", "",
             "LMDB read + parse + merge + render, incl. HTTP"),
            ("numpy: new rendering of a parsed input", "median %.1f ms" % statistics.median(newrender),
             "", "", "merge + render, incl. HTTP")]
    for r in rows:
        print(r, flush=True)
    return rows


def main_restart_only():
    """bench.py --restart-only: the restart rows alone (no nginx, no wrk)."""
    tmp = tempfile.mkdtemp(prefix="imx-bench-")
    procs = Procs()
    rows = []
    try:
        spec = {"mode": "pypi", "gzip": False, "projects": {},
                "raw": {"/simple/numpy/": {"file": os.path.join(SHARED, "fixtures", "pypi-html-real",
                                                                "numpy.html"),
                                           "content_type": "text/html"}}}
        up_port, _ = start_fake(procs, tmp, spec)
        port = free_port()
        cfg = write_config(tmp, port, up_port)
        imx = procs.start([BIN, "serve", "--config", cfg], stderr=open(os.path.join(tmp, "imx.log"), "w"))
        wait_http(port, "/healthz")
        st, _, _ = get(port, "/simple/numpy/", {"Accept": PIP_ACCEPT})
        assert st == 200, st
        imx.send_signal(signal.SIGTERM)
        imx.wait(30)
        rows = restart_rows(procs, tmp, cfg, port)
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| measurement | indexmux | note |")
    print("|---|---|---|")
    for r in rows:
        print("| %s | %s | %s |" % (r[0], r[1], r[4]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter runs, 256 MiB file")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--pages-only", action="store_true",
                    help="only the page rows (req/s vs nginx), then stop")
    ap.add_argument("--restart-only", action="store_true",
                    help="only the numpy-after-restart rows (no nginx or wrk needed)")
    ap.add_argument("--file-only", action="store_true",
                    help="only the cached big file row (after storing the file), then stop")
    ap.add_argument("--file-rounds", type=int, default=FILE_ROUNDS,
                    help="interleaved rounds of the cached big file row (default %(default)s)")
    ap.add_argument("--hold", action="store_true",
                    help="set up (pages rendered, big file cached, nginx serving the same "
                         "bytes), print the URLs, then wait until interrupted: for profiling")
    args = ap.parse_args()
    # SIGTERM (e.g. ending --hold) unwinds like ^C, so the finally clauses
    # stop the servers and remove the temp dir.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.restart_only:
        return main_restart_only()
    secs = 4 if args.quick else 8
    big_mib = 256 if args.quick else args.big_mib
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = tempfile.mkdtemp(prefix="imx-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as www-data and must read the files
    procs = Procs()
    rows = []
    try:
        # -- upstream: a small project, numpy's real page, a big wheel --
        wdir = os.path.join(tmp, "wheels")
        os.makedirs(wdir)
        small = [wheels.make_wheel(wdir, "demo-pkg", "1.%d" % i) for i in range(5)]
        print("building a %d MiB wheel..." % big_mib, flush=True)
        big = wheels.make_big_wheel(wdir, "bigpkg", "1.0", big_mib << 20)
        big_sha = wheels.sha256_of(big)
        spec = {"mode": "pypi", "gzip": False, "projects": {
            "demo-pkg": {"files": [{"path": p} for p in small]},
            "bigpkg": {"files": [{"path": big, "sha256": big_sha, "metadata": False}]},
        }, "raw": {"/simple/numpy/": {"file": os.path.join(SHARED, "fixtures", "pypi-html-real",
                                                           "numpy.html"),
                                      "content_type": "text/html"}}}
        up_port, files_port = start_fake(procs, tmp, spec)

        # -- indexmux --
        port = free_port()
        cfg = write_config(tmp, port, up_port, "max-connections = 8192\n")
        imx = procs.start([BIN, "serve", "--config", cfg], stderr=open(os.path.join(tmp, "imx.log"), "w"))
        wait_http(port, "/healthz")

        # -- nginx serving the same bytes indexmux renders --
        root = os.path.join(tmp, "www")
        os.makedirs(root)
        pages = {
            "small-html": ("/simple/demo-pkg/", {}, "demo.html"),
            "small-json": ("/simple/demo-pkg/", {"Accept": PIP_ACCEPT}, "demo.json"),
            "numpy-json": ("/simple/numpy/", {"Accept": PIP_ACCEPT}, "numpy.json"),
        }
        for name, (path, hdr, fn) in pages.items():
            st, h, body = get(port, path, hdr)
            assert st == 200, (name, st)
            with open(os.path.join(root, fn), "wb") as fh:
                fh.write(body)
            import gzip as gz
            with open(os.path.join(root, fn + ".gz"), "wb") as fh:
                fh.write(gz.compress(body, 6))
        st, h, body = get(port, "/simple/bigpkg/", {"Accept": PIP_ACCEPT})
        big_url = json.loads(body)["files"][0]["url"]
        blob = os.path.join(tmp, "data", "blobs", big_sha[:2], big_sha[2:4], big_sha)  # once stored
        big_path = "/" + big_url.split("../")[-1]
        ngx_port = free_port()
        ngx_conf = os.path.join(tmp, "nginx.conf")
        with open(ngx_conf, "w") as fh:
            fh.write(NGINX_CONF.format(tmp=tmp, port=ngx_port, root=root))
        ngx = procs.start(["nginx", "-c", ngx_conf, "-p", tmp], stderr=subprocess.DEVNULL)
        wait_http(ngx_port, "/demo.html")
        for fn in ("demo.html", "demo.json", "numpy.json"):
            st, _, body = get(ngx_port, "/" + fn)
            assert st == 200 and body == open(os.path.join(root, fn), "rb").read(), (fn, st)

        def ratio_row(label, imx_url, ngx_url, headers=()):
            # Three alternating pairs of runs: this 2-core machine drifts by
            # +-20% between consecutive runs, so one pair proves little. The
            # row shows the medians and the range of the three pair ratios.
            pairs = []
            for _ in range(3):
                a = wrk(imx_url, headers, max(2, secs // 2))
                b = wrk(ngx_url, headers, max(2, secs // 2))
                pairs.append((a[0], b[0], a[2] + b[2]))
            ia = statistics.median(p[0] for p in pairs)
            nb = statistics.median(p[1] for p in pairs)
            ratios = sorted(p[0] / p[1] if p[1] else 0 for p in pairs)
            rows.append((label, "%.0f req/s" % ia, "%.0f req/s" % nb,
                         "%.2fx" % statistics.median(ratios),
                         "pairs %.2f-%.2fx; non-2xx: %d" % (ratios[0], ratios[-1],
                                                              sum(p[2] for p in pairs))))
            print(rows[-1], flush=True)

        base = "http://127.0.0.1:%d" % port
        nbase = "http://127.0.0.1:%d" % ngx_port
        if args.hold:
            shutil.copy(big, os.path.join(root, "big.whl"))
            curl_time(base + big_path)  # stores it
            settle(port)
            os.link(blob, os.path.join(root, "blob.whl"))
            print(json.dumps({"indexmux": base, "indexmux_pid": imx.pid, "nginx": nbase,
                              "upstream": "http://127.0.0.1:%d" % up_port,
                              "pages": {n: p for n, (p, _, _) in pages.items()},
                              "big_cached": base + big_path, "big_nginx": nbase + "/big.whl",
                              "big_nginx_same_file": nbase + "/blob.whl",
                              "json_accept": PIP_ACCEPT}, indent=1), flush=True)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            return 0
        if not args.file_only:
            ratio_row("small page HTML", base + "/simple/demo-pkg/", nbase + "/demo.html")
            ratio_row("small page JSON", base + "/simple/demo-pkg/", nbase + "/demo.json",
                      ["Accept: " + PIP_ACCEPT])
            ratio_row("small page JSON gzip", base + "/simple/demo-pkg/", nbase + "/demo.json",
                      ["Accept: " + PIP_ACCEPT, "Accept-Encoding: gzip"])
            ratio_row("numpy page JSON (3,464 files)", base + "/simple/numpy/",
                      nbase + "/numpy.json", ["Accept: " + PIP_ACCEPT])
            ratio_row("numpy page JSON gzip", base + "/simple/numpy/", nbase + "/numpy.json",
                      ["Accept: " + PIP_ACCEPT, "Accept-Encoding: gzip"])

        if args.pages_only:
            return 0

        # -- cold big file: through indexmux vs directly from the fake --
        direct_url = None
        st, h, body = get(up_port, "/simple/bigpkg/", {"Accept": PIP_ACCEPT})
        direct_url = json.loads(body)["files"][0]["url"]
        t_direct = min(curl_time(direct_url) for _ in range(2))
        t_cold = curl_time(base + big_path)
        rows.append(("cold %d MiB file" % big_mib, "%.0f MiB/s" % (big_mib / t_cold),
                     "%.0f MiB/s (direct)" % (big_mib / t_direct), "%.2fx" % (t_direct / t_cold), ""))
        print(rows[-1], flush=True)

        rows.append(cached_file_row(procs, big_mib, base + big_path, nbase, root, big, blob,
                                    ngx.pid, imx.pid, port, args.file_rounds))
        print(rows[-1], flush=True)
        if args.file_only:
            return 0

        # -- cold big file again, with nginx as the upstream: the Python fake
        # spends a core of this 2-core machine sending, which the direct
        # download does not have to share; nginx sends with sendfile --
        spec["raw"]["/simple/bigngx/"] = {
            "body": '<a href="http://127.0.0.1:%d/big.whl#sha256=%s">%s</a>'
                    % (ngx_port, big_sha, os.path.basename(big)),
            "content_type": "text/html"}
        c = http.client.HTTPConnection("127.0.0.1", up_port)
        c.request("POST", "/_fake/spec", body=json.dumps(spec))
        c.getresponse().read()
        c.close()
        st, h, body = get(port, "/simple/bigngx/", {"Accept": PIP_ACCEPT})
        ngx_cold_path = "/" + json.loads(body)["files"][0]["url"].split("../")[-1]
        t_direct = min(curl_time(nbase + "/big.whl") for _ in range(2))
        t_cold = curl_time(base + ngx_cold_path)
        rows.append(("cold %d MiB file, nginx upstream" % big_mib, "%.0f MiB/s" % (big_mib / t_cold),
                     "%.0f MiB/s (direct)" % (big_mib / t_direct), "%.2fx" % (t_direct / t_cold), ""))
        print(rows[-1], flush=True)

        # -- cold big file from an upstream at a network's speed (1 Gbit/s):
        # the real case, where the upstream is not on this machine; also the
        # time to the first byte, direct and through indexmux --
        rate = 125_000_000
        spec["projects"]["bigpkg3"] = {"files": [{"path": big, "sha256": big_sha, "metadata": False,
                                                  "url_path": "/packages/third/" + os.path.basename(big)}]}
        post_json(up_port, "/_fake/spec", spec)
        post_json(up_port, "/_fake/fault", {"path_prefix": "/packages/third/", "kind": "slow",
                                            "bytes_per_sec": rate, "count": 2, "port": "files"})
        st, h, body = get(port, "/simple/bigpkg3/", {"Accept": PIP_ACCEPT})
        url3 = "/" + json.loads(body)["files"][0]["url"].split("../")[-1]
        st, h, body = get(up_port, "/simple/bigpkg3/", {"Accept": PIP_ACCEPT})
        direct3 = json.loads(body)["files"][0]["url"]
        d_ttfb, d_total = curl_ttfb(direct3)
        i_ttfb, i_total = curl_ttfb(base + url3)
        rows.append(("cold %d MiB file, upstream at 1 Gbit/s" % big_mib,
                     "%.0f MiB/s" % (big_mib / i_total), "%.0f MiB/s (direct)" % (big_mib / d_total),
                     "%.2fx" % (d_total / i_total), "same throttled upstream for both"))
        rows.append(("cold file: time to first byte", "%.1f ms" % (i_ttfb * 1000),
                     "%.1f ms (direct)" % (d_ttfb * 1000), "", "upstream at 1 Gbit/s"))
        print(rows[-2], rows[-1], flush=True)

        rows.append(lazy_row(port, up_port, spec, big, big_sha, big_mib))
        print(rows[-1], flush=True)

        # -- 50 concurrent cold clients of a new big file --
        before = len(json.loads(get(up_port, "/_fake/requests")[2]))
        spec["projects"]["bigpkg2"] = {"files": [{"path": big.replace("bigpkg-1.0", "bigpkg-1.0"),
                                                  "sha256": big_sha, "metadata": False,
                                                  "url_path": "/packages/second/" + os.path.basename(big)}]}
        c = http.client.HTTPConnection("127.0.0.1", up_port)
        c.request("POST", "/_fake/spec", body=json.dumps(spec))
        c.getresponse().read()
        c.close()
        st, h, body = get(port, "/simple/bigpkg2/", {"Accept": PIP_ACCEPT})
        url2 = "/" + json.loads(body)["files"][0]["url"].split("../")[-1]
        results = []

        def one():
            h_ = hashlib.sha256()
            c_ = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c_.request("GET", url2)
            r_ = c_.getresponse()
            n = 0
            while True:
                chunk = r_.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                h_.update(chunk)
            results.append((r_.status, n, h_.hexdigest()))
        t0 = time.monotonic()
        ths = [threading.Thread(target=one) for _ in range(50)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(900)
        t50 = time.monotonic() - t0
        reqs = [r for r in json.loads(get(up_port, "/_fake/requests")[2])[before:]
                if r["path"].endswith(".whl")]
        ok = sum(1 for s, n, d in results if s == 200 and d == big_sha)
        rows.append(("50 concurrent cold clients", "%d/50 complete+correct" % ok,
                     "%d upstream request(s)" % len(reqs), "%.1f s" % t50, ""))
        print(rows[-1], flush=True)

        # -- 2,000 idle connections: latency and RSS, on a fresh server that
        # has served the small page (the big-file tests above leave freed
        # malloc arenas in the process's RSS) --
        imx.send_signal(signal.SIGTERM)
        imx.wait(30)
        imx = procs.start([BIN, "serve", "--config", cfg], stderr=open(os.path.join(tmp, "imx.log"), "a"))
        wait_http(port, "/healthz")
        get(port, "/simple/demo-pkg/")
        rss0 = rss_kib(imx.pid)
        idle = []
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", port))
            idle.append(s)
        time.sleep(1)
        lat = []
        for _ in range(300):
            t0 = time.monotonic()
            get(port, "/simple/demo-pkg/")
            lat.append((time.monotonic() - t0) * 1000)
        lat.sort()
        rss = rss_kib(imx.pid)
        for s in idle:
            s.close()
        rows.append(("2,000 idle connections", "p99 %.2f ms" % lat[int(len(lat) * 0.99) - 1],
                     "RSS %.1f MiB" % (rss / 1024), "", "RSS before: %.1f MiB" % (rss0 / 1024)))
        print(rows[-1], flush=True)

        # -- numpy after a restart (see restart_rows). The big files stored
        # above moved the files generation (their PEP 658 metadata now shows
        # on pages), which rightly voids the rendering stored earlier: render
        # and store numpy once more first, as a server in use would have --
        st, _, _ = get(port, "/simple/numpy/", {"Accept": PIP_ACCEPT})
        assert st == 200, st
        time.sleep(2)  # the writer thread gzips and stores it
        imx.send_signal(signal.SIGTERM)
        imx.wait(30)
        rows.extend(restart_rows(procs, tmp, cfg, port))
        rb = os.path.join(os.path.dirname(os.path.dirname(BIN)), "bench", "render_bench")
        if os.path.exists(rb):
            out = subprocess.run([rb, os.path.join(SHARED, "fixtures", "pypi-html-real", "numpy.html"),
                                  "50"], capture_output=True, text=True, timeout=300).stdout
            for line in out.splitlines():
                m = re.search(r"^(\w+): .*median ([\d.]+) ms, p90 ([\d.]+) ms", line)
                if m:
                    rows.append(("numpy merge+render in process (%s)" % m.group(1),
                                 "median %s ms" % m.group(2), "", "",
                                 "p90 %s ms; build/bench/render_bench" % m.group(3)))
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # several GiB of wheels and copies

    lines = ["| measurement | indexmux | nginx / reference | ratio | note |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    table = "\n".join(lines)
    print()
    print(table)
    with open(os.path.join(HERE, "results.md"), "w") as fh:
        fh.write(table + "\n")


if __name__ == "__main__":
    main()
