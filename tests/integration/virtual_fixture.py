"""The upstream world of the virtual-index tests (issue 4), shared by
tests/integration/c_virtual_*.py (stdlib only).

Universe(tmp) builds real wheels and starts three fakes:

  pypi      PyPI-like (pypi mode, JSON/HTML, files on a second port):
              torch 2.5.1 for macOS arm64 (PyPI's macOS wheel), Linux x86_64,
              Linux aarch64 and Windows, and a SQUATTED torch 9.9.9 for Linux
              x86_64 and Windows; numpy 2.1.3 and jinja2 3.1.4 (current);
              acme-internal 99.0.0 (squatting the private name).
  torch     download.pytorch.org-like (pytorch mode), variants cpu and cu124:
              torch 2.5.1+cpu / 2.5.1+cu124 for Linux x86_64 and Windows,
              plain torch 2.5.1 for macOS arm64 and Linux aarch64 (same
              filenames as PyPI's, different bytes, as PyTorch also lists
              them), and stale numpy 1.26.3 and Jinja2 3.1.2 copies.
  internal  a private pypi-mode index at /api/pypi/simple/ with
              acme-internal 1.2.0, which depends on jinja2 (PyPI only).

Every wheel carries `<pkg>/_origin.py` with ORIGIN = '<where it came from>',
so two files with the same name from two upstreams differ in bytes (and
sha256), and an installed one says where it came from.

`pytags` chooses the CPython tags of the platform wheels ("cp312" for the
pip download tests, "cp311" for the install test on this machine's python).
`extra_projects(pypi, torch)` may add more projects before the fakes start.
"""

import json
import os
import shutil
import tempfile
import unittest

from harness import FakeIndex, PIP_ACCEPT, pip, wheels

JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}

LINUX = "manylinux_2_17_x86_64"
LINUX_TAG = "manylinux_2_17_x86_64.manylinux2014_x86_64"
AARCH64 = "manylinux2014_aarch64"
AARCH64_TAG = "manylinux_2_17_aarch64.manylinux2014_aarch64"
WINDOWS = "win_amd64"
MACOS = "macosx_11_0_arm64"


def origin_files(pkg, origin):
    return {"%s/_origin.py" % wheels.import_name(pkg): "ORIGIN = %r\n" % origin}


class Universe:
    def __init__(self, tmp, pytag="cp312", extra_projects=None):
        self.tmp = tmp
        self.pytag = pytag
        self.sha = {}          # (origin, filename) -> sha256
        self.path = {}         # (origin, filename) -> path on disk
        P = pytag
        pypi = {
            "torch": [
                self.wheel("pypi", "torch", "2.5.1", "%s-none-%s" % (P, MACOS), deps=["jinja2"]),
                self.wheel("pypi", "torch", "2.5.1", "%s-%s-%s" % (P, P, LINUX_TAG),
                           deps=["jinja2"]),
                self.wheel("pypi", "torch", "2.5.1", "%s-%s-%s" % (P, P, AARCH64_TAG),
                           deps=["jinja2"]),
                self.wheel("pypi", "torch", "2.5.1", "%s-%s-win_amd64" % (P, P), deps=["jinja2"]),
                self.wheel("pypi", "torch", "9.9.9", "%s-%s-%s" % (P, P, LINUX_TAG)),
                self.wheel("pypi", "torch", "9.9.9", "%s-%s-win_amd64" % (P, P)),
            ],
            "numpy": [
                self.wheel("pypi", "numpy", "2.1.3", "%s-%s-%s" % (P, P, LINUX_TAG)),
                self.wheel("pypi", "numpy", "2.1.3", "%s-%s-win_amd64" % (P, P)),
                self.wheel("pypi", "numpy", "2.1.3", "%s-%s-%s" % (P, P, MACOS)),
            ],
            "jinja2": [self.wheel("pypi", "jinja2", "3.1.4")],
            "acme-internal": [self.wheel("pypi", "acme-internal", "99.0.0")],
        }
        torch = {}
        stale_jinja = self.wheel("pytorch", "Jinja2", "3.1.2")
        for variant in ("cpu", "cu124"):
            o = "pytorch-" + variant
            torch[variant] = {
                "torch": [
                    self.wheel(o, "torch", "2.5.1+" + variant, "%s-%s-%s" % (P, P, LINUX_TAG),
                               deps=["jinja2"]),
                    self.wheel(o, "torch", "2.5.1+" + variant, "%s-%s-win_amd64" % (P, P),
                               deps=["jinja2"]),
                    self.wheel(o, "torch", "2.5.1", "%s-none-%s" % (P, MACOS), deps=["jinja2"]),
                    self.wheel(o, "torch", "2.5.1", "%s-%s-%s" % (P, P, AARCH64_TAG),
                               deps=["jinja2"]),
                ],
                "numpy": [self.wheel(o, "numpy", "1.26.3", "%s-%s-%s" % (P, P, LINUX_TAG))],
                "jinja2": [stale_jinja],
            }
        internal = {"acme-internal": [self.wheel("internal", "acme-internal", "1.2.0",
                                                 deps=["jinja2>=3.1"])]}
        if extra_projects:
            extra_projects(self, pypi, torch)

        def spec_files(paths, **kw):
            return {"files": [dict({"path": p}, **kw) for p in paths]}

        self.pypi = FakeIndex({"mode": "pypi", "api_version": "1.1",
                               "projects": {k: spec_files(v) for k, v in pypi.items()}})
        variants = {}
        for variant, projs in torch.items():
            variants[variant] = {}
            for name, paths in projs.items():
                files = []
                for p in paths:
                    f = {"path": p}
                    if os.path.basename(p).startswith("Jinja2-"):
                        f["url_path"] = "/whl/" + os.path.basename(p)  # as PyTorch does
                    files.append(f)
                variants[variant][name] = {"files": files}
        self.torch = FakeIndex({"mode": "pytorch", "variants": variants})
        self.internal = FakeIndex({"mode": "pypi", "prefix": "/api/pypi/simple/",
                                   "projects": {k: spec_files(v) for k, v in internal.items()}})
        self.fakes = [self.pypi, self.torch, self.internal]
        try:
            for f in self.fakes:
                f.start()
        except BaseException:
            self.stop()
            raise

    def wheel(self, origin, name, version, tag="py3-none-any", deps=()):
        d = os.path.join(self.tmp, "wheels", origin)
        p = wheels.make_wheel(d, name, version, tag=tag, deps=deps,
                              files=origin_files(name, origin))
        fn = os.path.basename(p)
        self.path[(origin, fn)] = p
        self.sha[(origin, fn)] = wheels.sha256_of(p)
        return p

    def sdist(self, origin, name, version):
        d = os.path.join(self.tmp, "sdists", origin)
        p = wheels.make_sdist(d, name, version)
        self.path[(origin, os.path.basename(p))] = p
        self.sha[(origin, os.path.basename(p))] = wheels.sha256_of(p)
        return p

    def origin_of(self, filename, sha256):
        """Which upstream a file with this name and hash came from (or None)."""
        for (o, fn), h in self.sha.items():
            if fn == filename and h == sha256:
                return o
        return None

    def reset(self):
        for f in self.fakes:
            f.reset()
            f.clear_faults()

    def stop(self):
        for f in self.fakes:
            try:
                f.stop()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass

    # -- configuration ------------------------------------------------------
    def config(self, extra="", cu124_url=None, cpu_url=None, internal_url=None, ttl=None):
        """The TOML of SPEC section 2 pointing at the fakes; `extra` is appended
        (more views); cu124_url/cpu_url/internal_url override index URLs; `ttl`
        sets every index's ttl (seconds)."""
        q = lambda s: json.dumps(s)  # noqa: E731 - a TOML basic string for ASCII URLs
        text = self._config(extra, cu124_url, cpu_url, internal_url, q)
        if ttl is not None:
            text = text.replace("\nurl = ", "\nttl = %d\nurl = " % ttl)
        return text

    def _config(self, extra, cu124_url, cpu_url, internal_url, q):
        return """\
[server]
default = "default"

[[index]]
name = "pypi"
url = %s

[[index]]
name = "pytorch-cpu"
url = %s
explicit = true

[[index]]
name = "pytorch-cu124"
url = %s
explicit = true

[[index]]
name = "internal"
url = %s

[virtual.default]
indexes = ["pypi"]

[virtual.cu124]
indexes = ["pypi"]
[virtual.cu124.sources]
torch = [{ index = "pytorch-cu124", marker = "platform_system != 'Darwin'" }]

[virtual.mixed]
indexes = ["pypi"]
[virtual.mixed.sources]
torch = [
  { index = "pytorch-cpu", marker = "platform_system == 'Windows'" },
  { index = "pytorch-cu124", marker = "platform_system == 'Linux'" },
]

[virtual.corp]
indexes = ["internal", "pypi"]

[virtual.corp-best]
indexes = ["internal", "pypi"]
index-strategy = "unsafe-best-match"
%s""" % (q(self.pypi.index_url()), q(cpu_url or self.torch.index_url("cpu")),
         q(cu124_url or self.torch.index_url("cu124")), q(internal_url or self.internal.index_url()), extra)


# ---------------------------------------------------------------- clients

def pip_download(imx, view, platform, *reqs, deps=False, python_version="3.12", dest=None):
    """The real pip downloading `reqs` through /<view>/simple/ for `platform`.
    Returns (CompletedProcess, {filename: sha256} of what landed in dest)."""
    dest = dest or tempfile.mkdtemp(dir=imx.tmp, prefix="dl-")
    args = ["download"]
    if not deps:
        args.append("--no-deps")
    args += ["--only-binary=:all:", "--python-version", python_version, "--platform", platform,
             "-d", dest]
    p = pip(*args, *reqs, index_url=imx.index_url(view), timeout=120)
    got = {}
    if os.path.isdir(dest):
        for fn in os.listdir(dest):
            got[fn] = wheels.sha256_of(os.path.join(dest, fn))
    return p, got


def json_page(imx, view, project):
    """(status, parsed JSON or None, raw body) of /<view>/simple/<project>/ as JSON."""
    st, h, body = imx.get("/%s/simple/%s/" % (view, project), JSON_ACCEPT)
    doc = None
    if st == 200:
        doc = json.loads(body)
    return st, doc, body


def page_origins(u, doc):
    """{filename: origin} of a JSON page's files (origin by sha256)."""
    out = {}
    for f in doc["files"]:
        out[f["filename"]] = u.origin_of(f["filename"], f["hashes"].get("sha256"))
    return out


def upstream_paths(fake):
    """Every path (decoded) the fake was asked for, in order."""
    return [r["decoded_path"] for r in fake.requests()]


__all__ = ["Universe", "pip_download", "json_page", "page_origins", "upstream_paths",
           "LINUX", "LINUX_TAG", "AARCH64", "AARCH64_TAG", "WINDOWS", "MACOS", "JSON_ACCEPT",
           "PIP_ACCEPT"]


class UniverseCase(unittest.TestCase):
    """A test class with one set of fake upstreams (cls.u), reset before each test.

    Subclasses may set universe_kwargs (passed to Universe) and, to have one
    indexmux for the whole class (cls.imx), serve_kwargs (passed to
    Universe.config)."""

    universe_kwargs = {}
    serve_kwargs = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imx-%s-" % cls.__name__.lower())
        cls.u = None
        cls.imx = None
        try:
            cls.u = Universe(cls.tmp, **cls.universe_kwargs)
            if cls.serve_kwargs is not None:
                from harness import Indexmux
                cls.imx = Indexmux(cls.u.config(**cls.serve_kwargs)).start()
        except BaseException:
            if cls.u:
                cls.u.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        rc, log = 0, ""
        try:
            if cls.imx:
                rc = cls.imx.stop()
                log = cls.imx.log()
                cls.imx.cleanup()
        finally:
            cls.u.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError("indexmux exited with %r\n%s" % (rc, log))

    def setUp(self):
        self.u.reset()
