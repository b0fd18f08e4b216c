"""mailssl-check --live and --export against a running mailssl-serve.

usage: test_check_live.py MAILSSL_CHECK MAILSSL_SERVE MKCERTS

The server runs one config (what is really deployed), mailssl-check reads
another (what the bindings say): each case of CASES is one difference and
the findings it must give, per listener, in every output format. Ports are
free loopback ports picked at run time; certificates come from mkcerts.
"""
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serveprog import Serve, free_ports  # noqa: E402

CHECK = SERVE = MKCERTS = None
# made now (the case table names files in it), filled by setUpModule
CERTS = tempfile.mkdtemp(prefix="mailssl-live-test.")


def setUpModule():
    subprocess.run([MKCERTS, CERTS], check=True)


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name + ".pem")


def sha256(name):
    """Of the leaf: the first certificate of the file."""
    end = "-----END CERTIFICATE-----"
    with open(cert(name)) as f:
        leaf = f.read().split(end)[0] + end + "\n"
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(leaf)).hexdigest()


def bind(name, service="*", address="127.0.0.1", sni="*"):
    return "bind %s %s * %s cert=%s key=%s\n" % (
        service, address, sni, cert(name), os.path.join(CERTS, name + ".key"))


def run(*args):
    p = subprocess.run([CHECK] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def live_json(conf):
    """(exit code, [(listener, code, severity, message)]) of the live
    findings (those about listeners), each JSON line checked."""
    rc, out, err = run("--live", "--cafile", os.path.join(CERTS, "ca.pem"),
                       "--timeout", "5", "--format", "json", conf)
    rows = []
    live_json.total = len(out.splitlines())
    for line in out.splitlines():
        obj = json.loads(line)
        assert set(obj) >= {"code", "severity", "message"}, line
        if "listener" in obj:
            rows.append((obj["listener"], obj["code"], obj["severity"],
                         obj["message"]))
    return rc, rows, err


# One case a row: the served config, the checked config (both with {a},
# {b} port placeholders on 127.0.0.1, {c} on 127.0.0.2), the exit code, and
# the (listener, code, severity) findings expected, in order, with the
# words each message must hold.
LISTEN = ("listen imaps 127.0.0.1 {a}\nlisten imap 127.0.0.1 {b}\n")
CASES = [
    ("all-ok", bind("good") + LISTEN, bind("good") + LISTEN, 0,
     [("imaps 127.0.0.1 {a}", "ok", "ok", ["no server name", "bound"]),
      ("imap 127.0.0.1 {b}", "ok", "ok", ["no server name"])]),
    ("name-ok", bind("good") + bind("good2", sni="mail.test") + LISTEN,
     bind("good") + bind("good2", sni="mail.test") + LISTEN, 0,
     [("imaps 127.0.0.1 {a}", "ok", "ok", ["no server name"]),
      ("imaps 127.0.0.1 {a}", "ok", "ok", ["server name mail.test"]),
      ("imap 127.0.0.1 {b}", "ok", "ok", ["no server name"]),
      ("imap 127.0.0.1 {b}", "ok", "ok", ["server name mail.test"])]),
    ("drift", bind("good") + LISTEN,
     bind("good2", service="imaps") + bind("good", service="imap") + LISTEN,
     1,
     [("imaps 127.0.0.1 {a}", "cert-drift", "warning",
       ["@good", "@good2", "not_after", "not reloaded"]),
      ("imap 127.0.0.1 {b}", "ok", "ok", [])]),
    ("name-drift", bind("good") + LISTEN,
     bind("good") + bind("good2", service="imap", sni="mail.test") + LISTEN,
     1,
     [("imaps 127.0.0.1 {a}", "ok", "ok", []),
      ("imap 127.0.0.1 {b}", "ok", "ok", ["no server name"]),
      ("imap 127.0.0.1 {b}", "cert-drift", "warning",
       ["server name mail.test", "@good", "@good2"])]),
    ("dropped", bind("good", service="imap") + LISTEN,
     bind("good") + LISTEN, 2,
     [("imaps 127.0.0.1 {a}", "no-binding-live", "critical",
       ["13002", "dropped", "@good"]),
      ("imap 127.0.0.1 {b}", "ok", "ok", [])]),
    ("not-running", bind("good") + "listen imaps 127.0.0.1 {a}\n",
     bind("good") + LISTEN, 2,
     [("imaps 127.0.0.1 {a}", "ok", "ok", []),
      ("imap 127.0.0.1 {b}", "connect-refused", "critical",
       ["refused"])]),
    # the static audit's findings of each listener come first
    ("expired", bind("expired") + LISTEN, bind("expired") + LISTEN, 2,
     [("imaps 127.0.0.1 {a}", "cert-expired", "critical", []),
      ("imap 127.0.0.1 {b}", "cert-expired", "critical", []),
      ("imaps 127.0.0.1 {a}", "cert-expired", "critical",
       ["no server name"]),
      ("imap 127.0.0.1 {b}", "cert-expired", "critical", [])]),
]


class Live(unittest.TestCase):
    def run_case(self, name, served, checked, want_rc, want):
        d = tempfile.mkdtemp(dir=CERTS, prefix=name + ".")
        a, b = free_ports(2)
        ports = {"a": a, "b": b}
        with Serve(SERVE, served, d, ports=ports):
            conf = os.path.join(d, "check.conf")
            with open(conf, "w") as f:
                f.write(checked.format(**ports))
            rc, rows, err = live_json(conf)
            nag_rc, nag, _ = run("--live", "--cafile",
                                 os.path.join(CERTS, "ca.pem"), "--format",
                                 "nagios", conf)
            txt_rc, txt, _ = run("--live", "--cafile",
                                 os.path.join(CERTS, "ca.pem"), conf)
        self.assertEqual(rc, want_rc, (rows, err))
        self.assertEqual([r[:3] for r in rows],
                         [(l.format(**ports), c, s) for l, c, s, _ in want])
        for row, (_, _, _, words) in zip(rows, want):
            for w in words:
                if w.startswith("@"):
                    w = sha256(w[1:])
                self.assertIn(w, row[3])
        # the text format: one line a finding, the listeners probed (read
        # through mailssl_store_listener_get), the summary
        self.assertEqual(txt_rc, want_rc)
        lines = txt.splitlines()
        self.assertEqual(lines[-2], "live: 2 listeners probed: imaps "
                         "127.0.0.1 %d, imap 127.0.0.1 %d" % (a, b))
        self.assertEqual(len(lines), live_json.total + 2)
        # the Nagios line: same exit code, the worst state, every code
        self.assertEqual(nag_rc, want_rc)
        self.assertRegex(nag, r"^MAILSSL-CHECK (OK|WARNING|CRITICAL) - ")
        self.assertIn(["OK", "WARNING", "CRITICAL"][want_rc], nag)
        for _, code, _, _ in want:
            self.assertIn(code + ": listener ", nag)


def make_test(case):
    def test(self):
        self.run_case(*case)
    test.__name__ = "test_" + case[0].replace("-", "_")
    return test


for _case in CASES:
    setattr(Live, make_test(_case).__name__, make_test(_case))


class Export(unittest.TestCase):
    CONF = (bind("good", address="*") +
            bind("good2", service="imaps", address="127.0.0.2") +
            bind("good2", service="smtp", sni="mail.test", address="*") +
            "listen imaps 127.0.0.1 10993\nlisten imaps 127.0.0.2 10993\n"
            "listen smtps 127.0.0.1 10465\nlisten smtp 0.0.0.0 10025\n")

    def export(self, what):
        d = tempfile.mkdtemp(dir=CERTS, prefix="export.")
        conf = os.path.join(d, "x.conf")
        with open(conf, "w") as f:
            f.write(self.CONF)
        rc, out, err = run("--export", what, conf)
        self.assertEqual((rc, err), (0, ""))
        return out

    def test_dovecot(self):
        out = self.export("dovecot")
        self.assertIn("protocols = imap\n", out)
        self.assertIn("\nssl_cert = <%s\n" % cert("good"), out)
        self.assertRegex(out, r"local 127\.0\.0\.2 \{\n  # binding .*:2\n"
                         r"  protocol imap \{\n    ssl_cert = <%s\n" %
                         re.escape(cert("good2")))
        self.assertIn("is not served by Dovecot", out)
        self.assertIn("inet_listener imaps_127_0_0_2_10993 {\n"
                      "    address = 127.0.0.2\n    port = 10993\n"
                      "    ssl = yes\n", out)

    def test_postfix(self):
        out = self.export("postfix")
        parts = re.split(r"^#### (.*)\n", out, flags=re.M)
        self.assertEqual(parts[1::2], ["main.cf", "/etc/postfix/mailssl_sni "
                                       "(then: postmap -F hash:/etc/postfix/"
                                       "mailssl_sni)", "master.cf"])
        self.assertIn("tls_server_sni_maps = hash:/etc/postfix/mailssl_sni",
                      parts[2])
        key2 = os.path.join(CERTS, "good2.key")
        self.assertIn("mail.test %s,%s\n" % (key2, cert("good2")), parts[4])
        self.assertIn("127.0.0.1:10465 inet n - n - - smtpd\n"
                      "  -o smtpd_tls_wrappermode=yes\n", parts[6])
        self.assertIn("10025 inet n - n - - smtpd\n", parts[6])
        self.assertIn("-o smtpd_tls_chain_files=%s,%s\n" % (
            os.path.join(CERTS, "good.key"), cert("good")), parts[6])

    def test_bad_usage(self):
        for args, words in [(["--export", "exim", "x"], "not one of"),
                            (["--export", "dovecot", "--live", "x"],
                             "do not go together"),
                            (["--live", "--timeout", "0", "x"],
                             "whole number from 1"),
                            (["--live", "--concurrency", "x", "c"],
                             "whole number")]:
            rc, out, err = run(*args)
            self.assertEqual((rc, out), (3, ""), args)
            self.assertIn(words, err)


if __name__ == "__main__":
    CHECK, SERVE, MKCERTS = sys.argv[1:4]
    del sys.argv[1:4]
    unittest.main(verbosity=2)
