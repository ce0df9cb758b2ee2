#!/usr/bin/env python3
"""deploy/ checked by machine (issue 6 item 7): the example configuration
passes check-config and names every [server] and [[index]] key the schema
has; the Kubernetes manifests parse as YAML and carry the probes, the volume
and the ports; the systemd unit passes `systemd-analyze verify`; the
Dockerfile builds with the Makefile's DEPS and the same cmake steps (checked
textually: no Docker engine runs on these machines)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, explain, imx_bin, run_imx  # noqa: E402

DEPLOY = os.path.join(SOURCE_DIR, "deploy")


class Deploy(unittest.TestCase):

    def test_example_config_passes_check_config(self):
        path = os.path.join(DEPLOY, "indexmux.example.toml")
        p = run_imx("check-config", "--config", path,
                    env=dict(os.environ, INTERNAL_INDEX_TOKEN="x"))
        self.assertEqual(p.returncode, 0, explain(p))
        self.assertEqual(p.stderr, "", "warnings: " + p.stderr)
        with open(path) as fh:
            text = fh.read()
        with open(os.path.join(SOURCE_DIR, "config", "config.c")) as fh:
            src = fh.read()
        keys = set(re.findall(r'CK_S[U]?\("([a-z-]+)"', src))
        keys |= set(re.findall(r'CK_I[U]?\("([a-z-]+)"', src))
        keys |= {"listen", "log-level", "log-format"}
        self.assertGreater(len(keys), 20)
        for k in sorted(keys):
            self.assertRegex(text, r"(?m)^#? ?%s = " % re.escape(k), "key %s not shown" % k)

    def test_k8s_manifests(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml is not installed")
        with open(os.path.join(DEPLOY, "k8s", "indexmux.yaml")) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"Deployment", "PersistentVolumeClaim", "Service"})
        pod = kinds["Deployment"]["spec"]["template"]["spec"]
        c = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": 3144})
        self.assertIn("0.0.0.0:3144", c["args"])
        for probe in ("readinessProbe", "livenessProbe"):
            self.assertEqual(c[probe]["httpGet"]["path"], "/healthz", probe)
            self.assertIn(c[probe]["httpGet"]["port"], ("http", 3144), probe)
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        self.assertEqual(mounts["data"], "/var/lib/indexmux")
        self.assertIn("/var/lib/indexmux", c["args"])
        vols = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(vols["data"]["persistentVolumeClaim"]["claimName"],
                         kinds["PersistentVolumeClaim"]["metadata"]["name"])
        svc = kinds["Service"]["spec"]
        self.assertEqual(svc["selector"], kinds["Deployment"]["spec"]["selector"]["matchLabels"])
        self.assertEqual(svc["ports"][0]["targetPort"], "http")

    def test_systemd_unit_verifies(self):
        sa = shutil.which("systemd-analyze")
        if not sa:
            self.skipTest("systemd-analyze is not installed")
        b = imx_bin()
        if not b:
            self.skipTest("IMX_BIN is not set")
        with open(os.path.join(DEPLOY, "indexmux.service")) as fh:
            unit = fh.read()
        for want in ("DynamicUser=yes", "StateDirectory=indexmux", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure",
                     "ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE="):
            self.assertIn(want, unit)
        tmp = tempfile.mkdtemp(prefix="imx-unit-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # verify checks that ExecStart exists: point it at the built binary.
        path = os.path.join(tmp, "indexmux.service")
        with open(path, "w") as fh:
            fh.write(unit.replace("/usr/local/bin/indexmux", b))
        p = subprocess.run([sa, "verify", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, explain(p))

    def test_dockerfile_uses_make_deps_and_cmake_steps(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as fh:
            df = fh.read()
        with open(os.path.join(SOURCE_DIR, "Makefile")) as fh:
            mk = fh.read()
        m = re.search(r"^DEPS\s*=\s*((?:.*\\\n)*.*)$", mk, re.M)
        self.assertIsNotNone(m)
        for pkg in m.group(1).replace("\\\n", " ").split():
            self.assertIn(pkg, df, "Makefile DEPS package %s missing from the build stage" % pkg)
        self.assertEqual(len(re.findall(r"^FROM debian:12", df, re.M)), 2)
        self.assertIn("cmake -S . -B build", df)
        self.assertIn("cmake --build build", df)
        self.assertIn("COPY --from=build /src/build/server/indexmux", df)


if __name__ == "__main__":
    unittest.main(verbosity=2)
