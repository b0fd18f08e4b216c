"""mailssl-probe and the Python binding against loopback mail servers.

usage: test_probe_program.py MAILSSL_PROBE MKCERTS LIBMAILSSL_SO PYTHON_DIR
                             [--features=validate,dialogue]

The probe engine can be built before certificate validation
(lib/validate/validate.c)
and the STARTTLS/post-TLS dialogues (lib/probe/dialogue.c) are in the library;
meson says which are, and the tests that need a missing one are skipped
with that reason. Every test starts the servers it needs (mailservers.py) and stops them; the
certificates are made at run time by mkcerts (dates relative to now, with
half-day margins, so days_left is exact).
"""
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import unittest

import formats
from mailservers import Server, free_port, CAPS_AFTER

PROBE = MKCERTS = LIBRARY = PYDIR = None
CERTS = None
# Read before the classes below are defined: needs() decides at once.
FEATURES = {f for a in sys.argv if a.startswith("--features=")
            for f in a[len("--features="):].split(",") if f}


def needs(*features):
    """Skips a test or class when the library lacks one of features."""
    missing = [f for f in features if f not in FEATURES]
    return unittest.skipIf(bool(missing), "the library has no %s yet" %
                           " or ".join("lib/%s.c" % f for f in missing))


def setUpModule():
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="mailssl-probe-test.")
    subprocess.run([MKCERTS, CERTS], check=True)


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name + ".pem"), os.path.join(CERTS,
                                                           name + ".key")


def ca():
    return os.path.join(CERTS, "ca.pem")


def run(*args, stderr=subprocess.PIPE):
    """Runs mailssl-probe; returns (exit code, stdout, stderr)."""
    p = subprocess.run([PROBE] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=stderr, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def probe_json(*args):
    """Runs with --format json; returns (exit code, [objects])."""
    rc, out, err = run("--format", "json", *args)
    return rc, formats.parse_json_lines(out)


class Diagnoses(unittest.TestCase):
    """One target at a time: diagnosis, status and exit code agree."""

    @needs("validate", "dialogue")
    def test_imaps_ok(self):
        with Server("imaps", *cert("good")) as s:
            url = "imaps://localhost:%d" % s.port
            rc, [r] = probe_json("--cafile", ca(), url)
        self.assertEqual(rc, 0)
        self.assertEqual(r["url"], url)
        self.assertEqual(r["protocol"], "imaps")
        self.assertEqual(r["host"], "localhost")
        self.assertEqual(r["port"], s.port)
        self.assertEqual(r["address"], "127.0.0.1")
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["diagnosis"]["code"], "ok")
        self.assertEqual(r["stage"], "done")
        self.assertIn(r["tls"]["version"], ("TLS1.2", "TLS1.3"))
        self.assertEqual(r["certificate"]["days_left"], 200)
        self.assertIn("localhost", r["certificate"]["names"])
        self.assertEqual(r["chain_length"], 2)
        self.assertEqual(r["capabilities"], CAPS_AFTER.split())
        self.assertGreater(r["timing_ms"]["total"], 0)

    @needs("dialogue")
    def test_imap_starttls_ok_and_capabilities_after_tls_only(self):
        with Server("imap", *cert("good")) as s:
            rc, [r] = probe_json("--cafile", ca(),
                                 "imap://localhost:%d" % s.port)
        self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                         (0, "ok", "ok"))
        self.assertEqual(r["capabilities"], CAPS_AFTER.split())
        self.assertNotIn("STARTTLS", r["capabilities"])
        self.assertNotIn("LOGINDISABLED", r["capabilities"])
        self.assertGreaterEqual(r["timing_ms"]["starttls"], 0)

    @needs("validate")
    def test_expiring_is_warning_then_critical_with_wider_windows(self):
        with Server("imaps", *cert("expiring")) as s:
            url = "imaps://localhost:%d" % s.port
            rc, [r] = probe_json("--cafile", ca(), url)
            self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                             (1, "warning", "cert-expiring"))
            self.assertEqual(r["certificate"]["days_left"], 10)
            rc, [r] = probe_json("--cafile", ca(), "--crit", "11", url)
            self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                             (2, "critical", "cert-expiring"))
            rc, [r] = probe_json("--cafile", ca(), "--warn", "10",
                                 "--crit", "5", url)
            self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                             (0, "ok", "ok"))

    @needs("validate")
    def test_expired(self):
        with Server("imaps", *cert("expired")) as s:
            rc, [r] = probe_json("--cafile", ca(),
                                 "imaps://localhost:%d" % s.port)
        self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                         (2, "critical", "cert-expired"))
        self.assertEqual(r["certificate"]["days_left"], -3)

    @needs("validate")
    def test_untrusted_without_cafile(self):
        with Server("imaps", *cert("good")) as s:
            rc, [r] = probe_json("imaps://localhost:%d" % s.port)
        self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                         (2, "critical", "cert-untrusted"))
        self.assertIn("certificate", r)  # sent, even though not trusted

    @needs("validate")
    def test_servername_is_verified(self):
        with Server("imaps", *cert("good")) as s:
            url = "imaps://localhost:%d" % s.port
            rc, [r] = probe_json("--cafile", ca(), "--servername",
                                 "other.test", url)
            self.assertEqual((rc, r["diagnosis"]["code"]),
                             (2, "cert-name-mismatch"))
            rc, [r] = probe_json("--cafile", ca(), "--servername",
                                 "mail.test", url)
            self.assertEqual((rc, r["diagnosis"]["code"]), (0, "ok"))

    def test_connect_to_keeps_the_url_host_for_verification(self):
        with Server("imaps", *cert("good")) as a, \
                Server("imaps", *cert("good")) as b:
            # mail.test does not resolve: only --connect-to gets there,
            # and it applies to every URL
            rc, rs = probe_json("--cafile", ca(), "--connect-to",
                                "127.0.0.1", "imaps://mail.test:%d" % a.port,
                                "imaps://mail.test:%d" % b.port)
        self.assertEqual(rc, 0)
        self.assertEqual([(r["host"], r["address"], r["diagnosis"]["code"])
                          for r in rs],
                         [("mail.test", "127.0.0.1", "ok")] * 2)

    def test_closed_during_handshake(self):
        with Server("close") as s:
            rc, [r] = probe_json("--cafile", ca(),
                                 "imaps://localhost:%d" % s.port)
        self.assertEqual((rc, r["status"], r["diagnosis"]["code"],
                          r["stage"]),
                         (2, "critical", "tls-closed-during-handshake",
                          "connect"))
        self.assertNotIn("certificate", r)

    def test_connect_refused(self):
        rc, [r] = probe_json("imaps://127.0.0.1:%d" % free_port())
        self.assertEqual((rc, r["status"], r["diagnosis"]["code"]),
                         (2, "critical", "connect-refused"))

    def test_many_targets_with_bounded_concurrency(self):
        with Server("imaps", *cert("good")) as a, Server("close") as b:
            urls = ["imaps://localhost:%d" % (a.port if i % 4 else b.port)
                    for i in range(40)]
            rc, rs = probe_json("--cafile", ca(), "--concurrency", "7",
                                *urls)
            self.assertEqual((a.accepted, b.accepted), (30, 10))
        self.assertEqual(rc, 2)
        self.assertEqual([(r["url"], r["diagnosis"]["code"]) for r in rs],
                         [(u, "tls-closed-during-handshake"
                           if u.endswith(":%d" % b.port) else "ok")
                          for u in urls])

    def test_tls_timeout(self):
        with Server("silent") as s:
            rc, [r] = probe_json("--timeout", "0.5",
                                 "imaps://127.0.0.1:%d" % s.port)
        self.assertEqual((r["diagnosis"]["code"], r["stage"]),
                         ("tls-timeout", "connect"))
        self.assertEqual(rc, STATUS[r["status"]])

    @needs("dialogue")
    def test_greeting_timeout(self):
        with Server("silent") as s:
            rc, [r] = probe_json("--timeout", "0.5",
                                 "imap://127.0.0.1:%d" % s.port)
        self.assertEqual((r["diagnosis"]["code"], r["stage"]),
                         ("greeting-timeout", "connect"))
        self.assertEqual(rc, STATUS[r["status"]])

    def test_every_format_without_certificate_checks(self):
        """ok, closed during the handshake and refused, in each format."""
        with Server("imaps", *cert("good")) as a, Server("close") as b:
            urls = ["imaps://localhost:%d" % a.port,
                    "imaps://localhost:%d" % b.port,
                    "pop3s://127.0.0.1:%d" % free_port()]
            codes = ["ok", "tls-closed-during-handshake", "connect-refused"]
            rc, rs = probe_json("--cafile", ca(), *urls)
            self.assertEqual(rc, 2)
            self.assertEqual([(r["url"], r["diagnosis"]["code"])
                              for r in rs], list(zip(urls, codes)))
            rc, out, err = run("--cafile", ca(), *urls)
            rows, _ = formats.parse_text(out)
            self.assertEqual((rc, err), (2, ""))
            self.assertEqual([(r["TARGET"], r["DIAGNOSIS"]) for r in rows],
                             list(zip(urls, codes)))
            rc, out, _ = run("--format", "nagios", "--cafile", ca(), *urls)
            state, text, perf = formats.parse_nagios(out)
            self.assertEqual((rc, state), (2, "CRITICAL"))
            self.assertTrue(text.startswith("3 targets: 2 critical, 1 ok; "),
                            text)
            self.assertIn(urls[0] + " handshake_time", perf)
            for u in urls:
                self.assertIn(u + " time", perf)
            self.assertNotIn(urls[2] + " handshake_time", perf)
            rc, out, _ = run("--format", "prometheus", "--cafile", ca(),
                             *urls)
            fams = formats.parse_prometheus(out)
            self.assertEqual(rc, 2)
            self.assertEqual(
                {s[1]["target"]: s[1]["code"]
                 for s in fams["mailssl_probe_diagnosis"]["samples"]},
                dict(zip(urls, codes)))
            self.assertEqual(
                [s[2] for s in fams["mailssl_probe_success"]["samples"]],
                [1, 0, 0])


STATUS = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


@needs("validate")
class Formats(unittest.TestCase):
    """Several targets, every format parsed back."""

    @classmethod
    def setUpClass(cls):
        cls.servers = [Server("imaps", *cert("good")),
                       Server("imaps", *cert("expiring")),
                       Server("close")]
        cls.urls = ["imaps://localhost:%d" % cls.servers[0].port,
                    "imaps://localhost:%d" % cls.servers[1].port,
                    "imaps://localhost:%d" % cls.servers[2].port]

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()

    def test_exit_code_is_the_worst_status(self):
        self.assertEqual(run("--cafile", ca(), *self.urls[:1])[0], 0)
        self.assertEqual(run("--cafile", ca(), *self.urls[:2])[0], 1)
        self.assertEqual(run("--cafile", ca(), *self.urls)[0], 2)
        self.assertEqual(run("--cafile", ca(), "--concurrency", "1",
                             *reversed(self.urls))[0], 2)

    def test_json_one_object_a_line_in_url_order(self):
        rc, rs = probe_json("--cafile", ca(), *self.urls)
        self.assertEqual(rc, 2)
        self.assertEqual([r["url"] for r in rs], self.urls)
        self.assertEqual([r["diagnosis"]["code"] for r in rs],
                         ["ok", "cert-expiring",
                          "tls-closed-during-handshake"])
        self.assertEqual(rs[1]["findings"][0]["code"], "cert-expiring")

    def test_text(self):
        rc, out, err = run("--cafile", ca(), *self.urls)
        self.assertEqual((rc, err), (2, ""))
        rows, details = formats.parse_text(out)
        self.assertEqual([(r["TARGET"], r["STATUS"], r["DIAGNOSIS"])
                          for r in rows],
                         [(self.urls[0], "ok", "ok"),
                          (self.urls[1], "warning", "cert-expiring"),
                          (self.urls[2], "critical",
                           "tls-closed-during-handshake")])
        self.assertTrue(rows[0]["EXPIRES"].endswith(" (200d)"))
        self.assertTrue(rows[1]["EXPIRES"].endswith(" (10d)"))
        self.assertEqual(rows[2]["TLS"], "-")
        self.assertEqual(rows[2]["EXPIRES"], "-")
        self.assertTrue(any(d.startswith(self.urls[2] + ": critical, "
                                         "tls-closed-during-handshake")
                            for d in details))

    def test_nagios_one_target(self):
        rc, out, _ = run("--format", "nagios", "--cafile", ca(),
                         self.urls[1])
        state, text, perf = formats.parse_nagios(out)
        self.assertEqual((rc, state), (1, "WARNING"))
        self.assertTrue(text.startswith(self.urls[1] + " cert-expiring"))
        self.assertEqual(perf["days_left"][:4], (10.0, "", "30:", "7:"))
        self.assertTrue(formats.in_range(10, perf["days_left"][2]))
        self.assertFalse(formats.in_range(10, perf["days_left"][3]))
        self.assertEqual(perf["handshake_time"][1], "s")
        self.assertEqual(perf["time"][1], "s")
        self.assertGreaterEqual(perf["time"][0], perf["handshake_time"][0])

    def test_nagios_many_targets(self):
        rc, out, _ = run("--format", "nagios", "--cafile", ca(), "--warn",
                         "40", "--crit", "8", *self.urls)
        state, text, perf = formats.parse_nagios(out)
        self.assertEqual((rc, state), (2, "CRITICAL"))
        self.assertTrue(text.startswith(
            "3 targets: 1 critical, 1 warning, 1 ok; " + self.urls[2] +
            " tls-closed-during-handshake"), text)
        self.assertEqual(perf[self.urls[0] + " days_left"][:4],
                         (200.0, "", "40:", "8:"))
        self.assertNotIn(self.urls[2] + " days_left", perf)
        self.assertIn(self.urls[2] + " time", perf)

    def test_prometheus(self):
        rc, out, _ = run("--format", "prometheus", "--cafile", ca(),
                         *self.urls)
        self.assertEqual(rc, 2)
        fams = formats.parse_prometheus(out)

        def values(family, label=None):
            return {(s[1]["target"], s[1].get(label)): s[2]
                    for s in fams[family]["samples"]}
        self.assertEqual(values("mailssl_probe_success"),
                         {(self.urls[0], None): 1, (self.urls[1], None): 1,
                          (self.urls[2], None): 0})
        self.assertEqual(values("mailssl_probe_status"),
                         {(self.urls[0], None): 0, (self.urls[1], None): 1,
                          (self.urls[2], None): 2})
        self.assertEqual(set(values("mailssl_probe_diagnosis", "code")),
                         {(self.urls[0], "ok"),
                          (self.urls[1], "cert-expiring"),
                          (self.urls[2], "tls-closed-during-handshake")})
        after = values("mailssl_cert_not_after_seconds")
        self.assertEqual(set(after), {(self.urls[0], None),
                                      (self.urls[1], None)})
        rc, [r] = probe_json("--cafile", ca(), self.urls[1])
        self.assertEqual(after[(self.urls[1], None)],
                         formats_epoch(r["certificate"]["not_after"]))
        stages = values("mailssl_probe_duration_seconds", "stage")
        for u in self.urls:
            self.assertIn((u, "total"), stages)
        self.assertIn((self.urls[0], "handshake"), stages)


def formats_epoch(iso):
    import calendar
    import time
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


class Usage(unittest.TestCase):
    def bad(self, args, message):
        rc, out, err = run(*args)
        self.assertEqual((rc, out), (3, ""))
        self.assertEqual(err, "mailssl-probe: " + message + "\n")

    def test_bad_usage_exits_3_with_a_message(self):
        self.bad([], "no URL given: mailssl-probe [OPTIONS] "
                     "SERVICE://HOST[:PORT]... (see --help)")
        self.bad(["--format", "xml", "imap://a"],
                 "--format: 'xml' is not one of text, json, nagios, "
                 "prometheus")
        self.bad(["--frobnicate", "imap://a"],
                 "unknown option '--frobnicate' (see --help)")
        self.bad(["--warn", "3", "imap://a"],
                 "--crit (7 days) must not exceed --warn (3 days)")

    def test_bad_url_exits_3_before_probing(self):
        with Server("silent") as s:
            rc, out, err = run("imaps://127.0.0.1:%d" % s.port, "ftp://x")
            self.assertEqual((rc, out), (3, ""))
            self.assertTrue(err.startswith("mailssl-probe: bad URL 'ftp://x': "),
                            err)
            self.assertEqual(s.accepted, 0)

    def test_nagios_usage_error_is_an_unknown_status_line(self):
        rc, out, err = run("--format", "nagios", "--warn", "x", "imap://a")
        self.assertEqual(rc, 3)
        self.assertEqual(err, "mailssl-probe: --warn: 'x' is not a whole "
                              "number from 0 to 36500\n")
        state, text, perf = formats.parse_nagios(out)
        self.assertEqual((state, perf),  ("UNKNOWN", {}))
        self.assertEqual(text, "--warn: 'x' is not a whole number from 0 "
                               "to 36500")
        rc, out, err = run("--format=nagios", "ftp://x|y")
        state, text, _ = formats.parse_nagios(out)
        self.assertEqual((rc, state), (3, "UNKNOWN"))
        self.assertTrue(text.startswith("bad URL 'ftp://x/y': "), text)

    def test_help_and_version(self):
        rc, out, err = run("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("Usage: mailssl-probe [OPTIONS] URL"))
        rc, out, err = run("--version")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^mailssl-probe \(libmailssl [0-9]+\.[0-9]+"
                              r"\.[0-9]+\)\n$")


class Progress(unittest.TestCase):
    def test_progress_only_on_a_terminal_and_for_many_targets(self):
        with Server("imaps", *cert("good")) as s:
            urls = ["imaps://localhost:%d" % s.port] * 6
            # stderr a pipe: nothing
            rc, out, err = run("--cafile", ca(), "--format", "json", *urls)
            self.assertEqual((rc, err), (0, ""))
            self.assertEqual(len(formats.parse_json_lines(out)), 6)
            # stderr a terminal: a progress line, erased at the end
            master, slave = pty.openpty()
            try:
                rc, out, _ = run("--cafile", ca(), "--format", "json",
                                 *urls, stderr=slave)
                os.close(slave)
                slave = None
                seen = b""
                while True:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
            finally:
                if slave is not None:
                    os.close(slave)
                os.close(master)
            self.assertEqual(rc, 0)
            self.assertIn(b"6/6 probes done", seen)
            self.assertTrue(seen.endswith(b"\r\x1b[K"), seen)
            self.assertEqual(len(formats.parse_json_lines(out)), 6)
            # a handful on a terminal: nothing
            master, slave = pty.openpty()
            rc, out, _ = run("--cafile", ca(), *urls[:5], stderr=slave)
            os.close(slave)
            os.set_blocking(master, False)
            try:
                seen = os.read(master, 4096)
            except (BlockingIOError, OSError):
                seen = b""
            os.close(master)
            self.assertEqual((rc, seen), (0, b""))


class PythonBinding(unittest.TestCase):
    """examples/python: mailssl.py and probe.py."""

    @classmethod
    def setUpClass(cls):
        os.environ["MAILSSL_LIBRARY"] = LIBRARY
        sys.path.insert(0, PYDIR)
        import mailssl
        cls.m = mailssl

    @needs("validate", "dialogue")
    def test_probe_returns_the_result_dict(self):
        with Server("imap", *cert("good")) as s:
            url = "imap://localhost:%d" % s.port
            r = self.m.probe(url, cafile=ca(), timeout=5)
        self.assertEqual((r["url"], r["status"], r["diagnosis"]["code"]),
                         (url, "ok", "ok"))
        self.assertEqual(r["capabilities"], CAPS_AFTER.split())
        self.assertEqual(r["certificate"]["days_left"], 200)

    @needs("validate")
    def test_probe_many_keeps_order(self):
        with Server("imaps", *cert("expiring")) as a, Server("close") as b:
            urls = ["imaps://localhost:%d" % b.port,
                    "imaps://localhost:%d" % a.port]
            rs = self.m.probe_many(urls, concurrency=2, cafile=ca())
        self.assertEqual([(r["url"], r["diagnosis"]["code"]) for r in rs],
                         [(urls[0], "tls-closed-during-handshake"),
                          (urls[1], "cert-expiring")])
        self.assertEqual(self.m.worst_status(r["status"] for r in rs),
                         self.m.CRITICAL)

    def test_bad_arguments_raise(self):
        with self.assertRaises(self.m.Error) as e:
            self.m.probe("ftp://x")
        self.assertEqual(e.exception.code, self.m.ERR_SYNTAX)
        with self.assertRaises(TypeError):
            self.m.probe_many(["imaps://x"], bogus=1)

    @needs("validate", "dialogue")
    def test_probe_script(self):
        with Server("imaps", *cert("expiring")) as s:
            url = "imaps://localhost:%d" % s.port
            p = subprocess.run([sys.executable,
                                os.path.join(PYDIR, "probe.py"),
                                "--cafile", ca(), url],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, MAILSSL_LIBRARY=LIBRARY))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stdout.startswith(
            url + " warning cert-expiring tls=TLS1."), p.stdout)
        self.assertIn(" days_left=10 capabilities=IMAP4rev1,AUTH=PLAIN,ID\n",
                      p.stdout)


if __name__ == "__main__":
    PROBE, MKCERTS, LIBRARY, PYDIR = sys.argv[1:5]
    del sys.argv[1:5]
    sys.argv = [a for a in sys.argv if not a.startswith("--features=")]
    unittest.main(verbosity=2)
