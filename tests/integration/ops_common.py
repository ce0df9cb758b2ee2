"""Shared set-up of the e_ops_* integration tests (issue 6, "Operations").

One PyPI-shaped fake that wants basic auth (user "ci", a password given to
indexmux through `password-env`), real wheels, and a parser for the
Prometheus text exposition format that checks every line it reads.
"""

import json
import math
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FakeIndex, Indexmux, free_port, toml_str, wheels  # noqa: E402,F401

PASSWORD = "Pa55-w0rd-never-shown-7c1e"
URL_PASSWORD = "url-s3cret-never-shown-91ab"
PASSWORD_ENV = "IMX_TEST_INDEX_TOKEN"
JSON_V1 = "application/vnd.pypi.simple.v1+json"

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (_NAME, _LABEL, _LABEL))
_LABEL_ONE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Parse an exposition (format 0.0.4); raise AssertionError on any bad
    line. Returns {family: {"type": t, "help": h, "samples": [(name,
    {labels}, value)]}}. Checks: every sample belongs to a family declared
    by # HELP and # TYPE before it, values are floats, histogram buckets are
    cumulative, end with le="+Inf" and equal _count."""
    fams = {}
    cur = None
    if not text.endswith("\n"):
        raise AssertionError("exposition does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.match("^%s$" % _NAME, parts[2]):
                raise AssertionError("line %d: bad HELP: %r" % (n, line))
            fams.setdefault(parts[2], {"samples": []})["help"] = parts[3]
            cur = parts[2]
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram",
                                                   "summary", "untyped"):
                raise AssertionError("line %d: bad TYPE: %r" % (n, line))
            if parts[2] in fams and "type" in fams[parts[2]]:
                raise AssertionError("line %d: second TYPE for %s" % (n, parts[2]))
            fams.setdefault(parts[2], {"samples": []})["type"] = parts[3]
            cur = parts[2]
            continue
        if line.startswith("#") or not line:
            raise AssertionError("line %d: unexpected %r" % (n, line))
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("line %d: not a sample: %r" % (n, line))
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            raise AssertionError("line %d: bad value %r" % (n, value))
        if not name.startswith("indexmux_"):
            raise AssertionError("line %d: name without indexmux_ prefix: %s" % (n, name))
        fam = name
        if cur and fams[cur].get("type") == "histogram":
            for suf in ("_bucket", "_sum", "_count"):
                if name == cur + suf:
                    fam = cur
        if fam != cur or "type" not in fams[cur] or "help" not in fams[cur]:
            raise AssertionError("line %d: sample %s outside its family (HELP/TYPE first)"
                                 % (n, name))
        fams[fam]["samples"].append((name, dict(_LABEL_ONE.findall(labels)), v))
    for fam, f in fams.items():
        if f.get("type") == "counter":
            for name, labels, v in f["samples"]:
                if v < 0 or math.isnan(v):
                    raise AssertionError("%s: bad counter value %r" % (name, v))
        if f.get("type") == "histogram":
            check_histogram(fam, f["samples"])
    return fams


def check_histogram(fam, samples):
    series = {}
    for name, labels, v in samples:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if name == fam + "_bucket":
            s["buckets"].append((labels["le"], v))
        elif name == fam + "_count":
            s["count"] = v
        elif name == fam + "_sum":
            s["sum"] = v
    for key, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != "+Inf":
            raise AssertionError("%s%r: buckets do not end with +Inf" % (fam, key))
        les = [float(le) for le, _ in b[:-1]]
        if les != sorted(les):
            raise AssertionError("%s%r: le not increasing" % (fam, key))
        vals = [v for _, v in b]
        if vals != sorted(vals):
            raise AssertionError("%s%r: buckets not cumulative: %r" % (fam, key, vals))
        if s["count"] != vals[-1] or s["sum"] is None:
            raise AssertionError("%s%r: _count %r != +Inf bucket %r (or no _sum)"
                                 % (fam, key, s["count"], vals[-1]))


def value(fams, name, **labels):
    """The value of the sample `name` whose labels include `labels` (sum of
    all such samples), 0 when none."""
    total = 0.0
    for fam in fams.values():
        for n, lab, v in fam["samples"]:
            if n == name and all(lab.get(k) == x for k, x in labels.items()):
                total += v
    return total


def scrape(imx):
    st, h, body = imx.get("/metrics")
    if st != 200:
        raise AssertionError("/metrics: %d %r" % (st, body[:300]))
    ct = h.get("Content-Type", "")
    if not ct.startswith("text/plain; version=0.0.4"):
        raise AssertionError("/metrics Content-Type %r" % ct)
    return parse_metrics(body.decode("utf-8")), body.decode("utf-8")


class Ops:
    """Wheels + an authenticating PyPI-shaped fake."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="imx-ops-")
        try:
            w = os.path.join(self.tmp, "wheels")
            self.demo = wheels.make_wheel(w, "demo-pkg", "1.0")
            self.other = wheels.make_wheel(w, "other-pkg", "2.0")
            self.fake = FakeIndex({
                "mode": "pypi", "api_version": "1.1",
                "auth": {"user": "ci", "password": PASSWORD, "files": False},
                "projects": {"demo-pkg": {"files": [{"path": self.demo}]},
                             "other-pkg": {"files": [{"path": self.other}]}},
            }).start()
        except BaseException:
            self.close()
            raise
        self.dead_port = free_port()

    def config(self, extra_views=""):
        dead = "http://bob:%s@127.0.0.1:%d/simple/" % (URL_PASSWORD, self.dead_port)
        return """\
[server]
default = "default"

[[index]]
name = "pypi"
url = %s
username = "ci"
password-env = "%s"

[[index]]
name = "dead"
url = %s
username = "ci"
password-env = "%s"

[virtual.default]
indexes = ["pypi"]

[virtual.broken]
indexes = ["dead"]
%s""" % (toml_str(self.fake.index_url()), PASSWORD_ENV, toml_str(dead), PASSWORD_ENV,
         extra_views)

    def server(self, extra_args=(), extra_views=""):
        return Indexmux(self.config(extra_views), extra_args=extra_args,
                        env={PASSWORD_ENV: PASSWORD})

    def close(self):
        fx = getattr(self, "fake", None)
        if fx is not None:
            fx.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def file_url(imx, project):
    """Absolute path on the server of the first file of a project page."""
    st, h, body = imx.get("/simple/%s/" % project, headers={"Accept": JSON_V1})
    if st != 200:
        raise AssertionError("page of %s: %d %r" % (project, st, body[:300]))
    rel = json.loads(body)["files"][0]["url"]
    # relative to /simple/<project>/
    parts = ["simple", project] + rel.split("/")
    out = []
    for p in parts:
        if p == "..":
            out.pop()
        elif p not in ("", "."):
            out.append(p)
    return "/" + "/".join(out)
