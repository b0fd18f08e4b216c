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

    with mailssl.Store("/etc/mail/mailssl.conf") as store:
        for f in store.audit(cafile="/etc/ssl/certs/ca.pem"):
            print(f["severity"], f["code"], f.get("listener"), f["message"])
        hit = store.lookup("imaps", "192.0.2.10", 993, sni="mail.example.com")
        print(hit["certificate"]["subject"] if hit["certificate"]
              else hit["reason"])

The shared object is found through $MAILSSL_LIBRARY (a path), else the
linker's search (ctypes.util.find_library("mailssl")), else
"libmailssl.so.1".

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import atexit
import ctypes
import ctypes.util
import json
import os

__all__ = ["Error", "OK", "WARNING", "CRITICAL", "UNKNOWN", "STATUS_NAMES",
           "version", "code_name", "code_number", "worst_status", "probe",
           "probe_many", "Report", "Store"]

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = ("ok", "warning", "critical", "unknown")
_NO_CERT = -1
ERR_INVALID, ERR_SYNTAX, ERR_STATE = -10, -13, -18
ERR_NOT_FOUND = -16


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
        f["dane"] = _fn("mailssl_probe_set_dane", _c.c_int, _P, _c.c_int)
        f["dns_anchor"] = _fn("mailssl_probe_set_dns_anchor_file", _c.c_int,
                              _P, _c.c_char_p)
        f["dns_resolver"] = _fn("mailssl_probe_set_dns_resolver", _c.c_int,
                                _P, _c.c_char_p)
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


# DANE modes (mailssl_probe_set_dane); probe(dane=...) also takes their
# names "off", "opportunistic", "required".
DANE_OFF, DANE_OPPORTUNISTIC, DANE_REQUIRED = 0, 1, 2
_DANE_NAMES = {"off": DANE_OFF, "opportunistic": DANE_OPPORTUNISTIC,
               "required": DANE_REQUIRED}


def _new_probe(url, cafile=None, servername=None, connect_to=None,
               timeout=10.0, warn=30, crit=7, min_version=None, dane=None,
               dns_anchor=None, dns_resolver=None):
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
        if dane is not None:
            mode = _DANE_NAMES.get(dane, dane)
            if not isinstance(mode, int):
                raise Error(ERR_INVALID, "dane: %r is not off, "
                            "opportunistic or required" % (dane,))
            _check(p, f["dane"](p, mode), "dane")
        if dns_anchor is not None:
            _check(p, f["dns_anchor"](p, _b(dns_anchor)), "dns_anchor")
        if dns_resolver is not None:
            _check(p, f["dns_resolver"](p, _b(dns_resolver)), "dns_resolver")
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
          warn=30, crit=7, min_version=None, dane=None, dns_anchor=None,
          dns_resolver=None):
    """Probes one URL ("imaps://host[:port]") and returns the result dict of
    SPEC.md section 5 ("status", "diagnosis": {"code", "message"}, "stage",
    "tls", "certificate", "capabilities", "findings", "timing_ms", ...).
    Raises Error for bad arguments (a URL that does not parse, a missing
    cafile); a failed probe is a result, not an exception. dane: a DANE_*
    mode or its name, with dns_anchor (trust anchor file) and dns_resolver
    ("ADDR[@PORT]"): the result gains a "dane" block."""
    f = _probe_api()
    p = _new_probe(url, cafile=cafile, servername=servername,
                   connect_to=connect_to, timeout=timeout, warn=warn,
                   crit=crit, min_version=min_version, dane=dane,
                   dns_anchor=dns_anchor, dns_resolver=dns_resolver)
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


# ---- binding store and audit -----------------------------------------------

_store_fns = {}


def _store_api():
    if not _store_fns:
        f = _store_fns
        f["new"] = _fn("mailssl_store_new", _P)
        f["free"] = _fn("mailssl_store_free", None, _P)
        f["error"] = _fn("mailssl_store_error", _c.c_char_p, _P)
        f["load_file"] = _fn("mailssl_store_load_file", _c.c_int, _P,
                             _c.c_char_p)
        f["load_string"] = _fn("mailssl_store_load_string", _c.c_int, _P,
                               _c.c_char_p, _c.c_size_t, _c.c_char_p)
        f["count"] = _fn("mailssl_store_count", _c.c_size_t, _P)
        f["listener_count"] = _fn("mailssl_store_listener_count",
                                  _c.c_size_t, _P)
        f["set_strict"] = _fn("mailssl_store_set_strict", _c.c_int, _P,
                              _c.c_int)
        f["to_string"] = _fn("mailssl_store_to_string", _P, _P)
        f["audit"] = _fn("mailssl_store_audit", _c.c_int, _P, _P, _P)
        f["lookup"] = _fn("mailssl_store_lookup_text", _c.c_int, _P,
                          _c.c_char_p, _c.c_int, _c.c_int, _c.c_char_p,
                          _c.POINTER(_P), _c.c_char_p, _c.c_size_t)
        f["service"] = _fn("mailssl_service_from_name", _c.c_int,
                           _c.c_char_p)
        f["cred_free"] = _fn("mailssl_credential_free", None, _P)
        f["cred_json"] = _fn("mailssl_credential_certificate_json", _P, _P,
                             _c.c_size_t, _c.c_int64)
        f["v_new"] = _fn("mailssl_validator_new", _P)
        f["v_free"] = _fn("mailssl_validator_free", None, _P)
        f["v_error"] = _fn("mailssl_validator_error", _c.c_char_p, _P)
        f["v_cafile"] = _fn("mailssl_validator_set_cafile", _c.c_int, _P,
                            _c.c_char_p)
        f["v_days"] = _fn("mailssl_validator_set_days", _c.c_int, _P,
                          _c.c_int, _c.c_int)
        f["v_time"] = _fn("mailssl_validator_set_time", _c.c_int, _P,
                          _c.c_int64)
        # 1.1: listener accessor, export, live audit
        f["listener_get"] = _fn("mailssl_store_listener_get", _c.c_int, _P,
                                _c.c_size_t, _c.POINTER(_c.c_int),
                                _c.c_char_p, _c.c_size_t,
                                _c.POINTER(_c.c_int))
        f["export"] = _fn("mailssl_store_export", _P, _P, _c.c_char_p)
        f["service_name"] = _fn("mailssl_service_name", _c.c_char_p,
                                _c.c_int)
        f["live_new"] = _fn("mailssl_live_new", _P, _P)
        f["live_free"] = _fn("mailssl_live_free", None, _P)
        f["live_count"] = _fn("mailssl_live_count", _c.c_size_t, _P)
        f["live_probe"] = _fn("mailssl_live_probe", _P, _P, _c.c_size_t)
        f["live_run"] = _fn("mailssl_live_run", _c.c_int, _P, _c.c_int)
        f["live_report"] = _fn("mailssl_live_report", _c.c_int, _P, _P)
    return _store_fns


class Store:
    """A binding store (SPEC.md section 3): bindings of certificates to
    (service, address, port, server name) and the listen lines to audit.

    Store(path) loads a config file at once. Loading is all or nothing: a
    config that does not load raises Error whose message is
    "FILE:LINE:COLUMN: message", and the bindings loaded before stay."""

    def __init__(self, path=None):
        self._s = _store_api()["new"]()
        if not self._s:
            raise MemoryError("mailssl_store_new")
        if path is not None:
            self.load_file(path)

    def close(self):
        if getattr(self, "_s", None):
            _store_api()["free"](self._s)
            self._s = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check(self, rc):
        if rc < 0:
            msg = _store_api()["error"](self._s).decode("utf-8", "replace")
            raise Error(rc, msg or _strerror(rc).decode())
        return rc

    def load_file(self, path):
        """(Re)loads the config file at path, atomically."""
        self._check(_store_api()["load_file"](self._s, _b(path)))

    def load_string(self, text, name=None):
        """(Re)loads config text; name stands for the file in messages."""
        data = text.encode()
        self._check(_store_api()["load_string"](self._s, data, len(data),
                                                _b(name)))

    @property
    def bindings(self):
        """Number of bindings."""
        return _store_api()["count"](self._s)

    @property
    def listeners(self):
        """Number of listen lines."""
        return _store_api()["listener_count"](self._s)

    def listen_lines(self):
        """The listen lines as (service, address, port) tuples, copied from
        the store (mailssl_store_listener_get)."""
        f = _store_api()
        out = []
        for i in range(self.listeners):
            svc, port = _c.c_int(), _c.c_int()
            addr = _c.create_string_buffer(46)  # MAILSSL_ADDRESS_MAX
            rc = f["listener_get"](self._s, i, _c.byref(svc), addr,
                                   len(addr), _c.byref(port))
            if rc == ERR_NOT_FOUND:
                break  # reloaded meanwhile with fewer lines
            self._check(rc)
            out.append((f["service_name"](svc.value).decode(),
                        addr.value.decode(), port.value))
        return out

    def export(self, server):
        """The bindings as "dovecot" or "postfix" configuration text (a
        starting point, mailssl_store_export)."""
        ptr = _store_api()["export"](self._s, _b(server))
        if not ptr:
            self._check(ERR_INVALID)
        return _take_string(ptr)

    def audit_live(self, cafile=None, timeout=10.0, warn=30, crit=7,
                   concurrency=64):
        """Probes every listen line of the running server (without SNI and
        with every exact name bound on it) in one batch and compares with
        the bindings (mailssl_live_*): returns the findings as audit()
        does ("ok", "no-binding-live", "cert-drift", probe diagnoses)."""
        f, pf = _store_api(), _probe_api()
        lv = f["live_new"](self._s)
        if not lv:
            raise MemoryError("mailssl_live_new")
        try:
            for i in range(f["live_count"](lv)):
                p = f["live_probe"](lv, i)
                if cafile is not None:
                    _check(p, pf["cafile"](p, _b(cafile)), "cafile")
                _check(p, pf["timeout"](p, max(1, int(round(timeout * 1000)))),
                       "timeout")
                _check(p, pf["days"](p, warn, crit), "warn/crit")
            rc = f["live_run"](lv, concurrency)
            if rc < 0:
                raise Error(rc, "live audit: " + _strerror(rc).decode())
            with Report() as r:
                rc = f["live_report"](lv, r._r)
                if rc < 0:
                    raise Error(rc, "live audit: " + _strerror(rc).decode())
                return r.findings()
        finally:
            f["live_free"](lv)

    def set_strict(self, strict=True):
        """Strict mode: an unknown SNI name gets no certificate."""
        self._check(_store_api()["set_strict"](self._s, 1 if strict else 0))

    def to_string(self):
        """The bindings and listeners as config text."""
        ptr = _store_api()["to_string"](self._s)
        if not ptr:
            self._check(ERR_STATE)
        return _take_string(ptr)

    def audit(self, cafile=None, warn=30, crit=7, at=None):
        """Validates every binding's credential and proves every listener
        resolves; returns the findings as a list of dicts ("code",
        "severity", "message", and "listener": "SERVICE ADDRESS PORT" or
        "binding": "FILE:LINE"). cafile: trust these CAs instead of the
        system store; warn/crit: expiry windows in days; at: validation
        time in epoch seconds (None: now)."""
        f = _store_api()
        v = f["v_new"]()
        if not v:
            raise MemoryError("mailssl_validator_new")
        try:
            for rc, what in (
                    (f["v_cafile"](v, _b(cafile)) if cafile else 0, "cafile"),
                    (f["v_days"](v, warn, crit), "warn/crit"),
                    (f["v_time"](v, int(at)) if at else 0, "at")):
                if rc < 0:
                    msg = f["v_error"](v).decode("utf-8", "replace")
                    raise Error(rc, "%s: %s" % (what, msg or
                                                _strerror(rc).decode()))
            with Report() as r:
                self._check(f["audit"](self._s, v, r._r))
                return r.findings()
        finally:
            f["v_free"](v)

    def lookup(self, service, address, port, sni=None):
        """The certificate a client of service connecting to address:port
        (the server's side) with SNI name sni would get. Returns
        {"certificate": dict} (the leaf, as mailssl_certificate_json
        describes it) or, on a miss, {"certificate": None, "reason": "..."}.
        """
        f = _store_api()
        svc = f["service"](_b(service))
        if svc <= 0:
            raise Error(ERR_INVALID, "not a service: %r" % service)
        cred = _P()
        why = _c.create_string_buffer(512)
        rc = f["lookup"](self._s, _b(address), port, svc, _b(sni),
                         _c.byref(cred), why, len(why))
        if rc == ERR_NOT_FOUND:
            return {"certificate": None,
                    "reason": why.value.decode("utf-8", "replace")}
        if rc < 0:
            raise Error(rc, "lookup: " + _strerror(rc).decode())
        try:
            return {"certificate":
                    json.loads(_take_string(f["cred_json"](cred, 0, 0)))}
        finally:
            f["cred_free"](cred)
