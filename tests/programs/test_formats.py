"""mailssl-probe's formats, from made-up hostile results (format_sample),
checked by the strict parsers of formats.py; and the parsers themselves
shown to reject what breaks each format.

usage: test_formats.py FORMAT_SAMPLE_PROGRAM
"""
import subprocess
import sys
import unittest

import formats

SAMPLE = None


def sample(fmt):
    return subprocess.run([SAMPLE, fmt], check=True, capture_output=True,
                          text=True).stdout


class SampleOutput(unittest.TestCase):
    def test_prometheus(self):
        fams = formats.parse_prometheus(sample("prometheus"))
        self.assertEqual(sorted(fams), formats.PROBE_FAMILIES)
        for name, fam in fams.items():
            self.assertEqual(fam["type"], "gauge", name)
            self.assertTrue(fam["help"], name)
        succ = {s[1]["target"]: s[2]
                for s in fams["mailssl_probe_success"]["samples"]}
        # the hostile URL comes back intact through the escapes; the URL
        # given twice is there once
        self.assertEqual(succ, {"imaps://mail.test": 1.0,
                                "imap://odd\"=name'\\|x": 0.0,
                                "pop3s://[::1]:995": 0.0})
        diag = {s[1]["target"]: s[1]["code"]
                for s in fams["mailssl_probe_diagnosis"]["samples"]}
        self.assertEqual(diag["pop3s://[::1]:995"], "tls-timeout")
        # every diagnosis says the last stage completed (SPEC.md section 7)
        for _, labels, _ in fams["mailssl_probe_diagnosis"]["samples"]:
            self.assertIn(labels["stage"], ("none", "resolve", "connect",
                                            "greeting", "starttls",
                                            "handshake", "verify",
                                            "post-tls", "done"))
        stages = [s[1]["stage"] for s in
                  fams["mailssl_probe_duration_seconds"]["samples"]
                  if s[1]["target"] == "imaps://mail.test"]
        self.assertEqual(stages, ["resolve", "connect", "greeting",
                                  "starttls", "handshake", "verify",
                                  "post-tls", "total"])

    def test_nagios_many(self):
        state, text, perf = formats.parse_nagios(sample("nagios"))
        self.assertEqual(state, "CRITICAL")
        self.assertTrue(text.startswith(
            "4 targets: 1 critical, 1 unknown, 2 ok; "), text)
        self.assertNotIn("\r", text)
        self.assertEqual(perf["imap://odd\"_name_\\_x days_left"],
                         (-3.0, "", "30:", "7:", None, None))
        self.assertEqual(perf["pop3s://[::1]:995 time"][:2],
                         (3.703701, "s"))

    def test_nagios_one(self):
        state, text, perf = formats.parse_nagios(sample("nagios1"))
        self.assertEqual(state, "OK")
        self.assertEqual(text, "imaps://mail.test ok: all good")
        self.assertEqual(sorted(perf), ["days_left", "handshake_time",
                                        "time"])
        self.assertFalse(formats.in_range(300, perf["days_left"][2]))
        self.assertTrue(formats.in_range(29, perf["days_left"][2]))
        self.assertTrue(formats.in_range(6, perf["days_left"][3]))

    def test_text(self):
        rows, details = formats.parse_text(sample("text"))
        self.assertEqual([r["TARGET"] for r in rows],
                         ["imaps://mail.test", "imap://odd\"=name'\\|x",
                          "pop3s://[::1]:995", "imaps://mail.test"])
        self.assertEqual(rows[1]["EXPIRES"], "1970-01-01 (expired)")
        self.assertEqual(rows[0]["TIME"], "7.0 ms")
        self.assertEqual(rows[2]["TIME"], "3.70 s")
        self.assertIn("  - cert-self-signed (critical): self-signed "
                      "\"leaf\" \\ here", details)
        self.assertFalse(any("\033" in d for d in details))


class ParsersReject(unittest.TestCase):
    """Every check of the parsers can fail."""

    def bad_prometheus(self, text):
        with self.assertRaises(formats.FormatError):
            formats.parse_prometheus(text)

    def test_prometheus_rejects(self):
        ok = "# TYPE a gauge\na{x=\"1\"} 1\n"
        formats.parse_prometheus(ok)
        self.bad_prometheus("# TYPE a gauge\na 1")               # no newline
        self.bad_prometheus("# TYPE a gauge\n# TYPE a gauge\na 1\n")
        self.bad_prometheus("a 1\n# TYPE a gauge\n")             # TYPE late
        self.bad_prometheus("# TYPE a bogus\na 1\n")
        self.bad_prometheus("a 1\nb 1\na{x=\"2\"} 1\n")          # interleaved
        self.bad_prometheus("a{x=\"1\"} 1\na{x=\"1\"} 2\n")      # duplicate
        self.bad_prometheus("1a 1\n")
        self.bad_prometheus("a{1x=\"1\"} 1\n")
        self.bad_prometheus("a{__x=\"1\"} 1\n")
        self.bad_prometheus("a{x=\"a\\q\"} 1\n")                 # bad escape
        self.bad_prometheus("a{x=\"a\"b\"} 1\n")                 # raw quote
        self.bad_prometheus("a{x=\"1\",x=\"2\"} 1\n")
        self.bad_prometheus("a{x=\"1\"} one\n")
        self.bad_prometheus("# HELP a x\n# HELP a y\na 1\n")

    def test_nagios_rejects(self):
        formats.parse_nagios("MAILSSL-PROBE OK - x | 'a b'=1s;;;0;\n")
        for bad in ["MAILSSL-PROBE OK - x\nmore\n",
                    "MAILSSL-PROBE FINE - x\n",
                    "MAILSSL-PROBE OK - x | a=\n",
                    "MAILSSL-PROBE OK - x | 'a'=1d\n",       # bad UOM
                    "MAILSSL-PROBE OK - x | 'a'=1;;;;;\n",   # 5 fields
                    "MAILSSL-PROBE OK - x | 'a'=1 'a'=2\n",
                    "MAILSSL-PROBE OK - x | 'it's'=1\n",
                    "MAILSSL-PROBE OK - a | b | 'x'=1\n"]:
            with self.assertRaises(formats.FormatError, msg=bad):
                formats.parse_nagios(bad)

    def test_text_rejects(self):
        with self.assertRaises(formats.FormatError):
            formats.parse_text("TARGET STATUS\n")
        with self.assertRaises(formats.FormatError):
            formats.parse_text("TARGET  STATUS  DIAGNOSIS  TLS  EXPIRES  "
                               "TIME\nx  fine  ok  -  -  1 ms\n")

    def test_json_rejects(self):
        with self.assertRaises(ValueError):
            formats.parse_json_lines("{\"url\": }\n")
        with self.assertRaises(formats.FormatError):
            formats.parse_json_lines("[]\n")


if __name__ == "__main__":
    SAMPLE = sys.argv.pop(1)
    unittest.main(verbosity=2)
