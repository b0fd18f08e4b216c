#!/usr/bin/env python3
"""probe.py - probe mail services with libmailssl from Python (ctypes).

usage: probe.py [--cafile FILE] [--connect-to ADDRESS] [--warn DAYS]
                [--crit DAYS] [--timeout SECONDS] URL...

Prints one line a target (status, diagnosis, TLS version, days left,
capabilities after TLS) and the findings, and exits with the worst status
(0 ok, 1 warning, 2 critical, 3 unknown), like mailssl-probe.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailssl  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Probe mail services over TLS.")
    ap.add_argument("--cafile")
    ap.add_argument("--servername")
    ap.add_argument("--connect-to")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--warn", type=int, default=30)
    ap.add_argument("--crit", type=int, default=7)
    ap.add_argument("urls", nargs="+", metavar="URL")
    args = ap.parse_args()
    try:
        results = mailssl.probe_many(
            args.urls, cafile=args.cafile, servername=args.servername,
            connect_to=args.connect_to, timeout=args.timeout,
            warn=args.warn, crit=args.crit)
    except mailssl.Error as e:
        print("probe.py: %s" % e, file=sys.stderr)
        return mailssl.UNKNOWN
    for r in results:
        cert = r.get("certificate")
        print("%s %s %s tls=%s days_left=%s capabilities=%s" % (
            r["url"], r["status"], r["diagnosis"]["code"],
            (r.get("tls") or {}).get("version", "-"),
            cert["days_left"] if cert else "-",
            ",".join(r.get("capabilities") or []) or "-"))
        if r["status"] != "ok":
            print("  %s" % r["diagnosis"]["message"])
        for f in r["findings"]:
            print("  - %s (%s): %s" % (f["code"], f["severity"], f["message"]))
    return mailssl.worst_status(r["status"] for r in results)


if __name__ == "__main__":
    sys.exit(main())
