"""Parsers that check mailssl-probe's output formats strictly.

Each parser raises FormatError on the first line that breaks its format and
returns what it parsed, so tests can assert on values too. Used by
test_formats.py (made-up results) and test_probe_program.py (real probes).
"""
import json
import math
import re


class FormatError(AssertionError):
    pass


# ---- Prometheus text exposition format (version 0.0.4) -------------------

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
# The families of mailssl-probe --format prometheus (pf_write_prometheus),
# which mailssl-exporter's /probe answers too.
PROBE_FAMILIES = sorted([
    "mailssl_probe_success", "mailssl_probe_status",
    "mailssl_probe_diagnosis", "mailssl_probe_tls_version_info",
    "mailssl_probe_findings", "mailssl_cert_not_before_seconds",
    "mailssl_cert_not_after_seconds", "mailssl_probe_duration_seconds"])
# The suffixes a histogram or summary family adds to its sample names.
SUFFIXES = ("_bucket", "_count", "_sum")


def _float(text, where):
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?",
                        text):
        raise FormatError("%s: %r is not a sample value" % (where, text))
    return float(text)


def _labels(text, where):
    """Parses 'name="value",...' (without braces); returns a dict."""
    labels = {}
    i = 0
    while i < len(text):
        m = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"").match(text, i)
        if not m:
            raise FormatError("%s: bad label at %r" % (where, text[i:]))
        name = m.group(1)
        if name.startswith("__"):
            raise FormatError("%s: reserved label name %s" % (where, name))
        i = m.end()
        value = []
        while True:
            if i >= len(text):
                raise FormatError("%s: unterminated label value" % where)
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                if esc not in ("\\", "\"", "n"):
                    raise FormatError("%s: bad escape \\%s" % (where, esc))
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == "\"":
                i += 1
                break
            elif c == "\n":
                raise FormatError("%s: raw newline in a label" % where)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise FormatError("%s: label %s twice" % (where, name))
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise FormatError("%s: expected ',' at %r" % (where, text[i:]))
            i += 1
    return labels


def parse_prometheus(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}.

    Checks: metric and label names, label value escapes, HELP/TYPE syntax,
    at most one HELP and one TYPE per family and TYPE before its samples,
    the samples of a family contiguous, no duplicate series, a final
    newline.
    """
    if text and not text.endswith("\n"):
        raise FormatError("the exposition does not end with a newline")
    families = {}
    series = set()
    current = None  # family whose lines we are in
    closed = set()  # families whose block has ended

    def family_of(name):
        for fam, info in families.items():
            if name == fam:
                return fam
            if info["type"] in ("histogram", "summary") and \
                    any(name == fam + s for s in SUFFIXES):
                return fam
        return name

    def enter(fam, where):
        nonlocal current
        if fam != current:
            if fam in closed:
                raise FormatError("%s: family %s is not contiguous" %
                                  (where, fam))
            if current is not None:
                closed.add(current)
            current = fam
        return families.setdefault(fam, {"type": None, "help": None,
                                         "samples": []})

    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d" % n
        if line == "":
            continue
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) ?(.*)", line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.groups()
            if not METRIC_NAME.match(name):
                raise FormatError("%s: bad metric name %r" % (where, name))
            fam = enter(name, where)
            if kind == "TYPE":
                if rest not in TYPES:
                    raise FormatError("%s: bad type %r" % (where, rest))
                if fam["type"] is not None:
                    raise FormatError("%s: second TYPE for %s" % (where, name))
                if fam["samples"]:
                    raise FormatError("%s: TYPE after samples of %s" %
                                      (where, name))
                fam["type"] = rest
            else:
                if fam["help"] is not None:
                    raise FormatError("%s: second HELP for %s" % (where, name))
                if re.search(r"\\[^\\n]|\\\Z", rest):
                    raise FormatError("%s: bad escape in HELP" % where)
                fam["help"] = rest.replace("\\n", "\n").replace("\\\\", "\\")
            continue
        m = re.fullmatch(r"([^\s{]+)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?[0-9]+))?",
                         line)
        if not m:
            raise FormatError("%s: not a sample: %r" % (where, line))
        name, labeltext, value, _ts = m.groups()
        if not METRIC_NAME.match(name):
            raise FormatError("%s: bad metric name %r" % (where, name))
        labels = _labels(labeltext or "", where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise FormatError("%s: duplicate series %r" % (where, key))
        series.add(key)
        fam = enter(family_of(name), where)
        fam["samples"].append((name, labels, _float(value, where)))
    for name, fam in families.items():
        if fam["type"] is None:
            fam["type"] = "untyped"
    return families


# ---- Nagios / monitoring-plugin line --------------------------------------

UOM = r"(?:s|ms|us|%|B|KB|MB|TB|c)?"
NUM = r"-?[0-9]+(?:\.[0-9]+)?"
RANGE = r"@?(?:~|%s)?(?::(?:%s)?)?" % (NUM, NUM)
PERF = re.compile(r"('[^'=]+'|[^'=\s]+)=(%s)(%s)(?:;(%s)?(?:;(%s)?(?:;(%s)?"
                  r"(?:;(%s)?)?)?)?)?" % (NUM, UOM, RANGE, RANGE, NUM, NUM))


def parse_nagios(out, prefix="MAILSSL-PROBE"):
    """Checks one plugin line: 'PREFIX STATE - text | perfdata'. Returns
    (state, text, {label: (value, uom, warn, crit, min, max)})."""
    if not out.endswith("\n") or out.count("\n") != 1:
        raise FormatError("not exactly one line: %r" % out)
    line = out[:-1]
    m = re.fullmatch(r"%s (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]*?)"
                     r"(?: \| (.*))?" % re.escape(prefix), line)
    if not m:
        raise FormatError("not a plugin status line: %r" % line)
    state, text, perf = m.groups()
    if any(ord(c) < 32 for c in line):
        raise FormatError("control character in %r" % line)
    data = {}
    rest = perf or ""
    while rest:
        pm = PERF.match(rest)
        if not pm:
            raise FormatError("bad perfdata at %r" % rest)
        label = pm.group(1).strip("'")
        if label in data:
            raise FormatError("perfdata label %r twice" % label)
        data[label] = (float(pm.group(2)), pm.group(3)) + pm.groups()[3:]
        rest = rest[pm.end():]
        if rest and not rest.startswith(" "):
            raise FormatError("perfdata not separated by a space at %r" % rest)
        rest = rest.lstrip(" ")
    return state, text, data


def in_range(value, spec):
    """True when a plugin range spec ("10", "10:", "~:10", "@10:20") alerts
    for value."""
    if not spec:
        return False
    inside = spec.startswith("@")
    spec = spec.lstrip("@")
    lo, _, hi = spec.partition(":") if ":" in spec else ("0", ":", spec)
    lo = -math.inf if lo == "~" else float(lo or 0)
    hi = math.inf if hi == "" else float(hi)
    outside = value < lo or value > hi
    return not outside if inside else outside


# ---- text table ------------------------------------------------------------

COLUMNS = ["TARGET", "STATUS", "DIAGNOSIS", "TLS", "EXPIRES", "TIME"]


def parse_text(out):
    """Returns (rows, details): rows as dicts keyed by column, from the
    header's column positions; details as the lines after the table."""
    lines = out.split("\n")
    if lines[-1] != "":
        raise FormatError("text output does not end with a newline")
    header = lines[0]
    if header.split() != COLUMNS:
        raise FormatError("bad header %r" % header)
    starts = [header.index(c) for c in COLUMNS]
    rows = []
    i = 1
    while i < len(lines) and lines[i] != "":
        line = lines[i]
        row = {}
        for k, c in enumerate(COLUMNS):
            end = starts[k + 1] if k + 1 < len(COLUMNS) else len(line)
            cell = line[starts[k]:end]
            if k + 1 < len(COLUMNS) and not cell.endswith("  "):
                raise FormatError("column %s not aligned in %r" % (c, line))
            row[c] = cell.strip()
        if row["STATUS"] not in ("ok", "warning", "critical", "unknown"):
            raise FormatError("bad status in %r" % line)
        rows.append(row)
        i += 1
    return rows, lines[i + 1:-1] if i < len(lines) else []


# ---- JSON lines --------------------------------------------------------------

def parse_json_lines(out):
    """One JSON object a line (SPEC.md section 5); returns the objects."""
    if not out.endswith("\n"):
        raise FormatError("JSON output does not end with a newline")
    objs = []
    for n, line in enumerate(out.split("\n")[:-1], 1):
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise FormatError("line %d is not a JSON object" % n)
        for key in ("url", "protocol", "host", "port", "status",
                    "diagnosis", "stage", "findings", "timing_ms"):
            if key not in obj:
                raise FormatError("line %d lacks %s" % (n, key))
        objs.append(obj)
    return objs
