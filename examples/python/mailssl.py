"""mailssl - libmailssl from Python through ctypes, with no compilation.

The library's ABI uses only ints, sizes, int64 epoch seconds, C strings and
opaque handles, so ctypes is enough. Results come back as the dicts and
lists of the library's own JSON (SPEC.md section 5), parsed with json.

    import mailssl
    r = mailssl.probe("imaps://mail.example.com", warn=21)
    print(r["status"], r["diagnosis"]["code"], r["certificate"]["days_left"])

    for r in mailssl.probe_many(["smtp://mx1.example.com",
                                 "smtp://mx2.example.com"], concurrency=8):
        print(r["url"], r["status"])

The shared object is found through $MAILSSL_LIBRARY (a path), else the
linker's search (ctypes.util.find_library("mailssl")), else
"libmailssl.so.1". The store/audit half of the API is not bound yet.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import atexit
import ctypes
import ctypes.util
import json
import os

__all__ = ["Error", "OK", "WARNING", "CRITICAL", "UNKNOWN", "STATUS_NAMES",
           "version", "code_name", "code_number", "worst_status", "probe",
           "probe_many", "Report"]

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = ("ok", "warning", "critical", "unknown")
_NO_CERT = -1
ERR_INVALID, ERR_SYNTAX, ERR_STATE = -10, -13, -18


class Error(Exception):
    """A call failed: code is the library's negative MAILSSL_ERR_* number."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _load():
    path = (os.environ.get("MAILSSL_LIBRARY")
            or ctypes.util.find_library("mailssl") or "libmailssl.so.1")
    return ctypes.CDLL(path)


_lib = _load()
_c = ctypes
_P = _c.c_void_p


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_version = _fn("mailssl_version", _c.c_char_p)
_init = _fn("mailssl_init", _c.c_int)
_deinit = _fn("mailssl_deinit", None)
_free = _fn("mailssl_free", None, _P)
_strerror = _fn("mailssl_strerror", _c.c_char_p, _c.c_int)
_code_name = _fn("mailssl_code_name", _c.c_char_p, _c.c_int)
_code_from_name = _fn("mailssl_code_from_name", _c.c_int, _c.c_char_p)
_severity_name = _fn("mailssl_severity_name", _c.c_char_p, _c.c_int)

_report_new = _fn("mailssl_report_new", _P)
_report_free = _fn("mailssl_report_free", None, _P)
_report_add = _fn("mailssl_report_add", _c.c_int, _P, _c.c_int, _c.c_int,
                  _c.c_int, _c.c_char_p, _c.c_char_p, _c.c_char_p)
_report_count = _fn("mailssl_report_count", _c.c_size_t, _P)
_report_status = _fn("mailssl_report_status", _c.c_int, _P)
_report_json = _fn("mailssl_report_json", _P, _P)
_report_nagios = _fn("mailssl_report_nagios", _P, _P, _c.c_char_p)

rc = _init()
if rc < 0:
    raise Error(rc, "mailssl_init: " + _strerror(rc).decode())
atexit.register(_deinit)


def _b(s):
    return None if s is None else s.encode()


def _take_string(ptr):
    """A char * the library allocated, as str; frees it."""
    if not ptr:
        raise MemoryError("libmailssl returned no result")
    try:
        return _c.string_at(ptr).decode("utf-8", "replace")
    finally:
        _free(ptr)


def version():
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _version().decode()


def code_name(code):
    """The stable string of a diagnosis/finding number, or None."""
    s = _code_name(code)
    return s.decode() if s else None


def code_number(name):
    """The number of a diagnosis/finding string; Error when unknown."""
    n = _code_from_name(_b(name))
    if n < 0:
        raise Error(n, "unknown code %r" % name)
    return n


def worst_status(statuses):
    """The worst of statuses (numbers or names), ranked critical > unknown >
    warning > ok as the library ranks findings; OK for none."""
    order = (OK, WARNING, UNKNOWN, CRITICAL)
    worst = OK
    for s in statuses:
        s = STATUS_NAMES.index(s) if isinstance(s, str) else s
        if order.index(s) > order.index(worst):
            worst = s
    return worst


class Report:
    """An ordered list of findings (mailssl_report)."""

    def __init__(self):
        self._r = _report_new()
        if not self._r:
            raise MemoryError("mailssl_report_new")

    def close(self):
        if self._r:
            _report_free(self._r)
            self._r = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add(self, code, severity, message, cert_index=None, context=None):
        """code: a name ("cert-expiring") or number; severity: a name or
        0-3; context: None or (kind, text), e.g. ("listener", "imaps
        192.0.2.10 993"). Returns the finding's index."""
        if isinstance(code, str):
            code = code_number(code)
        if isinstance(severity, str):
            severity = STATUS_NAMES.index(severity)
        kind, text = context if context else (None, None)
        n = _report_add(self._r, code, severity,
                        _NO_CERT if cert_index is None else cert_index,
                        _b(kind), _b(text), _b(message))
        if n < 0:
            raise Error(n, "mailssl_report_add: " + _strerror(n).decode())
        return n

    def __len__(self):
        return _report_count(self._r)

    @property
    def status(self):
        """Worst severity, 0-3."""
        return _report_status(self._r)

    def findings(self):
        """The findings as a list of dicts (code, severity, message, ...)."""
        return json.loads(_take_string(_report_json(self._r)))

    def nagios(self, label=None):
        """One monitoring-plugin status line."""
        return _take_string(_report_nagios(self._r, _b(label)))


# ---- probes ---------------------------------------------------------------
# Bound lazily: a library built without the probe still gives reports.

_probe_fns = {}


def _probe_api():
    if not _probe_fns:
        f = _probe_fns
        f["new"] = _fn("mailssl_probe_new", _P, _c.c_char_p)
        f["free"] = _fn("mailssl_probe_free", None, _P)
        f["error"] = _fn("mailssl_probe_error", _c.c_char_p, _P)
        f["cafile"] = _fn("mailssl_probe_set_cafile", _c.c_int, _P,
                          _c.c_char_p)
        f["servername"] = _fn("mailssl_probe_set_servername", _c.c_int, _P,
                              _c.c_char_p)
        f["connect_to"] = _fn("mailssl_probe_set_connect_to", _c.c_int, _P,
                              _c.c_char_p)
        f["timeout"] = _fn("mailssl_probe_set_timeout_ms", _c.c_int, _P,
                           _c.c_int32)
        f["days"] = _fn("mailssl_probe_set_days", _c.c_int, _P, _c.c_int,
                        _c.c_int)
        f["min_version"] = _fn("mailssl_probe_set_min_version", _c.c_int, _P,
                               _c.c_char_p)
        f["run"] = _fn("mailssl_probe_run", _c.c_int, _P)
        f["json"] = _fn("mailssl_probe_json", _P, _P)
        f["done"] = _fn("mailssl_probe_done", _c.c_int, _P)
        f["batch_new"] = _fn("mailssl_batch_new", _P, _c.c_int)
        f["batch_free"] = _fn("mailssl_batch_free", None, _P)
        f["batch_add"] = _fn("mailssl_batch_add", _c.c_int, _P, _P)
        f["batch_run"] = _fn("mailssl_batch_run", _c.c_int, _P, _P, _P)
    return _probe_fns


def _check(p, rc, what):
    if rc < 0:
        msg = _probe_api()["error"](p).decode("utf-8", "replace")
        raise Error(rc, "%s: %s" % (what, msg or _strerror(rc).decode()))


def _new_probe(url, cafile=None, servername=None, connect_to=None,
               timeout=10.0, warn=30, crit=7, min_version=None):
    f = _probe_api()
    p = f["new"](_b(url))
    if not p:
        raise MemoryError("mailssl_probe_new")
    try:
        err = f["error"](p)
        if err:
            raise Error(ERR_SYNTAX, "bad URL %r: %s" % (url, err.decode()))
        if cafile is not None:
            _check(p, f["cafile"](p, _b(cafile)), "cafile")
        if servername is not None:
            _check(p, f["servername"](p, _b(servername)), "servername")
        if connect_to is not None:
            _check(p, f["connect_to"](p, _b(connect_to)), "connect_to")
        _check(p, f["timeout"](p, max(1, int(round(timeout * 1000)))),
               "timeout")
        _check(p, f["days"](p, warn, crit), "warn/crit")
        if min_version is not None:
            _check(p, f["min_version"](p, _b(min_version)), "min_version")
    except BaseException:
        f["free"](p)
        raise
    return p


def _result(p):
    f = _probe_api()
    if f["done"](p) != 1:
        raise Error(ERR_STATE, "the probe did not finish")
    return json.loads(_take_string(f["json"](p)))


def probe(url, cafile=None, servername=None, connect_to=None, timeout=10.0,
          warn=30, crit=7, min_version=None):
    """Probes one URL ("imaps://host[:port]") and returns the result dict of
    SPEC.md section 5 ("status", "diagnosis": {"code", "message"}, "stage",
    "tls", "certificate", "capabilities", "findings", "timing_ms", ...).
    Raises Error for bad arguments (a URL that does not parse, a missing
    cafile); a failed probe is a result, not an exception."""
    f = _probe_api()
    p = _new_probe(url, cafile=cafile, servername=servername,
                   connect_to=connect_to, timeout=timeout, warn=warn,
                   crit=crit, min_version=min_version)
    try:
        _check(p, f["run"](p), url)
        return _result(p)
    finally:
        f["free"](p)


def probe_many(urls, concurrency=16, **settings):
    """Probes every URL concurrently (the library's batch runner, in this
    thread) with the same settings as probe(); returns the result dicts in
    the order of urls."""
    f = _probe_api()
    probes = []
    batch = f["batch_new"](concurrency)
    if not batch:
        raise Error(ERR_INVALID, "bad concurrency %r" % concurrency)
    try:
        for url in urls:
            probes.append(_new_probe(url, **settings))
            rc = f["batch_add"](batch, probes[-1])
            if rc < 0:
                raise Error(rc, "batch_add: " + _strerror(rc).decode())
        rc = f["batch_run"](batch, None, None)
        if rc < 0:
            raise Error(rc, "batch_run: " + _strerror(rc).decode())
        return [_result(p) for p in probes]
    finally:
        f["batch_free"](batch)
        for p in probes:
            f["free"](p)
