"""examples/python: the store/audit half of mailssl.py and check.py, against
a running mailssl-serve probed through the same binding.

usage: test_python_store.py MAILSSL_SERVE MKCERTS LIBMAILSSL_SO PYTHON_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from serveprog import Serve

SERVE = MKCERTS = LIBRARY = PYDIR = None
m = None
CERTS = None

CONFIG = """# imaps and smtp bound; pop3s listened on, bound to nothing
bind imaps 127.0.0.1 {{imaps}} * cert={d}/good.pem key={d}/good.key
bind smtp  127.0.0.1 {{smtp}}  * cert={d}/good.pem key={d}/good.key
bind *     127.0.0.1 *       localhost  cert={d}/good2.pem key={d}/good2.key
listen imaps 127.0.0.1 {{imaps}}
listen smtp  127.0.0.1 {{smtp}}
listen pop3s 127.0.0.1 {{pop3s}}
"""


def setUpModule():
    global CERTS, m
    CERTS = tempfile.mkdtemp(prefix="mailssl-python-store.")
    subprocess.run([MKCERTS, CERTS], check=True)
    os.environ["MAILSSL_LIBRARY"] = LIBRARY
    sys.path.insert(0, PYDIR)
    import mailssl
    m = mailssl


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


class StoreAgainstServe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Serve(SERVE, CONFIG.format(d=CERTS), CERTS,
                      ["imaps", "smtp", "pop3s"])
        cls.ca = os.path.join(CERTS, "ca.pem")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def test_audit_finds_the_unbound_listener(self):
        with m.Store(self.s.path) as store:
            self.assertEqual((store.bindings, store.listeners), (3, 3))
            findings = store.audit(cafile=self.ca)
        self.assertEqual([(f["code"], f["severity"], f.get("listener"))
                          for f in findings],
                         [("no-binding", "critical",
                           "pop3s 127.0.0.1 %d" % self.s.port["pop3s"])])
        self.assertIn("bind pop3s 0.0.0.0 %d * cert=FILE" %
                      self.s.port["pop3s"], findings[0]["message"])

    def test_lookup_names_the_certificate_the_server_presents(self):
        urls = ["imaps://127.0.0.1:%d" % self.s.port["imaps"],
                "smtp://127.0.0.1:%d" % self.s.port["smtp"],
                "pop3s://127.0.0.1:%d" % self.s.port["pop3s"],
                "imaps://localhost:%d" % self.s.port["imaps"]]
        rs = m.probe_many(urls, cafile=self.ca, connect_to="127.0.0.1",
                          timeout=5)
        self.assertEqual([r["diagnosis"]["code"] for r in rs],
                         ["ok", "ok", "tls-closed-during-handshake", "ok"])
        with m.Store(self.s.path) as store:
            for r, (svc, sni) in zip(rs, [("imaps", None), ("smtp", None),
                                          ("pop3s", None),
                                          ("imaps", "localhost")]):
                hit = store.lookup(svc, "127.0.0.1", r["port"], sni)
                if r["diagnosis"]["code"] == "ok":
                    self.assertEqual(hit["certificate"]["sha256"],
                                     r["certificate"]["sha256"])
                else:
                    self.assertIsNone(hit["certificate"])
                    self.assertIn("pop3s on 127.0.0.1 port %d" %
                                  r["port"], hit["reason"])
        self.assertNotEqual(rs[0]["certificate"]["sha256"],
                            rs[3]["certificate"]["sha256"])

    def test_listen_lines_export_and_live_audit(self):
        port = self.s.port
        with m.Store(self.s.path) as store:
            self.assertEqual(store.listen_lines(),
                             [("imaps", "127.0.0.1", port["imaps"]),
                              ("smtp", "127.0.0.1", port["smtp"]),
                              ("pop3s", "127.0.0.1", port["pop3s"])])
            self.assertIn("#### master.cf\n", store.export("postfix"))
            with self.assertRaises(m.Error):
                store.export("exim")
            live = store.audit_live(cafile=self.ca, timeout=5)
        self.assertEqual([(f["code"], f["listener"],
                           f["message"].split(":")[0]) for f in live],
                         [("ok", "imaps 127.0.0.1 %d" % port["imaps"],
                           "no server name"),
                          ("ok", "imaps 127.0.0.1 %d" % port["imaps"],
                           "server name localhost"),
                          ("ok", "smtp 127.0.0.1 %d" % port["smtp"],
                           "no server name"),
                          ("ok", "smtp 127.0.0.1 %d" % port["smtp"],
                           "server name localhost"),
                          ("no-binding-live",
                           "pop3s 127.0.0.1 %d" % port["pop3s"],
                           "no server name"),
                          ("ok", "pop3s 127.0.0.1 %d" % port["pop3s"],
                           "server name localhost")])

    def test_single_probe_of_a_starttls_service(self):
        r = m.probe("smtp://127.0.0.1:%d" % self.s.port["smtp"],
                    cafile=self.ca, timeout=5)
        self.assertEqual((r["status"], r["diagnosis"]["code"], r["stage"]),
                         ("ok", "ok", "done"))
        self.assertNotIn("STARTTLS", r["capabilities"])

    def test_check_script(self):
        p = subprocess.run([sys.executable, os.path.join(PYDIR, "check.py"),
                            "--cafile", self.ca, self.s.path, "imaps",
                            "127.0.0.1", str(self.s.port["imaps"])],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MAILSSL_LIBRARY=LIBRARY))
        self.assertEqual((p.returncode, p.stderr), (2, ""))
        lines = p.stdout.splitlines()
        self.assertTrue(lines[0].startswith(
            "listener pop3s 127.0.0.1 %d: critical: no-binding: " %
            self.s.port["pop3s"]), lines[0])
        self.assertEqual(lines[1], "%s: 3 bindings, 3 listeners, 1 findings"
                         % self.s.path)
        self.assertRegex(lines[2], r"^imaps 127\.0\.0\.1 %d: CN=mail\.test "
                                   r"sha256=[0-9a-f]{64}$" %
                         self.s.port["imaps"])


class StoreAlone(unittest.TestCase):
    """The binding without a server: errors, strict mode."""

    def test_load_error_is_file_line_column_and_keeps_the_old_table(self):
        with m.Store() as store:
            store.load_string("bind * * * * cert=%s/good.pem key=%s/good.key\n"
                              % (CERTS, CERTS), "one.conf")
            with self.assertRaises(m.Error) as e:
                store.load_string("listen imaps 127.0.0.1 993\n"
                                  "bind imaps 127.0.0.1 0 * cert=x\n",
                                  "two.conf")
            self.assertEqual(e.exception.code, m.ERR_SYNTAX)
            self.assertRegex(str(e.exception), r"^two\.conf:2:[0-9]+: ")
            self.assertEqual((store.bindings, store.listeners), (1, 0))
            self.assertIn("bind * * * * cert=", store.to_string())

    def test_strict_mode_misses_unknown_names(self):
        with m.Store() as store:
            store.load_string("bind imaps * * * cert=%s/good.pem "
                              "key=%s/good.key\n" % (CERTS, CERTS))
            hit = store.lookup("imaps", "192.0.2.1", 993, "unknown.test")
            self.assertEqual(hit["certificate"]["subject"], "CN=mail.test")
            store.set_strict(True)
            hit = store.lookup("imaps", "192.0.2.1", 993, "unknown.test")
            self.assertIsNone(hit["certificate"])
            self.assertIn("unknown.test", hit["reason"])
            hit = store.lookup("imaps", "192.0.2.1", 993)
            self.assertEqual(hit["certificate"]["subject"], "CN=mail.test")

    def test_bad_arguments(self):
        with m.Store() as store:
            with self.assertRaises(m.Error):
                store.lookup("ftp", "127.0.0.1", 21)
            with self.assertRaises(m.Error) as e:
                store.audit(cafile=os.path.join(CERTS, "nope.pem"))
            self.assertTrue(str(e.exception).startswith("cafile: "))
            with self.assertRaises(m.Error):
                m.Store(os.path.join(CERTS, "nope.conf"))


if __name__ == "__main__":
    SERVE, MKCERTS, LIBRARY, PYDIR = sys.argv[1:5]
    del sys.argv[1:5]
    unittest.main(verbosity=2)
