#!/usr/bin/env python3
"""A scriptable fake upstream package index (stdlib only).

Two shapes, chosen by the spec's "mode":

  pypi     PyPI-shaped pages at <prefix> (default /simple/): PEP 503 HTML or
           PEP 691 JSON by Accept (q-values, ?format=), 301 for a missing
           slash or a non-normalized name, 404 for unknown projects, strong
           ETag + Last-Modified (304), optional gzip. File URLs are ABSOLUTE
           on a second port (like files.pythonhosted.org), with
           `<file url>.metadata` (PEP 658) for files that advertise it.
  pytorch  download.pytorch.org/whl/<variant>/ shaped: static HTML whatever
           the Accept, no <head>, root-relative hrefs with %2B, literal '+' in
           anchor text, optional missing hashes, 403 + S3 AccessDenied XML for
           anything unknown (including a missing slash and a literal '+' in a
           requested path).

Both ports serve files (Content-Length, Accept-Ranges, single Range -> 206,
416, If-Range, HEAD), streamed from disk in 64 KiB chunks by one thread per
connection, so a multi-GB download never blocks other requests.

Every request except /_fake/ control calls is recorded. Faults are injected
per path prefix (see Fault kinds below) and apply until cleared or until
their count is used up.

Run as a subprocess:   fake_index.py --config spec.json [--port 0] [--files-port 0]
  first stdout line:   PORT <pages> FILES <files>
Or in-process:         with FakeIndex(spec) as fx: ...

Spec (JSON; relative paths are relative to the spec file):
  {
    "mode": "pypi",                       # or "pytorch"
    "prefix": "/simple/",                 # pypi: where pages live
    "api_version": "1.1",                 # pypi: "1.0" omits size, >=1.4 adds project-status
    "gzip": true,                         # compress pages when Accept-Encoding allows
    "auth": {"user": "u", "password": "p", "files": false},
    "projects": {                         # pypi mode
      "Demo-Pkg": {"status": "active", "files": [
        {"path": "/tmp/x/demo_pkg-1.0-py3-none-any.whl",
         "requires_python": ">=3.8",      # optional
         "yanked": false,                 # false | true | "reason"
         "metadata": true,                # PEP 658 (default: true for wheels in pypi mode)
         "hash": true,                    # emit sha256 (default true)
         "sha256": "...",                 # optional precomputed (skip hashing big files)
         "upload_time": "2024-01-01T00:00:00.000000Z",
         "url_path": "/packages/...",     # optional path on the files port
         "absolute": true                 # pytorch: href on the files port (download-r2 style)
        }]}},
    "variants": {                         # pytorch mode: /whl/<variant>/<project>/
      "cu124": {"torch": {"files": [{"path": "...", "hash": false}]}}},
    "raw": {"/some/path": {"file": "fixture.html", "body": "...",
                           "status": 200, "content_type": "text/html"}}
  }

Fault kinds (POST /_fake/fault {"path_prefix": "/x", "kind": K, "method": "GET",
"count": N, "port": "pages"|"files", ...params}):
  status {code, body, headers}     stall_before {seconds}
  stall_mid {after, seconds}       reset_mid {after}      (RST)
  short_body {after}  (announce Content-Length, send `after` bytes, FIN)
  corrupt {offset}    (flip one byte; default: the middle)
  long_body {extra}   (send `extra` bytes beyond Content-Length, then close)
  redirect {location, code}        redirect_loop {code}
  slow {bytes_per_sec}             html_garbage     json_garbage
  gzip_bomb {size}    (Content-Encoding: gzip of `size` zero bytes, default 1 GiB)
  close               (close the connection without any response)
  chunked_cut {after} (Transfer-Encoding: chunked instead of Content-Length; send
                       `after` bytes (default: all of them) in chunks, then FIN
                       without the final 0-length chunk)

Control endpoints (pages port): GET /_fake/requests[?path_prefix=], POST
/_fake/reset, POST /_fake/fault, POST /_fake/clear_faults, POST /_fake/spec
(replace the whole spec), GET /_fake/info.
"""

import argparse
import base64
import email.utils
import gzip
import hashlib
import html
import http.client
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import zipfile
import zlib

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
_CHUNK = 64 * 1024
_RECORDED_HEADERS = ("Accept", "Accept-Encoding", "Range", "If-Range", "If-None-Match",
                     "If-Modified-Since", "Cache-Control", "User-Agent", "Host")

S3_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
                    b"<RequestId>FAKE0000000000000</RequestId>"
                    b"<HostId>ZmFrZS1pbmRleC1ob3N0LWlk</HostId></Error>")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_of(filename):
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 5 else ""
    for ext in (".tar.gz", ".tar.bz2", ".zip", ".tgz", ".tar"):
        if filename.endswith(ext):
            base = filename[: -len(ext)]
            return base.rsplit("-", 1)[1] if "-" in base else ""
    return ""


def _version_key(v):
    """A rough PEP 440 ordering, enough for test data."""
    v = v.lower()
    public, _, local = v.partition("+")
    m = re.match(r"^v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta)[-_.]?(\d*))?"
                 r"(?:[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?dev[-_.]?(\d*))?$", public)
    if not m:
        return ((), 0, 0, 0, 0, v)
    rel = tuple(int(x) for x in m.group(1).split("."))
    while rel and rel[-1] == 0:
        rel = rel[:-1]
    pre = {"a": 1, "alpha": 1, "b": 2, "beta": 2, "c": 3, "rc": 3}.get(m.group(2) or "", 9)
    pre_n = int(m.group(3) or 0)
    post = int(m.group(5) or 0) + 1 if m.group(4) else 0
    dev = 0 if m.group(6) is not None else 1
    return (rel, pre, pre_n, post, dev, local)


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _metadata_bytes(path):
    try:
        with zipfile.ZipFile(path) as zf:
            for n in zf.namelist():
                p = n.split("/")
                if len(p) == 2 and p[0].endswith(".dist-info") and p[1] == "METADATA":
                    return zf.read(n)
    except (zipfile.BadZipFile, OSError):
        pass
    return None


def _http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def _etag(body):
    return '"%s"' % base64.b64encode(hashlib.md5(body).digest()).decode().rstrip("=")


# ---------------------------------------------------------------- negotiation

def _parse_accept(value):
    out = []
    for i, part in enumerate(value.split(",")):
        bits = [b.strip() for b in part.split(";")]
        mt = bits[0].lower()
        if not mt:
            continue
        q = 1.0
        for p in bits[1:]:
            k, _, val = p.partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(val.strip())
                except ValueError:
                    q = 0.0
        out.append((mt, q, i))
    return out


def negotiate(accept, fmt=None):
    """Return the Content-Type PyPI would send (never 406: falls back to text/html)."""
    alias = {"application/vnd.pypi.simple.latest+json": JSON_V1,
             "application/vnd.pypi.simple.latest+html": HTML_V1}
    offers = [TEXT_HTML, HTML_V1, JSON_V1]
    if fmt:
        fmt = alias.get(fmt, fmt)
        if fmt in offers:
            return fmt
    if not accept:
        return TEXT_HTML
    parsed = [(alias.get(mt, mt), q, i) for mt, q, i in _parse_accept(accept)]
    best, best_q = None, 0.0
    for off in offers:
        q = 0.0
        spec_rank = -1
        for mt, mq, _ in parsed:
            if mt == off:
                rank = 3
            elif mt.endswith("/*") and off.startswith(mt[:-1]):
                rank = 2
            elif mt == "*/*":
                rank = 1
            else:
                continue
            if rank > spec_rank:
                spec_rank, q = rank, mq
        if q > best_q:
            best, best_q = off, q
    return best or TEXT_HTML


# ---------------------------------------------------------------- state

class _File:
    __slots__ = ("disk", "filename", "size", "sha256", "hash", "yanked", "requires_python",
                 "upload_time", "metadata", "metadata_sha256", "url_path", "absolute",
                 "version", "mtime")


class _State:
    """Spec, derived tables, request log and faults; shared by all handlers."""

    def __init__(self, spec, base_dir):
        self.lock = threading.Lock()
        self.base_dir = base_dir
        self.requests = []
        self.faults = []
        self.serial = 1000
        self.start_time = int(time.time()) - 3600
        self.stop = threading.Event()
        self.ports = {"pages": 0, "files": 0}
        self._hash_cache = {}
        self._bomb_cache = {}
        self.load(spec)

    # -- spec -------------------------------------------------------------
    def _abs(self, p):
        return p if os.path.isabs(p) else os.path.join(self.base_dir, p)

    def _file(self, fs, mode, variant, idx):
        f = _File()
        f.disk = self._abs(fs["path"])
        f.filename = fs.get("filename") or os.path.basename(f.disk)
        st = os.stat(f.disk)
        f.size, f.mtime = st.st_size, st.st_mtime
        key = (f.disk, st.st_size, st.st_mtime)
        f.sha256 = fs.get("sha256") or self._hash_cache.get(key)
        if not f.sha256:
            f.sha256 = self._hash_cache[key] = _sha256_file(f.disk)
        f.hash = fs.get("hash", True)
        f.yanked = fs.get("yanked", False)
        f.requires_python = fs.get("requires_python")
        f.upload_time = fs.get("upload_time")
        if f.upload_time is None and mode == "pypi":
            f.upload_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                1704067200 + 3600 * idx)) + ".000000Z"
        want_md = fs.get("metadata", mode == "pypi" and f.filename.endswith(".whl"))
        f.metadata = _metadata_bytes(f.disk) if want_md else None
        if want_md and f.metadata is None:
            raise ValueError("metadata requested but %s has no METADATA" % f.disk)
        f.metadata_sha256 = hashlib.sha256(f.metadata).hexdigest() if f.metadata else None
        f.absolute = fs.get("absolute", mode == "pypi")
        if fs.get("url_path"):
            f.url_path = fs["url_path"]
        elif mode == "pypi":
            h = f.sha256
            f.url_path = "/packages/%s/%s/%s/%s" % (h[:2], h[2:4], h[4:], f.filename)
        else:
            f.url_path = "/whl/%s/%s" % (variant, f.filename)
        f.version = _version_of(f.filename)
        return f

    def load(self, spec):
        mode = spec.get("mode", "pypi")
        if mode not in ("pypi", "pytorch"):
            raise ValueError("mode must be pypi or pytorch")
        prefix = spec.get("prefix", "/simple/")
        if not prefix.endswith("/"):
            prefix += "/"
        projects = {}   # (variant or None, normalized) -> dict
        files = {}      # decoded url path -> _File
        idx = 0
        if mode == "pypi":
            groups = [(None, spec.get("projects", {}))]
        else:
            groups = list(spec.get("variants", {}).items())
        for variant, projs in groups:
            for display, pspec in projs.items():
                flist = []
                for fs in pspec.get("files", []):
                    f = self._file(fs, mode, variant, idx)
                    idx += 1
                    flist.append(f)
                    files[f.url_path] = f
                flist.sort(key=lambda f: (_version_key(f.version), f.filename))
                projects[(variant, normalize(display))] = {
                    "display": display, "files": flist,
                    "status": pspec.get("status", "active"),
                }
        raw = {}
        for path, r in spec.get("raw", {}).items():
            body = r.get("body", "")
            if "file" in r:
                with open(self._abs(r["file"]), "rb") as fh:
                    body = fh.read()
            elif isinstance(body, str):
                body = body.encode()
            raw[path] = (r.get("status", 200), r.get("content_type", "text/html"), body)
        with self.lock:
            self.spec = spec
            self.mode = mode
            self.prefix = prefix
            self.api_version = str(spec.get("api_version", "1.1"))
            self.gzip = spec.get("gzip", mode == "pypi")
            self.auth = spec.get("auth")
            self.projects = projects
            self.files = files
            self.raw = raw
            self.serial += 1
            self.last_modified = int(time.time()) - 60

    # -- log and faults ---------------------------------------------------
    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def get_requests(self, path_prefix=None, method=None):
        with self.lock:
            out = list(self.requests)
        if path_prefix:
            out = [r for r in out if r["path"].startswith(path_prefix)
                   or r["decoded_path"].startswith(path_prefix)]
        if method:
            out = [r for r in out if r["method"] == method]
        return out

    def reset(self):
        with self.lock:
            self.requests = []

    def add_fault(self, f):
        if "kind" not in f or "path_prefix" not in f:
            raise ValueError("fault needs kind and path_prefix")
        known = ("status", "stall_before", "stall_mid", "reset_mid", "short_body", "corrupt",
                 "long_body", "redirect", "redirect_loop", "slow", "html_garbage",
                 "json_garbage", "gzip_bomb", "close", "chunked_cut")
        if f["kind"] not in known:
            raise ValueError("unknown fault kind %r" % f["kind"])
        with self.lock:
            self.faults.append(dict(f))

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def take_fault(self, method, raw_path, decoded_path, port):
        with self.lock:
            for f in self.faults:
                pp = f["path_prefix"]
                if not (raw_path.startswith(pp) or decoded_path.startswith(pp)):
                    continue
                if f.get("method") and f["method"].upper() != method:
                    continue
                if f.get("port") and f["port"] != port:
                    continue
                if "count" in f and f["count"] is not None:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.faults.remove(f)
                return dict(f)
        return None

    def gzip_bomb(self, size):
        with self.lock:
            if size in self._bomb_cache:
                return self._bomb_cache[size]
        co = zlib.compressobj(9, zlib.DEFLATED, 31)
        zero = bytes(1 << 20)
        parts, left = [], size
        while left > 0:
            n = min(left, len(zero))
            parts.append(co.compress(zero[:n]))
            left -= n
        parts.append(co.flush())
        data = b"".join(parts)
        with self.lock:
            self._bomb_cache[size] = data
        return data

    # -- rendering --------------------------------------------------------
    def base_url(self, port_name):
        return "http://127.0.0.1:%d" % self.ports[port_name]

    def file_href(self, f):
        path = urllib.parse.quote(f.url_path, safe="/")
        if f.absolute:
            return self.base_url("files") + path
        return path

    def pypi_index(self, ctype):
        projs = sorted((k[1], v) for k, v in self.projects.items())
        if ctype == JSON_V1:
            doc = {"meta": {"_last-serial": self.serial, "api-version": self.api_version},
                   "projects": [{"_last-serial": self.serial, "name": v["display"]}
                                for _, v in projs]}
            return _json_bytes(doc)
        lines = ['<!DOCTYPE html>', '<html lang="en">', '  <head>',
                 '    <meta name="pypi:repository-version" content="%s">' % self.api_version,
                 '    <title>Simple index</title>', '  </head>', '  <body>']
        for n, v in projs:
            lines.append('    <a href="%s%s/">%s</a>' % (self.prefix, n, html.escape(v["display"])))
        lines += ['  </body>', '</html>']
        return ("\n".join(lines) + "\n").encode()

    def pypi_project(self, norm, p, ctype):
        api = self.api_version
        api_t = tuple(int(x) for x in api.split("."))
        if ctype == JSON_V1:
            files = []
            for f in p["files"]:
                d = {"filename": f.filename, "url": self.file_href(f),
                     "hashes": {"sha256": f.sha256} if f.hash else {},
                     "requires-python": f.requires_python,
                     "yanked": f.yanked,
                     "core-metadata": {"sha256": f.metadata_sha256} if f.metadata else False,
                     "data-dist-info-metadata":
                         {"sha256": f.metadata_sha256} if f.metadata else False,
                     "upload-time": f.upload_time}
                if api_t >= (1, 1):
                    d["size"] = f.size
                if api_t >= (1, 3):
                    d["provenance"] = None
                files.append(d)
            doc = {"meta": {"_last-serial": self.serial, "api-version": api},
                   "name": norm, "files": files}
            if api_t >= (1, 1):
                vs = sorted({f.version for f in p["files"] if f.version}, key=_version_key)
                doc["versions"] = vs
            if api_t >= (1, 4):
                doc["project-status"] = {"status": p["status"]}
            return _json_bytes(doc)
        head = '<meta name="pypi:repository-version" content="%s">\n' % api
        if api_t >= (1, 4):
            head += '<meta name="pypi:project-status" content="%s">' % p["status"]
        out = ['<!DOCTYPE html>\n<html lang="en">\n  <head>\n    ' + head +
               '    <title>Links for %s</title>\n  </head>\n  <body>\n'
               '    <h1>Links for %s</h1>\n' % (html.escape(norm), html.escape(norm))]
        for f in p["files"]:
            href = self.file_href(f) + ("#sha256=" + f.sha256 if f.hash else "")
            attrs = ""
            if f.requires_python:
                attrs += ' data-requires-python="%s"' % html.escape(f.requires_python)
            if f.yanked:
                reason = f.yanked if isinstance(f.yanked, str) else ""
                attrs += ' data-yanked="%s"' % html.escape(reason)
            if f.metadata:
                attrs += (' data-dist-info-metadata="sha256=%s" data-core-metadata="sha256=%s"'
                          % (f.metadata_sha256, f.metadata_sha256))
            out.append('<a href="%s"%s>%s</a><br />\n'
                       % (html.escape(href), attrs or " ", html.escape(f.filename)))
        out.append("</body>\n</html>\n<!--SERIAL %d-->" % self.serial)
        return "".join(out).encode()

    def pytorch_root(self, variant):
        names = sorted(n for (v, n) in self.projects if v == variant)
        lines = ["<!DOCTYPE html>", "<html>", "  <body>"]
        lines += ['    <a href="%s/">%s</a><br/>' % (n, n) for n in names]
        lines += ["  </body>", "</html>", "<!--TIMESTAMP %d-->" % self.start_time]
        return ("\n".join(lines) + "\n").encode()

    def pytorch_project(self, norm, p):
        lines = ["<!DOCTYPE html>", "<html>", "  <body>", "    <h1>Links for %s</h1>" % norm]
        for f in p["files"]:
            href = self.file_href(f) + ("#sha256=" + f.sha256 if f.hash else "")
            attrs = ""
            if f.metadata:
                attrs += (' data-dist-info-metadata="sha256=%s" data-core-metadata="sha256=%s"'
                          % (f.metadata_sha256, f.metadata_sha256))
            if f.upload_time:
                attrs += ' data-upload-time="%s"' % html.escape(f.upload_time)
            lines.append('    <a href="%s"%s>%s</a><br/>' % (href, attrs, f.filename))
        lines += ["  </body>", "</html>", "<!--TIMESTAMP %d-->" % self.start_time]
        return ("\n".join(lines) + "\n").encode()


def _json_bytes(doc):
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n").encode()


# ---------------------------------------------------------------- handler

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, a reused
    # keep-alive connection waits for the client's delayed ACK (~40 ms) before
    # the body, which real CDNs do not, and which would swamp latency figures.
    disable_nagle_algorithm = True
    server_version = "fake-index/1"
    sys_version = ""
    timeout = 300          # idle keep-alive connections do not live forever

    def log_message(self, fmt, *args):   # quiet
        pass

    def version_string(self):
        return self.server_version

    @property
    def st(self):
        return self.server.state

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    # -- low-level output -------------------------------------------------
    def _start(self, code, headers, reason=None):
        self.send_response(code, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def _simple(self, code, body=b"", ctype="text/plain; charset=utf-8", extra=()):
        if isinstance(body, str):
            body = body.encode()
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra)
        self._start(code, hdrs)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _abort(self, rst):
        try:
            self.wfile.flush()
        except OSError:
            pass
        if rst:
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.close_connection = True
        try:
            if rst:
                self.connection.close()          # linger 0: the peer sees RST
            else:
                self.connection.shutdown(socket.SHUT_RDWR)   # FIN
        except OSError:
            pass

    @staticmethod
    def _length_header(length, fault):
        if fault and fault["kind"] == "chunked_cut":
            return ("Transfer-Encoding", "chunked")
        return ("Content-Length", str(length))

    def _send_chunked_cut(self, chunks, total, fault):
        """chunked_cut: chunked framing, cut after `after` bytes, no final chunk."""
        after = int(fault.get("after", total))
        sent = 0
        for chunk in chunks:
            if self.st.stop.is_set():
                break
            chunk = chunk[: max(0, after - sent)]
            if chunk:
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            if sent >= after:
                break
        self._abort(False)

    def _send_body(self, chunks, total, fault):
        """Write `total` bytes from the chunk iterator, applying body faults."""
        kind = fault["kind"] if fault else None
        if kind == "chunked_cut":
            return self._send_chunked_cut(chunks, total, fault)
        after = int(fault.get("after", total // 2)) if fault else 0
        corrupt_at = int(fault.get("offset", total // 2)) if kind == "corrupt" else -1
        rate = float(fault.get("bytes_per_sec", 10000)) if kind == "slow" else 0
        sent = 0
        t0 = time.monotonic()
        for chunk in chunks:
            if self.st.stop.is_set():
                self._abort(True)
                return
            if corrupt_at >= 0 and sent <= corrupt_at < sent + len(chunk):
                i = corrupt_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if kind in ("stall_mid", "reset_mid", "short_body") and sent + len(chunk) >= after:
                head = chunk[: max(0, after - sent)]
                self.wfile.write(head)
                sent += len(head)
                self.wfile.flush()
                if kind == "stall_mid":
                    self.st.stop.wait(float(fault.get("seconds", 30)))
                    kind = None
                    chunk = chunk[len(head):]
                else:
                    self._abort(kind == "reset_mid")
                    return
            if rate:
                step = max(1, int(rate / 10))
                for i in range(0, len(chunk), step):
                    piece = chunk[i:i + step]
                    self.wfile.write(piece)
                    self.wfile.flush()
                    sent += len(piece)
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0 and self.st.stop.wait(ahead):
                        self._abort(True)
                        return
                continue
            self.wfile.write(chunk)
            sent += len(chunk)
        if kind == "long_body":
            self.wfile.write(b"X" * int(fault.get("extra", 1024)))
            self._abort(False)

    # -- dispatch ---------------------------------------------------------
    def _dispatch(self):
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
        raw_path, _, query = raw.partition("?")
        decoded = urllib.parse.unquote(raw_path)
        port = self.server.port_name
        try:
            if port == "pages" and decoded.startswith("/_fake/"):
                return self._control(decoded, query)
            hdrs = {h: self.headers.get(h) for h in _RECORDED_HEADERS if self.headers.get(h)}
            self.st.record({
                "method": self.command, "path": raw, "decoded_path": decoded, "query": query,
                "port": port, "headers": hdrs,
                "authorization": self.headers.get("Authorization") is not None,
                "time": time.time(),
            })
            # drain a request body so keep-alive stays in sync
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            fault = self.st.take_fault(self.command, raw_path, decoded, port)
            if fault and self._pre_fault(fault, raw):
                return
            if not self._auth_ok(port):
                return self._simple(401, "401 Unauthorized\n",
                                    extra=[("WWW-Authenticate", 'Basic realm="fake-index"')])
            if self.command not in ("GET", "HEAD"):
                return self._simple(405, "405 Method Not Allowed\n", extra=[("Allow", "GET, HEAD")])
            self._route(raw_path, decoded, query, port, fault)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _auth_ok(self, port):
        a = self.st.auth
        if not a or (port == "files" and not a.get("files", False)):
            return True
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (a["user"], a["password"])).encode()).decode()
        return self.headers.get("Authorization") == want

    def _pre_fault(self, fault, raw):
        """Faults that replace the response. Returns True when handled."""
        k = fault["kind"]
        if k == "status":
            code = int(fault.get("code", 500))
            body = fault.get("body", "%d fault injected\n" % code)
            self._simple(code, body, extra=list(fault.get("headers", {}).items()))
            return True
        if k == "stall_before":
            if self.st.stop.wait(float(fault.get("seconds", 30))):
                self._abort(True)
                return True
            return False
        if k in ("redirect", "redirect_loop"):
            loc = fault.get("location") if k == "redirect" else raw
            self._simple(int(fault.get("code", 302)), "redirect\n",
                         extra=[("Location", loc)])
            return True
        if k == "html_garbage":
            body = (b"<html><body><a href=\"x\x00\xff<<<a href=<a>\n" + os.urandom(512) +
                    b"<a href='/unterminated")
            self._simple(200, body, ctype="text/html")
            return True
        if k == "json_garbage":
            self._simple(200, b'{"meta": {"api-version": "1.1"}, "files": [{"filename": ',
                         ctype=JSON_V1)
            return True
        if k == "gzip_bomb":
            body = self.st.gzip_bomb(int(fault.get("size", 1 << 30)))
            ctype = fault.get("content_type", TEXT_HTML)
            self._simple(200, body, ctype=ctype, extra=[("Content-Encoding", "gzip"),
                                                         ("Vary", "Accept, Accept-Encoding")])
            return True
        if k == "close":
            self._abort(True)
            return True
        return False   # body faults handled while sending

    def _control(self, decoded, query):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        q = urllib.parse.parse_qs(query)
        try:
            if decoded == "/_fake/requests" and self.command == "GET":
                out = self.st.get_requests(q.get("path_prefix", [None])[0],
                                           q.get("method", [None])[0])
                return self._simple(200, json.dumps(out), "application/json")
            if decoded == "/_fake/info" and self.command == "GET":
                return self._simple(200, json.dumps({"ports": self.st.ports,
                                                     "mode": self.st.mode}), "application/json")
            if self.command == "POST":
                if decoded == "/_fake/reset":
                    self.st.reset()
                elif decoded == "/_fake/fault":
                    self.st.add_fault(json.loads(body or b"{}"))
                elif decoded == "/_fake/clear_faults":
                    self.st.clear_faults()
                elif decoded == "/_fake/spec":
                    self.st.load(json.loads(body))
                else:
                    return self._simple(404, "unknown control endpoint\n")
                return self._simple(200, "ok\n")
            return self._simple(404, "unknown control endpoint\n")
        except (ValueError, KeyError, OSError) as e:
            return self._simple(400, "bad control request: %s\n" % e)

    # -- routing ----------------------------------------------------------
    def _route(self, raw_path, decoded, query, port, fault):
        st = self.st
        if decoded in st.raw:
            code, ctype, body = st.raw[decoded]
            return self._page(body, ctype, fault, code=code)
        if st.mode == "pytorch":
            if "+" in raw_path:
                return self._denied()
            f = st.files.get(decoded)
            if f is not None:
                return self._file(f, fault, "binary/octet-stream")
            if decoded.endswith(".metadata"):
                f = st.files.get(decoded[: -len(".metadata")])
                if f is not None and f.metadata:
                    return self._page(f.metadata, "binary/octet-stream", fault, cache=False)
            if port == "pages":
                m = re.match(r"^/whl/([^/]+)/(?:([^/]+)/)?$", decoded)
                if m:
                    variant, name = m.group(1), m.group(2)
                    if name is None:
                        if any(v == variant for v, _ in st.projects):
                            return self._page(st.pytorch_root(variant), TEXT_HTML, fault,
                                              cc="max-age=600, public, must-revalidate")
                    else:
                        p = st.projects.get((variant, name))
                        if p is not None:
                            return self._page(st.pytorch_project(name, p), TEXT_HTML, fault,
                                              cc="max-age=600, public, must-revalidate")
            return self._denied()
        # pypi mode
        if port == "files":
            f = st.files.get(decoded)
            if f is not None:
                return self._file(f, fault, "binary/octet-stream")
            if decoded.endswith(".metadata"):
                f = st.files.get(decoded[: -len(".metadata")])
                if f is not None and f.metadata:
                    return self._page(f.metadata, "binary/octet-stream", fault, cache=False)
            return self._simple(404, "404 Not Found\n")
        prefix = st.prefix
        if decoded == prefix.rstrip("/"):
            return self._redirect(prefix, query)
        if not decoded.startswith(prefix):
            return self._simple(404, "404 Not Found\n")
        rest = decoded[len(prefix):]
        fmt = urllib.parse.parse_qs(query).get("format", [None])[0]
        if fmt:
            fmt = fmt.replace(" ", "+")    # an unencoded '+' in the query
        ctype = negotiate(self.headers.get("Accept"), fmt)
        if rest == "":
            return self._page(st.pypi_index(ctype), ctype, fault, vary=True)
        name = rest[:-1] if rest.endswith("/") else rest
        if "/" in name or not name:
            return self._simple(404, "404 Not Found\n")
        norm = normalize(name)
        if name != norm or not rest.endswith("/"):
            return self._redirect(prefix + norm + "/", query)
        p = st.projects.get((None, norm))
        if p is None:
            return self._simple(404, "404 Not Found\n")
        return self._page(st.pypi_project(norm, p, ctype), ctype, fault, vary=True)

    def _denied(self):
        self._simple(403, S3_ACCESS_DENIED, "application/xml")

    def _redirect(self, path, query):
        loc = "http://127.0.0.1:%d%s" % (self.st.ports["pages"], path)
        if query:
            loc += "?" + query
        self._simple(301, "Moved Permanently\n", extra=[("Location", loc)])

    def _page(self, body, ctype, fault, code=200, vary=False, cache=True,
              cc="max-age=600, public"):
        st = self.st
        hdrs = []
        if cache:
            etag = _etag(body)
            lm = st.last_modified
            hdrs += [("ETag", etag), ("Last-Modified", _http_date(lm)),
                     ("Cache-Control", cc)]
            if vary:
                hdrs.append(("Vary", "Accept, Accept-Encoding"))
            if st.mode == "pypi":
                hdrs.append(("X-PyPI-Last-Serial", str(st.serial)))
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            not_modified = False
            if inm is not None:
                tags = [t.strip() for t in inm.split(",")]
                not_modified = etag in tags or "*" in tags or ("W/" + etag) in tags
            elif ims:
                try:
                    not_modified = email.utils.parsedate_to_datetime(ims).timestamp() >= lm
                except (TypeError, ValueError):
                    pass
            if not_modified and code == 200:
                self._start(304, hdrs + [("Content-Length", "0")])
                return
        ae = self.headers.get("Accept-Encoding", "")
        if st.gzip and code == 200 and cache and "gzip" in ae.lower() and \
                not re.search(r"gzip\s*;\s*q=0(\.0*)?\s*(,|$)", ae.lower()):
            body = gzip.compress(body, mtime=0)
            hdrs.append(("Content-Encoding", "gzip"))
        hdrs = [("Content-Type", ctype), self._length_header(len(body), fault)] + hdrs
        self._start(code, hdrs)
        if self.command == "HEAD":
            return
        self._send_body(iter([body]), len(body), fault)

    def _file(self, f, fault, ctype):
        size = f.size
        etag = '"%s"' % f.sha256[:32]
        hdrs = [("Content-Type", ctype), ("Accept-Ranges", "bytes"), ("ETag", etag),
                ("Last-Modified", _http_date(f.mtime)),
                ("Cache-Control", "max-age=365000000, immutable, public")]
        start, end, code = 0, size - 1, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and if_range and if_range != etag and if_range != _http_date(f.mtime):
            rng = None
        if rng:
            m = re.match(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", rng)
            if m and (m.group(1) or m.group(2)):
                a, b = m.group(1), m.group(2)
                if a == "":
                    n = int(b)
                    start, end = max(0, size - n), size - 1
                    ok = n > 0 and size > 0
                else:
                    start = int(a)
                    end = min(int(b), size - 1) if b else size - 1
                    ok = start < size and (b == "" or int(b) >= start)
                if not ok:
                    return self._simple(416, "416 Range Not Satisfiable\n",
                                        extra=[("Content-Range", "bytes */%d" % size)])
                code = 206
                hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
            # malformed or multi-range: serve the whole file, as S3 does
        length = end - start + 1 if size else 0
        self._start(code, hdrs + [self._length_header(length, fault)])
        if self.command == "HEAD":
            return

        def chunks():
            with open(f.disk, "rb") as fh:
                fh.seek(start)
                left = length
                while left > 0:
                    b = fh.read(min(_CHUNK, left))
                    if not b:
                        break
                    left -= len(b)
                    yield b
        self._send_body(chunks(), length, fault)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port, state, port_name):
        self.state = state
        self.port_name = port_name
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self._conns_lock:
            self._conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self):
        """Drop open (keep-alive, stalled) connections so that a stopped fake
        really looks gone to its clients."""
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ConnectionError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------- public API

class FakeIndex:
    """A fake upstream, in-process (threads, default) or as a subprocess.

        with FakeIndex(spec) as fx:
            fx.index_url()            # pypi: http://127.0.0.1:P/simple/
            fx.index_url("cu124")     # pytorch: http://127.0.0.1:P/whl/cu124/
            fx.fault("/packages/", "corrupt", count=1)
            fx.count("/simple/demo-pkg/")
    """

    def __init__(self, spec, base_dir=None, subprocess=False, port=0, files_port=0):
        self.spec = spec
        self.base_dir = base_dir or os.getcwd()
        self.use_subprocess = subprocess
        self._want = (port, files_port)
        self.port = self.files_port = None
        self._state = None
        self._servers = []
        self._threads = []
        self._proc = None
        self._tmp_spec = None

    # -- lifecycle --------------------------------------------------------
    def start(self):
        if self.use_subprocess:
            return self._start_subprocess()
        self._state = _State(self.spec, self.base_dir)
        for name, want in (("pages", self._want[0]), ("files", self._want[1])):
            srv = _Server(want, self._state, name)
            self._state.ports[name] = srv.server_address[1]
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="fake-index-" + name, daemon=True)
            t.start()
            self._servers.append(srv)
            self._threads.append(t)
        self.port, self.files_port = self._state.ports["pages"], self._state.ports["files"]
        return self

    def _start_subprocess(self):
        import subprocess as sp
        import tempfile
        fd, self._tmp_spec = tempfile.mkstemp(suffix=".json", prefix="fake-spec-")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.spec, fh)
        self._proc = sp.Popen([sys.executable, "-u", os.path.abspath(__file__),
                               "--config", self._tmp_spec, "--base-dir", self.base_dir,
                               "--port", str(self._want[0]),
                               "--files-port", str(self._want[1])],
                              stdout=sp.PIPE, stderr=None, text=True)
        deadline = time.monotonic() + 30
        line = ""
        # readline blocks; the child prints the line or exits, both bounded
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                line = self._proc.stdout.readline()
                break
            if self._proc.poll() is not None:
                break
        sel.close()
        m = re.match(r"^PORT (\d+) FILES (\d+)", line or "")
        if not m:
            self.stop()
            raise RuntimeError("fake index subprocess did not start: %r" % line)
        self.port, self.files_port = int(m.group(1)), int(m.group(2))
        return self

    def stop(self):
        if self._state is not None:
            self._state.stop.set()
        for s in self._servers:
            s.shutdown()
            s.server_close()
            s.close_all_connections()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except Exception:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
            self._proc.stdout.close()
            self._proc = None
        if self._tmp_spec:
            try:
                os.unlink(self._tmp_spec)
            except OSError:
                pass
            self._tmp_spec = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- URLs -------------------------------------------------------------
    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def files_url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.files_port, path)

    def index_url(self, variant=None):
        """The URL a client (or indexmux's [[index]] url) points at."""
        mode = self.spec.get("mode", "pypi")
        if mode == "pytorch":
            if variant is None:
                variant = next(iter(self.spec.get("variants", {"cpu": {}})))
            return self.url("/whl/%s/" % variant)
        prefix = self.spec.get("prefix", "/simple/")
        return self.url(prefix if prefix.endswith("/") else prefix + "/")

    # -- control ----------------------------------------------------------
    def _ctl(self, method, path, payload=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            c.request(method, path, body=body,
                      headers={"Content-Type": "application/json"} if body else {})
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError("fake control %s %s: %d %s" % (method, path, r.status, data))
            return data
        finally:
            c.close()

    def requests(self, path_prefix=None, method=None):
        """Recorded requests, oldest first: dicts with method, path (raw, with
        query), decoded_path, query, port ('pages'|'files'), headers (Accept,
        Accept-Encoding, Range, If-Range, If-None-Match, If-Modified-Since,
        Cache-Control, User-Agent, Host when sent), authorization (bool), time."""
        if self._state is not None:
            return self._state.get_requests(path_prefix, method)
        q = {}
        if path_prefix:
            q["path_prefix"] = path_prefix
        if method:
            q["method"] = method
        path = "/_fake/requests" + ("?" + urllib.parse.urlencode(q) if q else "")
        return json.loads(self._ctl("GET", path))

    def count(self, path_prefix=None, method=None):
        return len(self.requests(path_prefix, method))

    def reset(self):
        """Clear the request log (faults stay)."""
        if self._state is not None:
            return self._state.reset()
        self._ctl("POST", "/_fake/reset")

    def fault(self, path_prefix, kind, method=None, count=None, port=None, **params):
        """Inject a fault; see the module docstring for kinds and params."""
        f = dict(params, path_prefix=path_prefix, kind=kind)
        if method:
            f["method"] = method
        if count is not None:
            f["count"] = count
        if port:
            f["port"] = port
        if self._state is not None:
            return self._state.add_fault(f)
        self._ctl("POST", "/_fake/fault", f)

    def clear_faults(self):
        if self._state is not None:
            return self._state.clear_faults()
        self._ctl("POST", "/_fake/clear_faults")

    def set_spec(self, spec):
        """Replace the upstream contents (new ETags, new serial); log and faults kept."""
        self.spec = spec
        if self._state is not None:
            return self._state.load(spec)
        self._ctl("POST", "/_fake/spec", spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake upstream package index")
    ap.add_argument("--config", required=True, help="JSON spec file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--files-port", type=int, default=0)
    ap.add_argument("--base-dir", default=None, help="base for relative paths "
                    "(default: the spec file's directory)")
    args = ap.parse_args(argv)
    with open(args.config) as fh:
        spec = json.load(fh)
    base = args.base_dir or os.path.dirname(os.path.abspath(args.config))
    fx = FakeIndex(spec, base_dir=base, port=args.port, files_port=args.files_port).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    sys.stdout.write("PORT %d FILES %d\n" % (fx.port, fx.files_port))
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    fx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
