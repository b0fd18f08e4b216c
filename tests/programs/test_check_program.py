"""mailssl-check: exit codes, text and JSON parsed back, config errors.

usage: test_check_program.py MAILSSL_CHECK MKCERTS

Certificates come from mkcerts (dates relative to now, half-day margins).
Tests that need the audit to validate through the validator (trust
against --cafile, --warn/--crit windows) are skipped, with that reason,
while lib/store/audit.c still uses its interim checks.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECK = MKCERTS = None
CERTS = None
VALIDATOR_IN_AUDIT = None


def setUpModule():
    global CERTS, VALIDATOR_IN_AUDIT
    CERTS = tempfile.mkdtemp(prefix="mailssl-check-test.")
    subprocess.run([MKCERTS, CERTS], check=True)
    # Does the audit use the validator's windows yet? 10 days left with
    # --warn 5 is ok only when it does.
    conf = write("probe-validator.conf", bind("expiring"))
    VALIDATOR_IN_AUDIT = run(conf, "--cafile", ca(), "--warn", "5",
                             "--crit", "1")[0] == 0


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


def needs_validator(f):
    def wrapper(self):
        if not VALIDATOR_IN_AUDIT:
            self.skipTest("lib/store/audit.c does not validate through the "
                          "validator yet")
        return f(self)
    wrapper.__name__ = f.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper


def ca():
    return os.path.join(CERTS, "ca.pem")


def bind(cert, service="*", address="127.0.0.1", port="*"):
    return "bind %s %s %s * cert=%s key=%s\n" % (
        service, address, port, os.path.join(CERTS, cert + ".pem"),
        os.path.join(CERTS, cert + ".key"))


def write(name, text):
    path = os.path.join(CERTS, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(*args):
    p = subprocess.run([CHECK] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def findings(*args):
    """Runs with --format json; checks every line strictly."""
    rc, out, err = run("--format", "json", *args)
    objs = []
    if out:
        assert out.endswith("\n"), out
        for line in out.split("\n")[:-1]:
            obj = json.loads(line)
            assert isinstance(obj, dict), line
            for key in ("code", "severity", "message"):
                assert isinstance(obj.get(key), str), (key, line)
            assert obj["severity"] in ("ok", "warning", "critical",
                                       "unknown"), line
            assert ("listener" in obj) != ("binding" in obj), line
            objs.append(obj)
    return rc, objs, err


TEXT_LINE = re.compile(r"(?:listener (\S+ \S+ \d+)|(\S+:\d+)|binding (.+?)): "
                       r"(ok|warning|critical|unknown): ([a-z0-9-]+): (.+)")
SUMMARY = re.compile(r"(.+): (ok|warning|critical|unknown): (\d+) bindings?, "
                     r"(\d+) listeners?(?:, no findings|; (\d+) critical, "
                     r"(\d+) warning, (\d+) unknown, (\d+) ok findings?)")


def text(*args):
    """Runs with the text format; returns (rc, [(context, severity, code,
    message)], summary groups)."""
    rc, out, err = run(*args)
    assert out.endswith("\n"), out
    lines = out.split("\n")[:-1]
    m = SUMMARY.fullmatch(lines[-1])
    assert m, lines[-1]
    rows = []
    for line in lines[:-1]:
        t = TEXT_LINE.fullmatch(line)
        assert t, line
        ctx = t.group(1) or t.group(2) or t.group(3)
        rows.append((ctx,) + t.groups()[3:])
    return rc, rows, m.groups()


class ExitCodes(unittest.TestCase):
    def test_ok_is_0_with_no_findings(self):
        conf = write("ok.conf", bind("good") +
                     "listen imaps 127.0.0.1 993\nlisten smtp 127.0.0.1 25\n")
        self.assertEqual(findings(conf, "--cafile", ca()), (0, [], ""))
        rc, rows, summary = text(conf, "--cafile", ca())
        self.assertEqual((rc, rows), (0, []))
        self.assertEqual(summary[:4], (conf, "ok", "1", "2"))

    def test_expiring_is_1(self):
        conf = write("expiring.conf", bind("expiring") +
                     "listen imaps 127.0.0.1 993\n")
        rc, objs, err = findings(conf, "--cafile", ca())
        self.assertEqual((rc, err), (1, ""))
        self.assertEqual([(o["code"], o["severity"], o.get("binding"),
                           o.get("listener")) for o in objs],
                         [("cert-expiring", "warning", conf + ":1", None),
                          ("cert-expiring", "warning", None,
                           "imaps 127.0.0.1 993")])
        rc, rows, summary = text(conf, "--cafile", ca())
        self.assertEqual(rc, 1)
        self.assertEqual([r[:3] for r in rows],
                         [(conf + ":1", "warning", "cert-expiring"),
                          ("imaps 127.0.0.1 993", "warning",
                           "cert-expiring")])
        self.assertEqual(summary[1:], ("warning", "1", "1", "0", "2", "0",
                                       "0"))

    def test_no_binding_and_expired_are_2(self):
        conf = write("nobinding.conf", bind("good", "imaps") +
                     bind("expired", "smtps") +
                     "listen imaps 127.0.0.1 993\n"
                     "listen pop3s 127.0.0.1 995\n"
                     "listen pop3s 0.0.0.0 1995\n")
        rc, objs, _ = findings(conf, "--cafile", ca())
        self.assertEqual(rc, 2)
        nb = [o for o in objs if o["code"] == "no-binding"]
        self.assertEqual([(o["severity"], o["listener"]) for o in nb],
                         [("critical", "pop3s 127.0.0.1 995"),
                          ("critical", "pop3s 0.0.0.0 1995")])
        self.assertIn('"bind pop3s 0.0.0.0 995 * cert=FILE"',
                      nb[0]["message"])
        self.assertIn(("cert-expired", "critical", conf + ":2"),
                      [(o["code"], o["severity"], o.get("binding"))
                       for o in objs])
        rc, rows, summary = text(conf, "--cafile", ca())
        self.assertEqual(rc, 2)
        self.assertIn(("pop3s 127.0.0.1 995", "critical", "no-binding"),
                      [r[:3] for r in rows])
        self.assertEqual(summary[1], "critical")

    @needs_validator
    def test_windows_change_the_verdict(self):
        conf = write("windows.conf", bind("expiring") +
                     "listen imaps 127.0.0.1 993\n")
        self.assertEqual(run(conf, "--cafile", ca(), "--warn", "10",
                             "--crit", "5")[0], 0)
        self.assertEqual(run(conf, "--cafile", ca(), "--warn", "11",
                             "--crit", "5")[0], 1)
        self.assertEqual(run(conf, "--cafile", ca(), "--warn", "20",
                             "--crit", "11")[0], 2)

    @needs_validator
    def test_untrusted_without_the_cafile(self):
        conf = write("trust.conf", bind("good") +
                     "listen imaps 127.0.0.1 993\n")
        rc, objs, _ = findings(conf)
        self.assertEqual(rc, 2)
        self.assertIn("cert-untrusted", [o["code"] for o in objs])


class ConfigErrors(unittest.TestCase):
    def error(self, text, line, message_re, *args):
        conf = write("error.conf", text)
        for fmt in ("text", "json"):
            rc, out, err = run(conf, "--format", fmt, "--cafile", ca(),
                               *args)
            self.assertEqual((rc, out), (3, ""))
            self.assertRegex(err, r"\A%s:%d:[0-9]+: %s\n\Z" %
                             (re.escape(conf), line, message_re))
        return err

    def test_syntax_errors(self):
        err = self.error("# ok\nlisten imaps 127.0.0.1 993\n"
                         "bind imaps 127.0.0.1 99999 * cert=x.pem\n", 3,
                         r'invalid port "99999": a number from 1 to 65535 '
                         r'or \*')
        self.assertEqual(err, "%s:3:22: invalid port \"99999\": a number "
                              "from 1 to 65535 or *\n" %
                         os.path.join(CERTS, "error.conf"))
        self.error("frobnicate\n", 1, "unknown directive.*")
        self.error("listen * 127.0.0.1 993\n", 1, ".*")
        self.error(bind("good") + "listen imaps 127.0.0.1 993\n"
                   "listen imaps 127.0.0.1 993\n", 3, "duplicate listener.*")

    def test_credential_errors(self):
        self.error("\n" + "bind * * * * cert=%s\n" %
                   os.path.join(CERTS, "missing.pem"), 2, ".*missing.pem.*")
        self.error("bind * * * * cert=%s key=%s\n" %
                   (os.path.join(CERTS, "good.pem"),
                    os.path.join(CERTS, "good2.key")), 1, ".*")

    def test_missing_config(self):
        rc, out, err = run(os.path.join(CERTS, "nope.conf"))
        self.assertEqual((rc, out), (3, ""))
        self.assertIn("nope.conf", err)


class Usage(unittest.TestCase):
    def bad(self, args, message):
        rc, out, err = run(*args)
        self.assertEqual((rc, out, err), (3, "", "mailssl-check: " +
                                          message + "\n"))

    def test_bad_usage_exits_3(self):
        self.bad([], "no CONFIG given: mailssl-check CONFIG [OPTIONS] "
                     "(see --help)")
        self.bad(["c", "--format", "xml"],
                 "--format: 'xml' is not one of text, json, nagios")
        self.bad(["c", "--warn", "x"],
                 "--warn: 'x' is not a whole number from 0 to 36500")
        self.bad(["c", "--warn", "3"],
                 "--crit (7 days) must not exceed --warn (3 days)")
        self.bad(["a", "b"], "one CONFIG only, not 'b' (see --help)")
        self.bad(["c", "--bogus"], "unknown option '--bogus' (see --help)")
        self.bad(["c", "--cafile"], "--cafile needs a value")

    def test_bad_cafile_exits_3(self):
        conf = write("ok2.conf", bind("good"))
        rc, out, err = run(conf, "--cafile", os.path.join(CERTS, "no.pem"))
        self.assertEqual((rc, out), (3, ""))
        self.assertTrue(err.startswith("mailssl-check: --cafile: "), err)

    def test_help_and_version(self):
        rc, out, err = run("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("Usage: mailssl-check CONFIG "))
        rc, out, err = run("--version")
        self.assertRegex(out, r"^mailssl-check \(libmailssl [0-9.]+\)\n$")


if __name__ == "__main__":
    CHECK, MKCERTS = sys.argv[1:3]
    del sys.argv[1:3]
    unittest.main(verbosity=2)
