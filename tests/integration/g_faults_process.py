#!/usr/bin/env python3
"""Issue 7 item 3: process and disk faults, end to end.

  - SIGKILL while a cold 200 MB wheel is being fetched (the upstream stalls
    mid-body so the kill lands mid-transfer), and while many pages are being
    fetched and written; then a restart on the same data dir: `indexmux
    fsck` exits 0, the file is fetched anew and served whole with the right
    hash, every page is served.
  - LMDB map full (`lmdb-map-size` tiny): one clear log line, cached pages
    and files keep being served from the store.
  - A full disk: a 20 MiB tmpfs as the data dir, mostly taken by a filler
    file, and a download larger than what is left: the client's transfer is
    cut (never a complete-looking 200 with wrong bytes), no temp file is
    kept, fsck is clean, a clear log line; once the filler is deleted the
    next request is stored. Skipped when tmpfs cannot be mounted.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from b_mirror_common import Mirror, describe, file_entry  # noqa: E402
from g_faults_common import JSON_V1, fsck, raw_get, server, tmp_files  # noqa: E402
from harness import wait_for, wheels  # noqa: E402

DEMO = "/pypi/simple/demo-pkg/"
BIG_SIZE = 500 * 1000 * 1000  # issue 7: "SIGKILL in the middle of a cold 500 MB fetch"
N_PROJECTS = 240


def project_name(i):
    return "p%04d" % i


class ProcessFaults(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.m = Mirror()
        cls.big_dir = tempfile.mkdtemp(prefix="imx-faults-big-")
        spec = cls.m.pypi_spec()
        for i in range(N_PROJECTS):
            spec["projects"][project_name(i)] = {"files": [{"path": cls.m.dep}]}
        cls.spec = spec
        cls.m.pypi.set_spec(spec)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        shutil.rmtree(cls.big_dir, ignore_errors=True)

    def setUp(self):
        self.m.reset()
        self.data = tempfile.mkdtemp(prefix="imx-faults-data-")
        self.addCleanup(shutil.rmtree, self.data, True)

    def start(self, data_dir=None, **kw):
        imx = server(self.m, data_dir=data_dir or self.data, **kw)
        imx.start()
        self.addCleanup(imx.cleanup)
        return imx

    def assert_fsck_clean(self, imx):
        p = fsck(imx)
        self.assertEqual(p.returncode, 0, "fsck:\n%s\n%s" % (p.stdout, p.stderr))
        return p

    def kill9(self, imx):
        imx.proc.send_signal(signal.SIGKILL)
        imx.proc.wait(timeout=10)
        rc = imx.proc.returncode
        imx.kill()
        self.assertEqual(rc, -signal.SIGKILL)

    # ------------------------------------------------------------------
    def test_sigkill_during_a_cold_large_fetch(self):
        m = self.m
        big = wheels.make_big_wheel(self.big_dir, "big-pkg", "1.0", BIG_SIZE)
        sha = wheels.sha256_of(big)
        spec = dict(self.spec, projects=dict(self.spec["projects"]))
        spec["projects"]["big-pkg"] = {"files": [{"path": big, "sha256": sha}]}
        m.pypi.set_spec(spec)
        self.addCleanup(m.pypi.set_spec, self.spec)
        fn = os.path.basename(big)
        imx = self.start(timeout=60)
        path, entry = file_entry(imx, "/pypi/simple/big-pkg/", fn)
        self.assertEqual(entry["hashes"], {"sha256": sha})
        # the upstream stalls at 80 MB: the kill lands mid-transfer
        m.pypi.fault("/packages/", "stall_mid", port="files", after=80 << 20, seconds=60,
                     count=1)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=raw_get(imx.port, path, 90)),
                             daemon=True)
        t.start()
        wait_for(lambda: any(os.path.getsize(p) >= 80 << 20 for p in tmp_files(self.data)),
                 timeout=60, what="80 MB in the download's temp file")
        self.kill9(imx)
        t.join(timeout=30)
        st, _, body, complete = result["r"]
        self.assertFalse(st == 200 and complete, "a complete-looking 200 from a killed server")
        self.assertLess(len(body), BIG_SIZE)
        m.pypi.clear_faults()
        # the dead server's store: consistent (the half download is only a temp file)
        self.assert_fsck_clean(imx)
        m.reset()
        imx = self.start(timeout=60)
        self.assertEqual(tmp_files(self.data), [], "temp files survive a restart")
        st, _, body, complete = raw_get(imx.port, path, timeout=120)
        self.assertEqual((st, complete, len(body)), (200, True, os.path.getsize(big)))
        self.assertEqual(hashlib.sha256(body).hexdigest(), sha)
        del body
        reqs = m.pypi.requests()
        self.assertEqual([os.path.basename(r["decoded_path"]) for r in reqs], [fn],
                         "fetched anew, the page came from the store: " + describe(reqs))
        m.reset()
        st, _, body, complete = raw_get(imx.port, path, timeout=120)
        self.assertEqual((st, complete, hashlib.sha256(body).hexdigest()), (200, True, sha))
        self.assertEqual(m.pypi.requests(), [], "not stored")
        del body
        self.assertEqual(imx.stop(), 0, imx.log())
        self.assert_fsck_clean(imx)

    # ------------------------------------------------------------------
    def test_sigkill_during_page_writes(self):
        m = self.m
        imx = self.start()
        names = [project_name(i) for i in range(N_PROJECTS)]
        stop = threading.Event()

        def client(part):
            for n in part:
                if stop.is_set():
                    return
                try:
                    imx.get("/pypi/simple/%s/" % n, {"Accept": JSON_V1}, timeout=10)
                except OSError:
                    return
        threads = [threading.Thread(target=client, args=(names[i::8],), daemon=True)
                   for i in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: m.pypi.count("/simple/p") >= N_PROJECTS // 3, timeout=60,
                 what="a third of the pages fetched")
        self.kill9(imx)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        asked = {r["decoded_path"] for r in m.pypi.requests("/simple/p")}
        self.assertLess(len(asked), N_PROJECTS, "every page was done before the kill")
        self.assert_fsck_clean(imx)
        # restart on the same data dir: every page serves, each with its file
        m.reset()
        imx = self.start()
        for n in names:
            st, _, body = imx.get("/pypi/simple/%s/" % n, {"Accept": JSON_V1})
            self.assertEqual(st, 200, (n, body))
        again = {r["decoded_path"] for r in m.pypi.requests("/simple/p")}
        self.assertLessEqual(len(again), N_PROJECTS)
        self.assertGreater(N_PROJECTS - len(again), 0, "nothing stored before the kill was kept")
        path, _ = file_entry(imx, "/pypi/simple/%s/" % names[-1], os.path.basename(m.dep))
        st, _, body, complete = raw_get(imx.port, path)
        with open(m.dep, "rb") as fh:
            self.assertEqual((st, complete, body), (200, True, fh.read()))
        self.assertEqual(imx.stop(), 0, imx.log())
        self.assert_fsck_clean(imx)
        sys.stderr.write("\nobserved: %d pages asked before the kill, %d kept\n"
                         % (len(asked), N_PROJECTS - len(again)))

    # ------------------------------------------------------------------
    def test_lmdb_map_full(self):
        m = self.m
        imx = self.start(server_extra='lmdb-map-size = "256KiB"')
        with open(m.demo10, "rb") as fh:
            demo = fh.read()
        st, _, demo_page = imx.get(DEMO, {"Accept": JSON_V1})
        self.assertEqual(st, 200)
        demo_path, _ = file_entry(imx, DEMO, os.path.basename(m.demo10))
        full = None
        for i in range(N_PROJECTS):
            st, _, body = imx.get("/pypi/simple/%s/" % project_name(i), {"Accept": JSON_V1})
            if "is full" in imx.log():
                full = i
                break
            self.assertEqual(st, 200, body)
        self.assertIsNotNone(full, "the map never filled:\n" + imx.log()[-3000:])
        lines = [l for l in imx.log().splitlines() if "metadata store '" in l and "is full" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"metadata store '.*' is full \(map size \d+\); "
                                   r"serving from what is stored")
        m.reset()
        t0 = time.monotonic()
        # pages stored before: served from the store, no upstream request
        st, _, body = imx.get(DEMO, {"Accept": JSON_V1})
        self.assertEqual((st, body), (200, demo_page))
        st, _, body = imx.get("/pypi/simple/%s/" % project_name(0), {"Accept": JSON_V1})
        self.assertEqual(st, 200)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(m.pypi.requests(), [], describe(m.pypi.requests()))
        # a file registered before: passes through to the client
        st, _, body, complete = raw_get(imx.port, demo_path)
        self.assertEqual((st, complete, body == demo), (200, True, True))
        # a page never fetched: not stored, so not served either (reported)
        st, _, body = imx.get("/pypi/simple/%s/" % project_name(N_PROJECTS - 1),
                              {"Accept": JSON_V1})
        sys.stderr.write("\nobserved: map full after %d pages; a new page -> %d %r\n"
                         % (full, st, body[:200]))
        self.assertIn(st, (200, 502), body)
        if st == 502:
            self.assertIn(b"'pypi'", body)
        self.assertEqual(imx.get("/healthz")[0], 200)
        self.assertEqual(imx.stop(), 0, imx.log())
        self.assert_fsck_clean(imx)

    # ------------------------------------------------------------------
    def mount_tmpfs(self, size="20m"):
        mnt = tempfile.mkdtemp(prefix="imx-faults-tmpfs-")
        self.addCleanup(shutil.rmtree, mnt, True)
        try:
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                               capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            self.skipTest("cannot mount tmpfs: %s" % e)
        if p.returncode != 0:
            self.skipTest("cannot mount tmpfs: %s" % p.stderr.strip())

        def umount():
            for _ in range(50):
                if subprocess.run(["umount", mnt], capture_output=True,
                                  timeout=30).returncode == 0:
                    return
                time.sleep(0.1)
            subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)
        self.addCleanup(umount)
        return mnt

    def test_full_disk(self):
        m = self.m
        mnt = self.mount_tmpfs("20m")
        data = os.path.join(mnt, "data")
        wheel = wheels.make_big_wheel(self.big_dir, "fat-pkg", "1.0", 8 << 20)
        with open(wheel, "rb") as fh:
            fat = fh.read()
        spec = dict(self.spec, projects=dict(self.spec["projects"]))
        spec["projects"]["fat-pkg"] = {"files": [{"path": wheel}]}
        m.pypi.set_spec(spec)
        self.addCleanup(m.pypi.set_spec, self.spec)
        imx = self.start(data_dir=data, server_extra='lmdb-map-size = "4MiB"')
        st, _, page = imx.get(DEMO, {"Accept": JSON_V1})
        self.assertEqual(st, 200)
        path, _ = file_entry(imx, "/pypi/simple/fat-pkg/", os.path.basename(wheel))
        # leave about 4 MiB free: less than the 8 MiB wheel
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, free - (4 << 20)))
        m.reset()
        t0 = time.monotonic()
        st, clen, body, complete = raw_get(imx.port, path)
        sys.stderr.write("\nobserved: disk full -> status %d, %d of %d bytes, complete=%s\n"
                         % (st, len(body), len(fat), complete))
        # The download passes through whole (verified against the page's
        # sha256) although it cannot be stored.
        self.assertEqual((st, complete, body == fat), (200, True, True))
        self.assertLess(time.monotonic() - t0, 30)
        wait_for(lambda: not tmp_files(data), timeout=10, what="temp files removed")
        name = re.escape(os.path.basename(wheel))
        self.assertRegex(imx.log(), r"cannot store '%s' \(no space left on device\): passing it "
                                    r"through" % name)
        self.assertRegex(imx.log(), r"'%s' was passed through without being stored" % name)
        # other requests are still served
        st, _, body = imx.get(DEMO, {"Accept": JSON_V1})
        self.assertEqual((st, body), (200, page))
        # space returns: the next request is stored
        os.unlink(filler)
        m.reset()
        st, _, body, complete = raw_get(imx.port, path)
        self.assertEqual((st, complete, body == fat), (200, True, True))
        m.reset()
        st, _, body, complete = raw_get(imx.port, path)
        self.assertEqual((st, complete, body == fat), (200, True, True))
        self.assertEqual(m.pypi.requests(), [], "not stored once space returned")
        self.assertEqual(imx.stop(), 0, imx.log())
        self.assert_fsck_clean(imx)


if __name__ == "__main__":
    unittest.main(verbosity=2)
