"""Tiny but real, installable Python distributions for tests (stdlib only).

make_wheel() writes a wheel that pip installs: a `<pkg>/__init__.py` setting
`__version__`, and a `.dist-info/` with METADATA, WHEEL and a RECORD whose
sha256 digests and sizes are correct. The file name follows the wheel spec
(`{name}-{version}-{python tag}-{abi tag}-{platform tag}.whl`, name with runs
of `-_.` turned into `_`), so callers can build e.g.
`torch-2.5.1+cu124-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`
by passing version="2.5.1+cu124" and the full tag triple.

make_big_wheel() pads a wheel with one ZIP_STORED member of random bytes
written in 1 MiB chunks, so a 200 MB or multi-GB wheel is built quickly and
without holding it in memory.

Wheels are deterministic (fixed zip timestamps) unless padded.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

__all__ = [
    "normalize", "dist_name", "make_wheel", "make_big_wheel", "make_sdist",
    "metadata_of", "sha256_of", "wheel_filename", "expand_tags",
]

_ZIP_DATE = (2024, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


def normalize(name):
    """PEP 503 normalized project name: 'Demo_Pkg' -> 'demo-pkg'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(name):
    """Name as it appears in wheel/sdist file names: 'demo-pkg' -> 'demo_pkg'
    (case is kept, like real uploads such as Jinja2-3.1.2-...)."""
    return re.sub(r"[-_.]+", "_", name)


def import_name(name):
    """The top-level package the wheel installs: 'Demo-Pkg' -> 'demo_pkg'."""
    return dist_name(name).lower()


def wheel_filename(name, version, tag="py3-none-any", build=None):
    parts = [dist_name(name), version.replace("-", "_")]
    if build:
        parts.append(str(build))
    parts.append(tag)
    return "-".join(parts) + ".whl"


def expand_tags(tag):
    """'cp311.cp312-cp312-a.b' -> ['cp311-cp312-a', 'cp311-cp312-b', ...]."""
    py, abi, plat = tag.split("-")
    return ["%s-%s-%s" % (p, a, q)
            for p in py.split(".") for a in abi.split(".") for q in plat.split(".")]


def _record_hash(data):
    d = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(d).rstrip(b"=").decode("ascii")


def _metadata_text(name, version, deps, requires_python, summary=None):
    lines = ["Metadata-Version: 2.1", "Name: %s" % name, "Version: %s" % version]
    lines.append("Summary: %s" % (summary or "test distribution %s" % name))
    if requires_python:
        lines.append("Requires-Python: %s" % requires_python)
    for d in deps or []:
        lines.append("Requires-Dist: %s" % d)
    return "\n".join(lines) + "\n\n"


def _wheel_text(tag, purelib):
    lines = ["Wheel-Version: 1.0", "Generator: indexmux-tests (0.1)",
             "Root-Is-Purelib: %s" % ("true" if purelib else "false")]
    for t in expand_tags(tag):
        lines.append("Tag: %s" % t)
    return "\n".join(lines) + "\n"


def _zinfo(path, compress=zipfile.ZIP_DEFLATED):
    zi = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
    zi.external_attr = 0o644 << 16
    zi.compress_type = compress
    return zi


def _build_wheel(directory, name, version, tag, deps, requires_python, files,
                 pad_bytes, filename=None):
    os.makedirs(directory, exist_ok=True)
    fname = filename or wheel_filename(name, version, tag)
    path = os.path.join(directory, fname)
    pkg = import_name(name)
    distinfo = "%s-%s.dist-info" % (dist_name(name), version)
    purelib = tag.endswith("-none-any")

    members = [("%s/__init__.py" % pkg,
                ("__version__ = %r\n" % version).encode())]
    for rel, content in (files or {}).items():
        if isinstance(content, str):
            content = content.encode()
        members.append((rel, content))
    members.append(("%s/METADATA" % distinfo,
                    _metadata_text(name, version, deps, requires_python).encode()))
    members.append(("%s/WHEEL" % distinfo, _wheel_text(tag, purelib).encode()))

    record = []
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for rel, content in members:
            zf.writestr(_zinfo(rel), content)
            record.append("%s,%s,%d" % (rel, _record_hash(content), len(content)))
        if pad_bytes:
            rel = "%s/_pad.bin" % pkg
            h = hashlib.sha256()
            left = pad_bytes
            with zf.open(_zinfo(rel, zipfile.ZIP_STORED), "w", force_zip64=True) as w:
                while left > 0:
                    chunk = os.urandom(min(_CHUNK, left))
                    h.update(chunk)
                    w.write(chunk)
                    left -= len(chunk)
            digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (rel, digest, pad_bytes))
        record.append("%s/RECORD,," % distinfo)
        zf.writestr(_zinfo("%s/RECORD" % distinfo), ("\n".join(record) + "\n").encode())
    os.replace(tmp, path)
    return path


def make_wheel(directory, name, version, tag="py3-none-any", deps=(),
               requires_python=None, files=None, size_pad=0, filename=None):
    """Write a valid wheel into `directory`; return its path.

    tag: the full 'python-abi-platform' triple, compressed sets allowed
         ('cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64').
    deps: Requires-Dist strings ('dep-pkg>=1.0', "foo; sys_platform == 'linux'").
    files: extra members {relative path: str|bytes}.
    size_pad: add a random-data member of that many bytes (stored).
    filename: override the file name (for deliberately odd uploads).
    """
    return _build_wheel(directory, name, version, tag, list(deps), requires_python,
                        files, size_pad, filename)


def make_big_wheel(directory, name, version, size_bytes, tag="py3-none-any", deps=()):
    """A wheel of about `size_bytes` (slightly more: zip overhead), padded with
    incompressible random data written in 1 MiB chunks."""
    return _build_wheel(directory, name, version, tag, list(deps), None, None,
                        max(0, int(size_bytes) - 2048))


def make_sdist(directory, name, version, deps=(), requires_python=None):
    """Write `{dist_name}-{version}.tar.gz` with PKG-INFO, setup.py and a
    pyproject.toml (setuptools backend); return its path. pip can build it
    only where setuptools is importable (use --no-build-isolation offline)."""
    os.makedirs(directory, exist_ok=True)
    base = "%s-%s" % (dist_name(name), version)
    path = os.path.join(directory, base + ".tar.gz")
    pkg = import_name(name)
    pkginfo = _metadata_text(name, version, deps, requires_python)
    setup_py = ("from setuptools import setup\n"
                "setup(name=%r, version=%r, packages=[%r], install_requires=%r%s)\n"
                % (name, version, pkg, list(deps),
                   ", python_requires=%r" % requires_python if requires_python else ""))
    pyproject = ('[build-system]\nrequires = ["setuptools"]\n'
                 'build-backend = "setuptools.build_meta"\n')
    members = [
        ("PKG-INFO", pkginfo.encode()),
        ("setup.py", setup_py.encode()),
        ("pyproject.toml", pyproject.encode()),
        ("%s/__init__.py" % pkg, ("__version__ = %r\n" % version).encode()),
    ]
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel, content in members:
            ti = tarfile.TarInfo("%s/%s" % (base, rel))
            ti.size = len(content)
            ti.mtime = int(time.mktime(_ZIP_DATE + (0, 0, -1)))
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(content))
    os.replace(tmp, path)
    return path


class Sparse(io.RawIOBase):
    """A file of `size` bytes of which only some ranges are known, for
    zipfile to read a wheel as uv does from two ranges; reading anything else
    raises AssertionError (so zipfile proves it needed nothing more)."""

    def __init__(self, size):
        self.size = size
        self.pos = 0
        self.parts = []  # (start, bytes)

    def add(self, start, data):
        self.parts.append((start, data))

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, off, whence=0):
        self.pos = {0: off, 1: self.pos + off, 2: self.size + off}[whence]
        return self.pos

    def readinto(self, b):
        n = min(len(b), self.size - self.pos)
        if n <= 0:
            return 0
        for start, data in self.parts:
            if start <= self.pos and self.pos + n <= start + len(data):
                b[:n] = data[self.pos - start:self.pos - start + n]
                self.pos += n
                return n
        raise AssertionError("read of [%d, %d) outside the fetched ranges" % (self.pos, self.pos + n))


def metadata_of(wheel_path):
    """The bytes of the wheel's .dist-info/METADATA (what PEP 658 serves)."""
    with zipfile.ZipFile(wheel_path) as zf:
        for n in zf.namelist():
            parts = n.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return zf.read(n)
    raise ValueError("no METADATA in %s" % wheel_path)


def sha256_of(path):
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
