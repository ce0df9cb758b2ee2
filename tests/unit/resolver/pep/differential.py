#!/usr/bin/python3
"""Differential test: resolver/pep against Python's `packaging`.

Usage: differential.py PEP_CLI

Feeds the same questions to pep_cli (see pep_cli.c) and to packaging
(Debian's python3-packaging) and reports every disagreement:
  - validity and normal form of versions (vectors + generated + mutated),
  - ordering of many version pairs,
  - specifier-set membership (prereleases admitted, as markers use it),
  - marker evaluation against FULL environments (one value per variable),
    where three-valued logic must collapse to packaging's two values.
Deterministic (fixed seed). Exit 0 iff no disagreement.
"""
import itertools
import re
import os
import random
import subprocess
import sys

try:
    from packaging.markers import Marker
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover
    print("packaging not installed; skipping")
    sys.exit(0)

SRC = os.environ.get("IMX_SOURCE_DIR",
                     os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
VECTORS = os.path.join(SRC, "tests", "vectors")
rnd = random.Random(440508)


def run_cli(cli, lines):
    for l in lines:
        assert "\n" not in l
    out = subprocess.run([cli], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert len(out) >= len(lines), (len(out), len(lines))
    return out[:len(lines)]


def vector_versions():
    vs = set()
    for line in open(os.path.join(VECTORS, "versions.txt"), encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        for sep in (" < ", " == ", " -> "):
            if sep in line:
                a, b = line.split(sep, 1)
                vs.add(a.strip())
                if sep != " -> ":
                    vs.add(b.strip())
                break
        else:
            if line.startswith("invalid "):
                vs.add(line[len("invalid "):].strip())
    return sorted(vs)


def gen_versions(n):
    out = []
    for _ in range(n):
        s = ""
        if rnd.random() < 0.1:
            s += "%d!" % rnd.choice([0, 1, 2])
        s += ".".join(str(rnd.choice([0, 0, 1, 2, 10])) for _ in range(rnd.randint(1, 4)))
        if rnd.random() < 0.4:
            s += rnd.choice(["", ".", "-", "_"]) + rnd.choice(
                ["a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "A", "RC"])
            s += rnd.choice(["", "0", "1", "2", "11"])
        if rnd.random() < 0.3:
            s += rnd.choice([".post", "post", "-", ".rev", "r", "-post", "_r"]) + rnd.choice(
                ["", "0", "1", "3"] if True else [])
            if s.endswith("-"):
                s += "1"
        if rnd.random() < 0.3:
            s += rnd.choice([".dev", "dev", "-dev", "_DEV"]) + rnd.choice(["", "0", "1", "5"])
        if rnd.random() < 0.2:
            s += "+" + rnd.choice(["cu124", "cpu", "abc.1", "1.abc", "007", "a-b_c", "ubuntu.2",
                                    "1", "10", "2.z"])
        if rnd.random() < 0.1:
            s = rnd.choice(["v", "V", " ", "\t"]) + s
        out.append(s)
    return out


def mutate(s):
    chars = "0123456789.-_+!abcdeprvostlix *"
    s = list(s)
    for _ in range(rnd.randint(1, 3)):
        op = rnd.randint(0, 2)
        i = rnd.randint(0, len(s))
        if op == 0:
            s.insert(i, rnd.choice(chars))
        elif op == 1 and s:
            del s[min(i, len(s) - 1)]
        elif s:
            s[min(i, len(s) - 1)] = rnd.choice(chars)
    return "".join(s)


def py_version(s):
    try:
        return Version(s)
    except InvalidVersion:
        return None


def check_versions(cli, failures):
    base = vector_versions() + gen_versions(800)
    cands = base + [mutate(v) for v in base for _ in range(2)]
    # Our numbers are uint64_t (IMX_ETOOLARGE beyond): a documented limit.
    cands = [c for c in cands if c and "\t" not in c and "\n" not in c and
             not re.search(r"[0-9]{20}", c)]
    out = run_cli(cli, ["norm\t" + c for c in cands])
    valid = []
    for c, got in zip(cands, out):
        v = py_version(c)
        want = "invalid" if v is None else str(v)
        # uint64 overflow is our documented limit, not a disagreement
        if got != want and not (v is None and False):
            failures.append("norm %r: ours %r, packaging %r" % (c, got, want))
        if v is not None:
            valid.append(c)
    pairs = [(a, b) for a, b in itertools.combinations(sorted(set(valid)), 2)]
    rnd.shuffle(pairs)
    pairs = pairs[:20000]
    out = run_cli(cli, ["cmp\t%s\t%s" % p for p in pairs])
    for (a, b), got in zip(pairs, out):
        va, vb = Version(a), Version(b)
        want = str((va > vb) - (va < vb))
        if got != want:
            failures.append("cmp %r %r: ours %s, packaging %s" % (a, b, got, want))
    return len(cands), len(pairs), valid


def packaging_epoch_bug(spec, v):
    """packaging 23.0 prefix matching ignores a candidate's epoch
    (SpecifierSet("==0.*").contains("1!1.0") is True, also for ~=); we follow
    PEP 440 (epochs must be equal), so skip those cases."""
    prefixy = spec.lstrip().startswith("~=") or ".*" in spec
    return prefixy and (Version(v).epoch != 0 or "!" in spec)


def check_specifiers(cli, failures, versions):
    ops = ["==", "!=", "<=", ">=", "<", ">", "~=", "==="]
    specs = []
    for line in open(os.path.join(VECTORS, "specifiers.txt"), encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line and "|" in line:
            specs.append(line.split("|")[0].strip())
    for _ in range(300):
        op = rnd.choice(ops)
        v = rnd.choice(versions).strip()
        if op in ("==", "!=") and rnd.random() < 0.3 and "+" not in v:
            pv = Version(v)
            v = ".".join(str(x) for x in pv.release[:rnd.randint(1, len(pv.release))]) + ".*"
        specs.append(op + v)
    specs = [s for s in specs if "\t" not in s]
    cases = []
    for s in specs:
        for v in rnd.sample(versions, 15):
            cases.append((s, v.strip()))
    out = run_cli(cli, ["spec\t%s\t%s" % c for c in cases])
    n = 0
    for (s, v), got in zip(cases, out):
        if packaging_epoch_bug(s, v):
            continue
        try:
            ss = SpecifierSet(s)
        except InvalidSpecifier:
            want = "invalid"
        else:
            want = "true" if ss.contains(v, prereleases=True) else "false"
        n += 1
        if got != want:
            failures.append("spec %r contains %r: ours %s, packaging %s" % (s, v, got, want))
    return n


ENVS = [
    dict(os_name="posix", sys_platform="linux", platform_machine="x86_64",
         platform_python_implementation="CPython", platform_release="6.1.0-18-amd64",
         platform_system="Linux", platform_version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1",
         python_version="3.11", python_full_version="3.11.2", implementation_name="cpython",
         implementation_version="3.11.2", extra=""),
    dict(os_name="nt", sys_platform="win32", platform_machine="AMD64",
         platform_python_implementation="CPython", platform_release="10",
         platform_system="Windows", platform_version="10.0.19045",
         python_version="3.8", python_full_version="3.8.10", implementation_name="cpython",
         implementation_version="3.8.10", extra="gpu"),
    dict(os_name="posix", sys_platform="darwin", platform_machine="arm64",
         platform_python_implementation="PyPy", platform_release="23.1.0",
         platform_system="Darwin", platform_version="Darwin Kernel Version 23.1.0",
         python_version="3.10", python_full_version="3.10.13", implementation_name="pypy",
         implementation_version="7.3.13", extra="Test_Extra"),
    dict(os_name="posix", sys_platform="linux", platform_machine="aarch64",
         platform_python_implementation="CPython", platform_release="5.15",
         platform_system="Linux", platform_version="1", python_version="3.13",
         python_full_version="3.13.0rc1", implementation_name="cpython",
         implementation_version="3.13.0rc1", extra="cuda"),
]

ATOM_VALUES = {
    "os_name": ["posix", "nt", "pos"],
    "sys_platform": ["linux", "win32", "darwin", "lin"],
    "platform_machine": ["x86_64", "AMD64", "arm64", "aarch64", "x86"],
    "platform_python_implementation": ["CPython", "PyPy"],
    "platform_system": ["Linux", "Windows", "Darwin"],
    "python_version": ["3.8", "3.10", "3.11", "3.12", "3", "2.7", "3.11.*", "3.1"],
    "python_full_version": ["3.11.2", "3.13.0", "3.13.0rc1", "3.8.10", "3.11", "3.11.*"],
    "implementation_name": ["cpython", "pypy"],
    "implementation_version": ["3.11.2", "7.3", "3.8"],
    "extra": ["gpu", "test-extra", "TEST.EXTRA", "cuda", ""],
    "platform_release": ["10", "23.1.0", "5.15"],
}
STR_OPS = ["==", "!=", "in", "not in"]
VER_OPS = ["==", "!=", "<", "<=", ">", ">=", "~="]


def gen_atom():
    var = rnd.choice(list(ATOM_VALUES))
    val = rnd.choice(ATOM_VALUES[var])
    if var in ("python_version", "python_full_version", "implementation_version",
               "platform_release"):
        op = rnd.choice(VER_OPS + ["in", "not in"])
    else:
        op = rnd.choice(STR_OPS)
    if op == "~=" and "." not in val:
        op = ">="
    if val.endswith(".*") and op not in ("==", "!="):
        val = val[:-2]
    q = rnd.choice(['"', "'"])
    lit = q + val + q
    if rnd.random() < 0.15 and op not in ("in", "not in"):
        return "%s %s %s" % (lit, op, var)  # variable on the right
    return "%s %s %s" % (var, op, lit)


def gen_marker(depth=0):
    if depth > 2 or rnd.random() < 0.4:
        return gen_atom()
    a, b = gen_marker(depth + 1), gen_marker(depth + 1)
    s = "%s %s %s" % (a, rnd.choice(["and", "or"]), b)
    return "(%s)" % s if rnd.random() < 0.5 else s


def env_arg(env):
    return ";".join("%s=%s" % kv for kv in env.items())


def check_markers(cli, failures):
    markers = [gen_marker() for _ in range(1500)]
    cases, wants = [], []
    for m in markers:
        for env in ENVS:
            try:
                want = "true" if Marker(m).evaluate(env) else "false"
            except Exception:  # packaging raises on e.g. non-version lhs: skip
                continue
            cases.append("marker\t%s\t%s" % (m, env_arg(env)))
            wants.append((m, env["sys_platform"], want))
    out = run_cli(cli, cases)
    for (m, plat, want), got in zip(wants, out):
        if got != want:
            failures.append("marker %r on %s: ours %s, packaging %s" % (m, plat, got, want))
    # marker_to_string must denote the same expression for packaging too
    out = run_cli(cli, ["mstr\t" + m for m in markers[:300]])
    n = len(cases)
    for m, s in zip(markers, out):
        for env in ENVS:
            try:
                a, b = Marker(m).evaluate(env), Marker(s).evaluate(env)
            except Exception:
                continue
            n += 1
            if a != b:
                failures.append("mstr %r -> %r differs on %s" % (m, s, env["sys_platform"]))
    return n


def main():
    cli = sys.argv[1]
    failures = []
    nv, npairs, valid = check_versions(cli, failures)
    ns = check_specifiers(cli, failures, sorted(set(valid)))
    nm = check_markers(cli, failures)
    print("differential: %d version strings, %d ordered pairs, %d specifier checks, "
          "%d marker evaluations; %d disagreements" % (nv, npairs, ns, nm, len(failures)))
    for f in failures[:60]:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
