"""Helpers for the integration tests (unittest, stdlib only).

    from harness import Indexmux, FakeIndex, wheels, pip, venv, free_port, toml_str

    with FakeIndex(spec) as up, Indexmux(CONFIG % toml_str(up.index_url())) as imx:
        status, headers, body = imx.get("/simple/demo-pkg/")

Environment (set by ctest from tests/CMakeLists.txt): IMX_BIN (the built
indexmux), IMX_SOURCE_DIR, IMX_BUILD_DIR, IMX_SHARED_DIR, PYTHON.

Every wait here is bounded; nothing talks to anything but 127.0.0.1.
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "fakes"))

import wheels  # noqa: E402,F401  (re-exported)
from fake_index import FakeIndex  # noqa: E402,F401  (re-exported)

SYSTEM_PYTHON = "/usr/bin/python3"
SOURCE_DIR = os.environ.get("IMX_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
SHARED_DIR = os.environ.get("IMX_SHARED_DIR",
                            os.path.join(os.path.dirname(SOURCE_DIR), "shared"))
FIXTURES = os.path.join(SHARED_DIR, "fixtures")


def imx_bin():
    """Path of the indexmux binary: $IMX_BIN (set by ctest), else
    $IMX_BUILD_DIR/server/indexmux; None when neither is executable."""
    for b in (os.environ.get("IMX_BIN"),
              os.path.join(os.environ.get("IMX_BUILD_DIR", "/nonexistent"), "server",
                           "indexmux")):
        if b and os.access(b, os.X_OK):
            return b
    return None


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_str(s):
    """A TOML basic string literal for s (quotes included)."""
    out = ['"']
    for ch in str(s):
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append("\\u%04X" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Poll cond() until it returns a truthy value (returned) or raise
    AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = cond()
        except Exception:   # noqa: BLE001 - a not-yet-ready server raises
            v = None
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def downloads_settled(imx, timeout=30.0):
    """Wait until the server has no download in flight. A download's thread
    goes on after its clients have their last byte (commit, PEP 658
    metadata out of a wheel): a test that reads what that step changes (a
    page's core-metadata, the transfer gauges) waits for it first."""
    def idle():
        st, _, body = imx.get("/metrics")
        for line in body.decode("utf-8", "replace").splitlines():
            if line.startswith("indexmux_transfers_in_flight "):
                return st == 200 and float(line.split()[1]) == 0
        return False
    wait_for(idle, timeout=timeout, interval=0.05, what="downloads in flight to finish")


class Headers(dict):
    """Case-insensitive header dict (last value wins; .get_all for repeats)."""

    def __init__(self, pairs=()):
        super().__init__()
        self._all = {}
        for k, v in pairs:
            self[k] = v
            self._all.setdefault(k.lower(), []).append(v)

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)

    def get_all(self, k):
        return list(self._all.get(k.lower(), []))


def http_request(host, port, method, path, headers=None, body=None, timeout=30):
    """One request on a fresh connection; never follows redirects.
    Returns (status, Headers, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, Headers(r.getheaders()), data
    finally:
        c.close()


class Indexmux:
    """Runs `$IMX_BIN serve` for one test.

    config_text: TOML text written to <tmp>/indexmux.toml, or None for the
                 embedded default (no --config).
    data_dir:    default <tmp>/data.
    extra_args:  appended to the command line.
    expect_exit: exit code asserted after SIGTERM (None: don't check).
    """

    def __init__(self, config_text, data_dir=None, extra_args=(), expect_exit=0,
                 env=None, start_timeout=10.0, stop_timeout=10.0, listen=True):
        self.config_text = config_text
        self.tmp = tempfile.mkdtemp(prefix="imx-test-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.extra_args = list(extra_args)
        self.expect_exit = expect_exit
        self.env = env
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.listen = listen
        self.port = None
        self.proc = None
        self.returncode = None
        self.config_path = None
        self.log_path = os.path.join(self.tmp, "stderr.log")
        self.out_path = os.path.join(self.tmp, "stdout.log")

    # -- lifecycle --------------------------------------------------------
    def command(self):
        b = imx_bin()
        if not b:
            raise unittest.SkipTest("IMX_BIN is not set to an executable")
        cmd = [b, "serve"]
        if self.config_text is not None:
            self.config_path = os.path.join(self.tmp, "indexmux.toml")
            with open(self.config_path, "w") as fh:
                fh.write(self.config_text)
            cmd += ["--config", self.config_path]
        if self.listen:
            self.port = free_port()
            cmd += ["--listen", "127.0.0.1:%d" % self.port]
        cmd += ["--data-dir", self.data_dir] + self.extra_args
        return cmd

    def start(self):
        cmd = self.command()
        env = dict(os.environ)
        for k in list(env):
            if k.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
                del env[k]
        if self.env:
            env.update(self.env)
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.tmp)
        deadline = time.monotonic() + self.start_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_logs()
                raise AssertionError("indexmux exited with %d before serving\n--- stderr\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                st, _, _ = http_request("127.0.0.1", self.port, "GET", "/healthz", timeout=2)
                if st == 200:
                    return self
                last = "status %d" % st
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        self.kill()
        raise AssertionError("indexmux not healthy after %.0fs (%s)\n--- stderr\n%s"
                             % (self.start_timeout, last, self.log()))

    def stop(self, sig=signal.SIGTERM):
        """Send sig, wait (bounded), return the exit code; kill on timeout."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.returncode = self.proc.returncode
                self.proc = None
                self._close_logs()
                raise AssertionError("indexmux did not exit within %.0fs of signal %d\n"
                                     "--- stderr\n%s" % (self.stop_timeout, sig, self.log()))
        self.returncode = self.proc.returncode
        self.proc = None
        self._close_logs()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None:
            self.returncode = self.proc.returncode
        self.proc = None
        self._close_logs()

    def _close_logs(self):
        for a in ("_err", "_out"):
            f = getattr(self, a, None)
            if f is not None:
                f.close()
                setattr(self, a, None)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            rc = self.stop()
            if exc_type is None and self.expect_exit is not None and rc != self.expect_exit:
                raise AssertionError("indexmux exited with %r, expected %r\n--- stderr\n%s"
                                     % (rc, self.expect_exit, self.log()))
        finally:
            self._final_log = self.log()
            if os.environ.get("IMX_KEEP_TMP"):
                sys.stderr.write("kept %s\n" % self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # -- access -----------------------------------------------------------
    def log(self):
        """Everything the server wrote to stderr so far (kept after exit)."""
        if getattr(self, "_final_log", None) is not None:
            return self._final_log
        try:
            with open(self.log_path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        try:
            with open(self.out_path, "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def index_url(self, view=None):
        return self.url("/%s/simple/" % view if view else "/simple/")

    def request(self, method, path, headers=None, body=None, timeout=30):
        return http_request("127.0.0.1", self.port, method, path, headers, body, timeout)

    def get(self, path, headers=None, timeout=30):
        return self.request("GET", path, headers, None, timeout)

    def head(self, path, headers=None, timeout=30):
        return self.request("HEAD", path, headers, None, timeout)


def run_imx(*args, timeout=30, env=None, cwd=None):
    """Run `$IMX_BIN args...` to completion; CompletedProcess with text output."""
    b = imx_bin()
    if not b:
        raise unittest.SkipTest("IMX_BIN is not set to an executable")
    return subprocess.run([b] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- pip / venv

PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
              "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")


def pip_env(extra=None):
    """The environment for offline pip runs: no user/site config, no cache,
    no find-links from the machine's environment (it has PIP_FIND_LINKS set),
    no proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("PIP_")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update({
        "PIP_FIND_LINKS": "",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DEFAULT_TIMEOUT": "15",
        "PIP_RETRIES": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if extra:
        env.update(extra)
    return env


def pip(*args, index_url, python=SYSTEM_PYTHON, timeout=120, env=None, extra_index_urls=()):
    """`python -m pip ARGS --index-url URL` -> CompletedProcess (text, captured).

    `args` start with the pip command ('download', 'install', ...). The index
    options are appended after it. Use python=<venv>/bin/python to install
    into a venv made by venv()."""
    cmd = [python, "-m", "pip"] + list(args) + ["--index-url", index_url]
    for u in extra_index_urls:
        cmd += ["--extra-index-url", u]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=pip_env(env), stdin=subprocess.DEVNULL)


def venv(directory, timeout=120):
    """Create a venv with pip in it (Debian's ensurepip works offline: it
    installs the wheels from /usr/share/python-wheels). Returns the path of
    its python."""
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", directory], check=True, timeout=timeout,
                   capture_output=True, env=pip_env(), stdin=subprocess.DEVNULL)
    return os.path.join(directory, "bin", "python")


def run_python(python, code, timeout=60):
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=pip_env(), stdin=subprocess.DEVNULL)


def explain(proc):
    """Text for assertion messages about a CompletedProcess."""
    return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (
        proc.returncode, proc.stdout[-6000:], proc.stderr[-6000:])


def raw_get(port, path, timeout=60, headers=None):
    """(status, Content-Length or None, bytes received, complete?) without
    raising on a cut body; complete means the framing (length or final chunk)
    was honoured."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=dict({"Accept-Encoding": "identity"}, **(headers or {})))
        r = c.getresponse()
        clen = r.getheader("Content-Length")
        got = []
        complete = True
        try:
            while True:
                b = r.read(65536)
                if not b:
                    break
                got.append(b)
        except (http.client.IncompleteRead, ConnectionError, OSError) as e:
            if isinstance(e, http.client.IncompleteRead):
                got.append(e.partial)
            complete = False
        body = b"".join(got)
        if clen is not None and len(body) != int(clen):
            complete = False
        return r.status, clen, body, complete
    finally:
        c.close()
