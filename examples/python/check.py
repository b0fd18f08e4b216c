#!/usr/bin/env python3
"""check.py - audit a libmailssl binding store config from Python (ctypes).

usage: check.py [--cafile FILE] [--warn DAYS] [--crit DAYS] CONFIG
                [SERVICE ADDRESS PORT [SNI]]

Loads CONFIG, prints its findings (what mailssl-check prints) and, when a
connection is given, which certificate the store picks for it. Exits with
the worst severity (0 ok, 1 warning, 2 critical, 3 unknown or a config
that does not load).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mailssl  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Audit a binding store config.")
    ap.add_argument("--cafile")
    ap.add_argument("--warn", type=int, default=30)
    ap.add_argument("--crit", type=int, default=7)
    ap.add_argument("config")
    ap.add_argument("connection", nargs="*",
                    metavar="SERVICE ADDRESS PORT [SNI]")
    args = ap.parse_args()
    if len(args.connection) not in (0, 3, 4):
        ap.error("a connection is SERVICE ADDRESS PORT [SNI]")
    try:
        with mailssl.Store(args.config) as store:
            findings = store.audit(cafile=args.cafile, warn=args.warn,
                                   crit=args.crit)
            for f in findings:
                where = ("listener " + f["listener"] if "listener" in f
                         else f.get("binding", "-"))
                print("%s: %s: %s: %s" % (where, f["severity"], f["code"],
                                          f["message"]))
            print("%s: %d bindings, %d listeners, %d findings" %
                  (args.config, store.bindings, store.listeners,
                   len(findings)))
            if args.connection:
                service, address, port = args.connection[:3]
                sni = args.connection[3] if len(args.connection) == 4 \
                    else None
                hit = store.lookup(service, address, int(port), sni)
                cert = hit["certificate"]
                print("%s %s %s: %s" % (service, address, port,
                                        "%s sha256=%s" % (cert["subject"],
                                                          cert["sha256"])
                                        if cert else "no certificate: " +
                                        hit["reason"]))
    except mailssl.Error as e:
        print(str(e), file=sys.stderr)
        return mailssl.UNKNOWN
    return mailssl.worst_status(f["severity"] for f in findings)


if __name__ == "__main__":
    sys.exit(main())
