"""mailssl-demo: runs with no arguments, tells the whole story, exits 0
and leaves nothing behind (no directory, no server).

usage: test_demo_program.py MAILSSL_DEMO
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

DEMO = None


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mailssl-demo-test.")
        t0 = time.monotonic()
        p = subprocess.run([DEMO], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60,
                           env=dict(os.environ, TMPDIR=cls.tmp))
        cls.seconds = time.monotonic() - t0
        cls.rc, cls.out, cls.err = p.returncode, p.stdout, p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exits_0_quickly_and_quietly(self):
        self.assertEqual((self.rc, self.err), (0, ""), self.out)
        self.assertLess(self.seconds, 10)

    def test_the_audit_flags_the_unbound_listener(self):
        port = re.search(r"listen pop3s  127\.0\.0\.1 +(\d+)", self.out)
        self.assertTrue(port, self.out)
        audit = self.out[self.out.index("3. The audit"):
                         self.out.index("4. Every listener")]
        self.assertIn("   critical no-binding  listener pop3s 127.0.0.1 %s\n"
                      % port.group(1), audit)
        self.assertEqual(audit.count("critical"), 1)

    def test_the_probe_diagnoses_the_dropped_handshake(self):
        probes = self.out[self.out.index("4. Every listener"):
                          self.out.index("5. The fix")]
        rows = re.findall(r"^   ([a-z0-9]+)://127\.0\.0\.1:(\d+) +(\S+) +(\S+)"
                          r" +(\S+)$", probes, re.M)
        self.assertEqual([(r[0], r[2], r[3]) for r in rows],
                         [("smtp", "ok", "ok"), ("smtps", "ok", "ok"),
                          ("imap", "ok", "ok"), ("imaps", "ok", "ok"),
                          ("pop3", "ok", "ok"),
                          ("pop3s", "critical",
                           "tls-closed-during-handshake")])
        words = " ".join(probes.split())
        self.assertIn("during the TLS handshake without sending a TLS "
                      "alert", words)
        # the server's side of the same event
        self.assertIn("server log:\n     mailssl-serve: pop3s 127.0.0.1:%s: "
                      "connection from 127.0.0.1:" % rows[-1][1], probes)

    def test_after_the_fix_everything_is_ok(self):
        after = self.out[self.out.index("5. The fix"):]
        self.assertRegex(after, r"bind pop3s 0\.0\.0\.0 \d+ \* cert=mail\.pem "
                                r"key=mail\.key\n")
        self.assertIn("mailssl-serve: reloaded", after)
        self.assertIn("no findings: every listener resolves", after)
        probes = after[after.index("7. Every listener"):
                       after.index("Report")]
        self.assertEqual(len(re.findall(r" ok +ok +TLS1\.[23]\n", probes)),
                         6)
        self.assertIn("All 6 listeners ok: the story played out as "
                      "expected.\n", after)

    def test_leaves_nothing_behind(self):
        self.assertEqual(os.listdir(self.tmp), [])
        pid = re.search(r"mailssl-serve \(pid (\d+)\) started", self.out)
        self.assertTrue(pid, self.out)
        with self.assertRaises(ProcessLookupError):
            os.kill(int(pid.group(1)), 0)
        self.assertRegex(self.out, r"\nStopped mailssl-serve and removed "
                                   r"%s/mailssl-demo\.\w+\.\n\Z" %
                         re.escape(self.tmp))

    def test_arguments_are_refused(self):
        p = subprocess.run([DEMO, "now"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (3, "", "mailssl-demo: takes no arguments (see "
                                 "--help)\n"))
        p = subprocess.run([DEMO, "--help"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("Usage: mailssl-demo\n"))


class Failure(unittest.TestCase):
    def test_cleans_up_when_its_reader_goes_away(self):
        """mailssl-demo | head -1: the demo must not die of SIGPIPE before
        it stopped the server and removed its directory."""
        tmp = tempfile.mkdtemp(prefix="mailssl-demo-test.")
        try:
            p = subprocess.Popen([DEMO], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL,
                                 env=dict(os.environ, TMPDIR=tmp))
            p.stdout.readline()
            p.stdout.close()
            p.wait(60)
            self.assertEqual(os.listdir(tmp), [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_cleans_up_when_the_server_cannot_start(self):
        """A demo with no mailssl-serve beside it or on PATH fails, says
        why, and still removes its directory."""
        tmp = tempfile.mkdtemp(prefix="mailssl-demo-test.")
        try:
            alone = os.path.join(tmp, "bin")
            os.mkdir(alone)
            shutil.copy(DEMO, alone)
            work = os.path.join(tmp, "tmp")
            os.mkdir(work)
            libdir = os.path.dirname(os.path.dirname(os.path.abspath(DEMO)))
            env = dict(os.environ, TMPDIR=work, PATH="/nonexistent",
                       LD_LIBRARY_PATH=libdir)
            p = subprocess.run([os.path.join(alone, "mailssl-demo")],
                               capture_output=True, text=True, timeout=60,
                               env=env)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("mailssl-demo: cannot run mailssl-serve: ",
                          p.stderr)
            self.assertIn("mailssl-demo: mailssl-serve did not start",
                          p.stderr)
            self.assertEqual(os.listdir(work), [])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    DEMO = sys.argv[1]
    del sys.argv[1]
    unittest.main(verbosity=2)
