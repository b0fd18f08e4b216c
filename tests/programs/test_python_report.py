"""examples/python/mailssl.py without probes: loading the library through
ctypes, codes, status ranking and reports (findings as dicts, Nagios line).

usage: test_python_report.py LIBMAILSSL_SO PYTHON_DIR
"""
import os
import sys
import unittest

m = None


class Binding(unittest.TestCase):
    def test_version_and_codes(self):
        self.assertRegex(m.version(), r"^[0-9]+\.[0-9]+\.[0-9]+$")
        self.assertEqual(m.code_name(14), "tls-closed-during-handshake")
        self.assertIsNone(m.code_name(999))
        self.assertEqual(m.code_number("no-binding"), 49)
        with self.assertRaises(m.Error) as e:
            m.code_number("no-such-code")
        self.assertEqual(e.exception.code, -16)

    def test_dane_codes_and_settings(self):
        self.assertEqual(m.code_name(65), "dane-bogus")
        self.assertEqual(m.code_number("dane-lookup-failed"), 66)
        # refused before anything runs: no network needed
        for kw, code in [({"dane": "sometimes"}, -10), ({"dane": 7}, -10),
                         ({"dane": "required", "dns_resolver": "nope"}, -13),
                         ({"dns_anchor": ""}, -10)]:
            with self.assertRaises(m.Error) as e:
                m.probe("smtp://127.0.0.1:1", **kw)
            self.assertEqual(e.exception.code, code, kw)
        # an IP literal has no TLSA name: dane-no-records when required
        r = m.probe("smtp://127.0.0.1:1", dane=m.DANE_REQUIRED,
                    dns_anchor=os.devnull, dns_resolver="127.0.0.1@1",
                    timeout=2)
        self.assertEqual(r["diagnosis"]["code"], "dane-no-records")

    def test_worst_status_ranks_critical_over_unknown(self):
        self.assertEqual(m.worst_status([]), m.OK)
        self.assertEqual(m.worst_status(["ok", "warning"]), m.WARNING)
        self.assertEqual(m.worst_status(["warning", "unknown"]), m.UNKNOWN)
        self.assertEqual(m.worst_status([m.UNKNOWN, "critical", 1]),
                         m.CRITICAL)

    def test_report(self):
        with m.Report() as r:
            self.assertEqual((len(r), r.status), (0, m.OK))
            self.assertEqual(r.findings(), [])
            self.assertEqual(r.add("cert-expiring", "warning",
                                   "expires in 12 days", cert_index=0), 0)
            self.assertEqual(r.add(49, m.CRITICAL, "nothing | bound\nhere",
                                   context=("listener",
                                            "imaps 192.0.2.10 993")), 1)
            self.assertEqual((len(r), r.status), (2, m.CRITICAL))
            self.assertEqual(r.findings(), [
                {"code": "cert-expiring", "severity": "warning",
                 "message": "expires in 12 days", "cert_index": 0},
                {"code": "no-binding", "severity": "critical",
                 "message": "nothing | bound\nhere",
                 "listener": "imaps 192.0.2.10 993"}])
            self.assertEqual(r.nagios("IMAPS"),
                             "IMAPS CRITICAL - no-binding: nothing / bound "
                             "here; cert-expiring: expires in 12 days")
            with self.assertRaises(m.Error) as e:
                r.add("ok", "warning", "x", context=("Bad Kind", "x"))
            self.assertEqual(e.exception.code, -10)
            self.assertEqual(len(r), 2)


if __name__ == "__main__":
    os.environ["MAILSSL_LIBRARY"] = sys.argv.pop(1)
    sys.path.insert(0, sys.argv.pop(1))
    import mailssl as m
    unittest.main(verbosity=2)
