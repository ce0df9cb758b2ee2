"""Shared set-up of the b_mirror_* integration tests (issue 3, "Mirror").

One PyPI-shaped fake and one PyTorch-shaped fake (tests/fakes/fake_index.py),
real wheels built by tests/fakes/wheels.py, and an indexmux configuration that
serves each of them alone at /pypi/simple/ and /pytorch-cu124/simple/.

    m = Mirror()            # builds wheels, starts both fakes
    with m.server() as imx: # starts indexmux on them
        ...
    m.close()               # stops the fakes, removes every temp dir
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FakeIndex, Indexmux, toml_str, wheels  # noqa: E402

TORCH_TAG = "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"
PLATFORM_ARGS = ["--only-binary=:all:", "--python-version", "3.12",
                 "--platform", "manylinux_2_17_x86_64"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
              "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01")
UV_ACCEPT = ("application/vnd.pypi.simple.v1+json, "
             "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def config(pypi_url, torch_url, ttl=600, negative_ttl=60, extra=""):
    """Each upstream served alone; a default view over pypi."""
    return """\
[server]
default = "default"

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
%s""" % (toml_str(pypi_url), ttl, negative_ttl, toml_str(torch_url), ttl, negative_ttl, extra)


class Mirror:
    """Wheels + the two fakes. Attributes name every wheel path."""

    def __init__(self, big=False):
        self.tmp = tempfile.mkdtemp(prefix="imx-mirror-")
        try:
            self._build()
            self.pypi = FakeIndex(self.pypi_spec()).start()
            self.torch = FakeIndex(self.torch_spec()).start()
        except BaseException:
            self.close()
            raise

    def _build(self):
        w = os.path.join(self.tmp, "wheels")
        self.wheel_dir = w
        # 1.0: the one pip picks; padded so that ranges and gzip have room.
        self.demo10 = wheels.make_wheel(w, "demo-pkg", "1.0", deps=["dep-pkg"],
                                        size_pad=200_000)
        self.demo11 = wheels.make_wheel(w, "demo-pkg", "1.1")       # yanked with a reason
        self.demo09 = wheels.make_wheel(w, "demo-pkg", "0.9")       # yanked, no reason
        self.demo08 = wheels.make_wheel(w, "demo-pkg", "0.8")       # no PEP 658 metadata
        self.dep = wheels.make_wheel(w, "dep-pkg", "0.4")
        self.native = wheels.make_wheel(w, "native-pkg", "3.0", tag=TORCH_TAG)
        self.torch_cu = wheels.make_wheel(w, "torch", "2.5.1+cu124", tag=TORCH_TAG)
        self.torch_old = wheels.make_wheel(w, "torch", "2.4.0+cu124", tag=TORCH_TAG)

    def pypi_spec(self):
        return {
            "mode": "pypi", "api_version": "1.4",
            "projects": {
                "Demo_Pkg": {"files": [
                    {"path": self.demo08, "metadata": False,
                     "requires_python": ">=3.7,<4"},
                    {"path": self.demo09, "yanked": True},
                    {"path": self.demo10, "requires_python": ">=3.8"},
                    {"path": self.demo11, "yanked": "broken <release> & more"},
                ]},
                "dep-pkg": {"files": [{"path": self.dep}]},
                "native-pkg": {"files": [{"path": self.native}]},
            },
        }

    def torch_spec(self):
        return {
            "mode": "pytorch",
            "variants": {"cu124": {"torch": {"files": [
                {"path": self.torch_cu},
                {"path": self.torch_old, "hash": False},
            ]}}},
        }

    def config(self, **kw):
        return config(self.pypi.index_url(), self.torch.index_url("cu124"), **kw)

    def server(self, **kw):
        return Indexmux(self.config(**kw))

    def reset(self):
        for fx in (self.pypi, self.torch):
            fx.clear_faults()
            fx.reset()

    def upstream_requests(self):
        """Every request both fakes saw (control calls are not recorded)."""
        return self.pypi.requests() + self.torch.requests()

    def close(self):
        for a in ("pypi", "torch"):
            fx = getattr(self, a, None)
            if fx is not None:
                fx.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def describe(reqs):
    """Upstream requests, one per line, for assertion messages."""
    return "\n".join("%s %s:%s %s" % (r["method"], r["port"], r["path"],
                                      json.dumps(r["headers"], sort_keys=True))
                     for r in reqs) or "(none)"


def resolve(page_path, href):
    """The server path a relative link on page_path points at (no fragment)."""
    u = urllib.parse.urljoin("http://x" + page_path, href)
    p = urllib.parse.urlsplit(u)
    return p.path + ("?" + p.query if p.query else "")


def json_page(imx, path):
    """GET path as PEP 691 JSON; returns the parsed document."""
    st, h, body = imx.get(path, {"Accept": JSON_V1})
    if st != 200:
        raise AssertionError("GET %s: %d %r" % (path, st, body[:300]))
    return json.loads(body)


def file_entry(imx, page_path, filename):
    """(server path of the file, its JSON entry) from the project page."""
    doc = json_page(imx, page_path)
    for f in doc["files"]:
        if f["filename"] == filename:
            return resolve(page_path, f["url"]), f
    raise AssertionError("%s not on %s: %s" % (filename, page_path,
                                               [f["filename"] for f in doc["files"]]))


def blob_files(data_dir):
    """Every regular file under data_dir/blobs (including its tmp/)."""
    out = []
    for root, _, files in os.walk(data_dir):
        if os.path.relpath(root, data_dir).split(os.sep)[0] in ("blobs", "tmp"):
            out += [os.path.join(root, f) for f in files]
    return out
