"""mailssl-exporter end to end, scraped by a real Prometheus.

usage: test_exporter.py MAILSSL_EXPORTER MAILSSL_SERVE MKCERTS SLOW_RESOLVER

One mailssl-serve (an imaps listener with a binding, a pop3s listener
without: the 13002 case, and smtp with STARTTLS) and one exporter run for
the whole module, on free loopback ports; Prometheus (Debian's
/usr/bin/prometheus) is started by the test that needs it with a config
generated here, its own storage in a temporary directory and a 1 s scrape
interval. Every process is started in its own process group and killed
with it at the end. Without prometheus or promtool the tests that need
them skip, unless MAILSSL_REQUIRE_INTEROP=1 (CI), where they fail.
"""
import html.parser
import http.client
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "programs"))
import formats  # noqa: E402
from serveprog import Serve, free_ports, write_atomic  # noqa: E402

EXPORTER = SERVE = MKCERTS = SLOW_RESOLVER = None
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
REQUIRE = os.environ.get("MAILSSL_REQUIRE_INTEROP") == "1"
MAX_PROBES = 32
RESOLVER_THREADS = 4

DIR = CERTS = None
SERVER = None
EXP = None


def need(tool, name):
    if tool:
        return
    if REQUIRE:
        raise AssertionError("%s is not installed (MAILSSL_REQUIRE_INTEROP=1)"
                             % name)
    raise unittest.SkipTest("%s is not installed" % name)


def stop_group(proc, timeout=10):
    """SIGTERM to the process group, then SIGKILL; returns the status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


class Exporter:
    """mailssl-exporter on a free port (port 0: it prints the one it
    got)."""

    def __init__(self, modules, *args, name="exporter", listen="127.0.0.1",
                 env=None):
        self.modules = os.path.join(DIR, name + ".conf")
        write_atomic(self.modules, modules)
        self.log_path = os.path.join(DIR, name + ".log")
        self.log_file = open(self.log_path, "w")
        self.host = listen
        self.proc = subprocess.Popen(
            [EXPORTER, "--web.listen-address",
             ("[%s]:0" if ":" in listen else "%s:0") % listen,
             "--config.file", self.modules] + list(args),
            stdout=subprocess.PIPE, stderr=self.log_file, text=True,
            start_new_session=True,
            env=dict(os.environ, **env) if env else None)
        line = self.proc.stdout.readline()
        prefix = "mailssl-exporter: listening on http://%s:" % (
            "[%s]" % listen if ":" in listen else listen)
        if not line.startswith(prefix):
            stop_group(self.proc)
            raise AssertionError("the exporter did not start: %r %s" %
                                 (line, self.log()))
        self.port = int(line[len(prefix):].rstrip("/\n"))

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path, headers=None, method="GET", body=None, timeout=30):
        """Returns (status, headers, text)."""
        c = http.client.HTTPConnection(self.host, self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode()
        finally:
            c.close()

    def metrics(self):
        status, _, text = self.get("/metrics")
        assert status == 200, text
        return formats.parse_prometheus(text)

    def value(self, family, **labels):
        for name, l, v in self.metrics()[family]["samples"]:
            if all(l.get(k) == w for k, w in labels.items()):
                return v
        return None

    def rss_kib(self, field="VmRSS"):
        """A number of /proc/PID/status (VmRSS, VmHWM in KiB; Threads)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s" % field)

    def stop(self):
        rc = stop_group(self.proc)
        self.proc.stdout.close()
        self.log_file.close()
        return rc


def modules_text(extra=""):
    return ("# the modules of the exporter tests\n"
            "module default cafile=certs/ca.pem timeout=5\n"
            "module short cafile=certs/ca.pem timeout=1 warn=21 crit=7\n"
            "module via cafile=certs/ca.pem connect-to=127.0.0.1\n"
            "module outside connect-to=192.0.2.1\n" +
            extra)


def target(service):
    return "%s://127.0.0.1:%d" % (service, SERVER.port[service])


def probe_path(url, module=None):
    q = {"target": url}
    if module:
        q["module"] = module
    return "/probe?" + urllib.parse.urlencode(q)


class Silent:
    """A TCP listener that accepts and never says a word (a stalled
    server): probes of it run until their deadline."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.done:
            try:
                self.conns.append(self.sock.accept()[0])
            except (socket.timeout, OSError):
                pass

    def close(self):
        self.done = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def setUpModule():
    global DIR, CERTS, SERVER, EXP
    # 1000 client sockets in one process
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    DIR = tempfile.mkdtemp(prefix="mailssl-exporter-test.")
    CERTS = os.path.join(DIR, "certs")
    os.mkdir(CERTS)
    subprocess.run([MKCERTS, CERTS], check=True)
    cert = "cert=%s/good.pem key=%s/good.key" % (CERTS, CERTS)
    config = ("bind imaps 127.0.0.1 {imaps} * %s\n"
              "bind smtp 127.0.0.1 {smtp} * %s\n"
              "listen imaps 127.0.0.1 {imaps}\n"
              "listen smtp 127.0.0.1 {smtp}\n"
              "# no binding: the handshake is dropped (13002)\n"
              "listen pop3s 127.0.0.1 {pop3s}\n" % (cert, cert))
    serve_dir = os.path.join(DIR, "serve")
    os.mkdir(serve_dir)
    SERVER = Serve(SERVE, config, serve_dir, ["imaps", "smtp", "pop3s"])
    try:
        EXP = Exporter(modules_text(), "--max-probes", str(MAX_PROBES),
                       "--resolver-threads", str(RESOLVER_THREADS))
    except BaseException:
        SERVER.stop()
        raise


def tearDownModule():
    try:
        if EXP:
            rc = EXP.stop()
            if rc != 0:
                raise AssertionError("the exporter exited %s:\n%s" %
                                     (rc, EXP.log()))
    finally:
        if SERVER:
            SERVER.stop()
        shutil.rmtree(DIR, ignore_errors=True)


class Probe(unittest.TestCase):
    def test_bound_and_unbound(self):
        status, headers, text = EXP.get(probe_path(target("imaps")))
        self.assertEqual(status, 200, text)
        self.assertTrue(headers["Content-Type"].startswith(
            "text/plain; version=0.0.4"))
        fams = formats.parse_prometheus(text)
        self.assertEqual(fams["mailssl_probe_success"]["samples"][0][2], 1)
        self.assertEqual(fams["mailssl_probe_diagnosis"]["samples"][0][1],
                         {"target": target("imaps"), "service": "imaps",
                          "code": "ok", "stage": "done"})
        status, _, text = EXP.get(probe_path(target("pop3s"), "short"))
        self.assertEqual(status, 200, text)
        fams = formats.parse_prometheus(text)
        self.assertEqual(fams["mailssl_probe_success"]["samples"][0][2], 0)
        self.assertEqual(fams["mailssl_probe_status"]["samples"][0][2], 2)
        labels = fams["mailssl_probe_diagnosis"]["samples"][0][1]
        self.assertEqual((labels["code"], labels["stage"]),
                         ("tls-closed-during-handshake", "connect"))
        # STARTTLS through the exporter too
        status, _, text = EXP.get(probe_path(target("smtp")))
        fams = formats.parse_prometheus(text)
        self.assertEqual(fams["mailssl_probe_diagnosis"]["samples"][0][1]
                         ["code"], "ok", text)

    def test_same_metric_names_as_mailssl_probe(self):
        """The exporter's /probe is pf_write_prometheus, as mailssl-probe
        --format prometheus: the same families, all gauges with help."""
        _, _, text = EXP.get(probe_path(target("imaps")))
        fams = formats.parse_prometheus(text)
        self.assertEqual(sorted(fams), formats.PROBE_FAMILIES)

    def test_scrape_timeout_bounds_the_deadline(self):
        silent = Silent()
        try:
            url = "imaps://127.0.0.1:%d" % silent.port
            t0 = time.monotonic()
            # module default: 5 s; the scrape allows 1.5 s less 0.5 s
            status, _, text = EXP.get(
                probe_path(url),
                {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
            took = time.monotonic() - t0
        finally:
            silent.close()
        self.assertEqual(status, 200, text)
        fams = formats.parse_prometheus(text)
        self.assertEqual(fams["mailssl_probe_diagnosis"]["samples"][0][1]
                         ["code"], "tls-timeout", text)
        self.assertGreater(took, 0.9)
        self.assertLess(took, 3.0)  # well before the module's 5 s

    def test_cap_on_probes_gives_503(self):
        """MAX_PROBES stalled probes run; the ones beyond get 503 at once,
        with the reason; in_flight shows them while they run."""
        silent = Silent()
        extra = 6
        results = []
        lock = threading.Lock()
        url = "imaps://127.0.0.1:%d" % silent.port

        def one():
            r = EXP.get(probe_path(url),
                        {"X-Prometheus-Scrape-Timeout-Seconds": "2.5"})
            with lock:
                results.append((r[0], r[2], time.monotonic()))

        try:
            threads = [threading.Thread(target=one)
                       for _ in range(MAX_PROBES)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 5
            while EXP.value("mailssl_exporter_probes_in_flight") < MAX_PROBES:
                self.assertLess(time.monotonic(), deadline,
                                "the probes did not all start")
                time.sleep(0.02)
            more = [threading.Thread(target=one) for _ in range(extra)]
            for t in more:
                t.start()
            for t in threads + more:
                t.join(20)
        finally:
            silent.close()
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [200] * MAX_PROBES + [503] * extra)
        for status, text, _ in results:
            if status == 503:
                self.assertIn("probes are running, the most at once", text)
            else:
                self.assertIn('code="tls-timeout"', text)
        # refused at once: before the stalled probes reach their deadline
        self.assertLess(max(r[2] for r in results if r[0] == 503),
                        min(r[2] for r in results if r[0] == 200))
        self.assertEqual(EXP.value("mailssl_exporter_probes_in_flight"), 0)


# Requests that must be refused: (path, headers, method, status, text).
LONG = "imaps://127.0.0.1:1/" + "a" * 3000
HUGE = "imaps://127.0.0.1:1/" + "a" * 40000
BAD = [
    ("/probe", {}, "GET", 400, "target parameter missing"),
    ("/probe?target=", {}, "GET", 400, "target parameter missing"),
    ("/probe?target", {}, "GET", 400, "target parameter missing"),
    ("/probe?target=imaps://127.0.0.1:1&target=imaps://127.0.0.1:2", {},
     "GET", 400, "target given 2 times"),
    ("/probe?target=bogus", {}, "GET", 400, "bad target 'bogus'"),
    ("/probe?target=%ZZ%00", {}, "GET", 400, "bad target"),
    ("/probe?target=ftp://127.0.0.1", {}, "GET", 400, "bad target"),
    ("/probe?target=imaps://127.0.0.1:99999", {}, "GET", 400, "bad target"),
    ("/probe?target=imaps://127.0.0.1&module=nope", {}, "GET", 400,
     "unknown module 'nope'"),
    ("/probe?target=imaps://127.0.0.1&module=", {}, "GET", 400,
     "empty module name"),
    ("/probe?target=imaps://127.0.0.1&module=short&module=default", {},
     "GET", 400, "module given more than once"),
    ("/probe?target=imaps://127.0.0.1&debug=true", {}, "GET", 400,
     "unknown parameter 'debug'"),
    ("/probe?target=imaps://192.0.2.1", {}, "GET", 403,
     "'192.0.2.1' is not in the allow-list"),
    ("/probe?target=imaps://[::ffff:192.0.2.1]", {}, "GET", 403,
     "is not in the allow-list"),
    ("/probe?target=imaps://mail.example.com", {}, "GET", 403,
     "'mail.example.com' is not in the allow-list"),
    ("/probe?target=imaps://127.1", {}, "GET", 403,
     "'127.1' is not in the allow-list"),
    # with connect-to, the module's host is judged, not the URL's
    ("/probe?target=imaps://127.0.0.1&module=outside", {}, "GET", 403,
     "'192.0.2.1' is not in the allow-list"),
    ("/probe?target=imaps://127.0.0.1",
     {"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, "GET", 400,
     "bad X-Prometheus-Scrape-Timeout-Seconds"),
    ("/probe?target=imaps://127.0.0.1",
     {"X-Prometheus-Scrape-Timeout-Seconds": "-1"}, "GET", 400,
     "bad X-Prometheus-Scrape-Timeout-Seconds"),
    ("/probe?target=" + LONG, {}, "GET", 414, "at most 2048"),
    ("/probe?target=" + HUGE, {}, "GET", 414, ""),
    ("/probe", {"X-Padding": "x" * 40000}, "GET", 431, ""),
    ("/probe?target=imaps://127.0.0.1", {}, "POST", 405, "not allowed"),
    ("/probe?target=imaps://127.0.0.1", {}, "DELETE", 405, "not allowed"),
    ("/nothing", {}, "GET", 404, "no such page"),
]


class BadRequests(unittest.TestCase):
    def test_table(self):
        before = EXP.value("mailssl_exporter_probes_total", code="ok")
        for path, headers, method, status, text in BAD:
            with self.subTest(path=path[:80], method=method):
                got, hdrs, body = EXP.get(path, headers, method,
                                          body="x" if method == "POST"
                                          else None, timeout=10)
                self.assertEqual(got, status, body)
                self.assertIn(text, body)
                if status == 405:
                    self.assertEqual(hdrs.get("Allow"), "GET, HEAD")
        # nothing was probed for them
        self.assertEqual(EXP.value("mailssl_exporter_probes_total",
                                   code="ok"), before)
        self.assertGreaterEqual(EXP.value(
            "mailssl_exporter_requests_rejected_total", reason="forbidden"),
            4)

    def test_connect_to_module(self):
        """A name outside the allow-list, reached through a module whose
        connect-to is loopback: probed there, verified for the name."""
        status, _, text = EXP.get(probe_path(
            "imaps://mail.test:%d" % SERVER.port["imaps"], "via"))
        self.assertEqual(status, 200, text)
        self.assertIn('code="ok"', text)
        status, _, _ = EXP.get(probe_path(
            "imaps://mail.test:%d" % SERVER.port["imaps"]))
        self.assertEqual(status, 403)

    def test_allowed_loopback_v6(self):
        """::1 is in the default allow-list: probed (nothing listens)."""
        status, _, text = EXP.get(probe_path("imaps://[::1]:1"))
        self.assertEqual(status, 200, text)
        self.assertIn("mailssl_probe_success", text)

    def test_slow_and_garbage_clients(self):
        """A half request, garbage and an early close do not block the
        loop: a probe answers meanwhile."""
        socks = []
        for data in (b"GET /probe?tar", b"\x00\xff garbage\r\n\r\n",
                     b"GET / HTTP/1.1\r\nHost: x\r\n"):
            s = socket.create_connection(("127.0.0.1", EXP.port))
            s.sendall(data)
            socks.append(s)
        try:
            status, _, _ = EXP.get(probe_path(target("imaps")), timeout=5)
            self.assertEqual(status, 200)
        finally:
            for s in socks:
                s.close()


# Bad command lines: (arguments, exit status, message on stderr).
USAGE = [
    (["--bogus"], 3, "unknown option '--bogus'"),
    (["stray"], 3, "unexpected argument 'stray'"),
    (["--max-probes", "0"], 3, "--max-probes: '0' is not a whole number"),
    (["--max-probes"], 3, "--max-probes needs a value"),
    (["--history=-1"], 3, "--history: '-1' is not a whole number"),
    (["--timeout-offset", "x"], 3, "--timeout-offset: 'x' is not a number"),
    (["--allow", "10.0.0.1/8"], 3, "--allow: '10.0.0.1/8' has host bits"),
    (["--web.listen-address", "nonsense"], 3, "is not ADDRESS:PORT"),
    (["--web.listen-address", "192.0.2.1:1"], 1, "cannot listen on"),
    (["--config.file", "/nonexistent/m.conf"], 3,
     "/nonexistent/m.conf: No such file"),
]


class Usage(unittest.TestCase):
    def test_bad_command_lines(self):
        for args, status, message in USAGE:
            with self.subTest(args=args):
                p = subprocess.run([EXPORTER] + args, capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(p.returncode, status, p.stderr)
                self.assertIn(message, p.stderr)
                self.assertEqual(p.stdout, "")

    def test_help_and_version(self):
        p = subprocess.run([EXPORTER, "--help"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--web.listen-address", p.stdout)
        self.assertIn("127.0.0.1:9725", p.stdout)
        p = subprocess.run([EXPORTER, "--version"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("mailssl-exporter (libmailssl "))


def wait_metric(test, exp, family, value):
    """Polls /metrics until the exporter's gauge `family` is `value`
    (5 s at the most)."""
    deadline = time.monotonic() + 5
    while exp.value(family) != value:
        test.assertLess(time.monotonic(), deadline, exp.log())
        time.sleep(0.02)


def sigterm_ends(test, exp, client, within):
    """SIGTERM: the exporter exits 0 and the client thread has its answer
    within `within` seconds."""
    t0 = time.monotonic()
    exp.proc.send_signal(signal.SIGTERM)
    test.assertEqual(exp.proc.wait(5), 0, exp.log())
    client.join(5)
    test.assertLess(time.monotonic() - t0, within)


class Lifecycle(unittest.TestCase):
    def test_sigterm_answers_probes_in_flight(self):
        """SIGTERM while a probe waits for a stalled server: the request
        gets 503 at once and the exporter exits 0."""
        silent = Silent()
        exp = Exporter(modules_text(), name="sigterm")
        result = []
        try:
            t = threading.Thread(target=lambda: result.append(exp.get(
                probe_path("imaps://127.0.0.1:%d" % silent.port))))
            t.start()
            wait_metric(self, exp, "mailssl_exporter_probes_in_flight", 1)
            sigterm_ends(self, exp, t, 2)
        finally:
            exp.stop()
            silent.close()
        self.assertEqual(result[0][0], 503)
        self.assertIn("shutting down", result[0][2])
        self.assertIn("mailssl-exporter: stopped", exp.log())

    def test_ipv6_listen_address(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no ::1 on this machine")
        exp = Exporter(modules_text(), name="v6", listen="::1")
        try:
            status, _, text = exp.get(probe_path(target("imaps")))
            self.assertEqual(status, 200)
            self.assertIn('code="ok"', text)
        finally:
            self.assertEqual(exp.stop(), 0)


class SlowDns(unittest.TestCase):
    """Targets given by host name, whose getaddrinfo() takes SLOW_MS
    (tests/exporter/slow_resolver.c, preloaded): the resolution runs in
    the resolver threads, the loop goes on."""

    SLOW_MS = 2000

    def exporter(self, name, *args):
        return Exporter(
            modules_text("module named cafile=certs/ca.pem "
                         "servername=mail.test timeout=8\n"
                         "module named1s cafile=certs/ca.pem "
                         "servername=mail.test timeout=1\n"),
            "--allow", "*.slow.test", "--allow", "127.0.0.0/8", *args,
            name=name,
            env={"LD_PRELOAD": os.path.abspath(SLOW_RESOLVER),
                 "MAILSSL_SLOW_RESOLVER_MS": str(self.SLOW_MS)})

    def background(self, exp, path):
        """GET path in a thread; returns (thread, [(status, took, text)])."""
        out = []

        def run():
            t0 = time.monotonic()
            status, _, text = exp.get(path)
            out.append((status, time.monotonic() - t0, text))
        t = threading.Thread(target=run)
        t.start()
        return t, out

    def wait_resolving(self, exp, n):
        wait_metric(self, exp, "mailssl_exporter_probes_resolving", n)

    def slow_target(self, label="a"):
        return "imaps://%s.slow.test:%d" % (label, SERVER.port["imaps"])

    def test_name_resolution_does_not_stall_the_loop(self):
        exp = self.exporter("slowdns")
        try:
            t, slow = self.background(exp, probe_path(self.slow_target(),
                                                      "named"))
            self.wait_resolving(exp, 1)  # /metrics answered meanwhile
            self.assertEqual(exp.value("mailssl_exporter_probes_in_flight"),
                             1)
            t0 = time.monotonic()
            status, _, text = exp.get(probe_path(target("imaps")))
            took = time.monotonic() - t0
            self.assertEqual(status, 200, text)
            self.assertIn('code="ok"', text)
            self.assertLess(took, self.SLOW_MS / 2000.0,
                            "an IP target waited for another's DNS")
            self.assertEqual(slow, [], "the name's probe ended too early")
            t.join(15)
            status, took, text = slow[0]
            self.assertEqual(status, 200, text)
            fams = formats.parse_prometheus(text)
            self.assertEqual(
                fams["mailssl_probe_diagnosis"]["samples"][0][1]["code"],
                "ok", text)
            self.assertGreaterEqual(took, self.SLOW_MS / 1000.0)
            self.assertEqual(exp.value("mailssl_exporter_probes_resolving"),
                             0)
        finally:
            self.assertEqual(exp.stop(), 0, exp.log())

    def test_names_share_the_threads(self):
        """Two threads, three slow names at once: two resolve together,
        the third waits for a thread, and all end in two resolutions'
        time."""
        exp = self.exporter("slowdns2", "--resolver-threads", "2")
        try:
            threads = exp.rss_kib("Threads")
            t0 = time.monotonic()
            runs = [self.background(exp, probe_path(self.slow_target(x),
                                                    "named"))
                    for x in "abc"]
            for t, _ in runs:
                t.join(15)
            took = time.monotonic() - t0
            for _, out in runs:
                self.assertEqual(out[0][0], 200, out[0][2])
                self.assertIn('code="ok"', out[0][2])
            self.assertGreaterEqual(took, 2 * self.SLOW_MS / 1000.0)
            self.assertLess(took, 3 * self.SLOW_MS / 1000.0)
            # the pool made at start, no thread per request (a sanitizer
            # may add threads of its own to the count)
            self.assertGreaterEqual(threads, 3)
            self.assertEqual(exp.rss_kib("Threads"), threads)
        finally:
            self.assertEqual(exp.stop(), 0, exp.log())

    def test_waiting_for_a_thread_past_the_deadline(self):
        """One thread, a 1 s module: the second name waits for the thread
        longer than its deadline and is answered 503, saying why."""
        exp = self.exporter("slowdns3", "--resolver-threads", "1")
        try:
            first = self.background(exp, probe_path(self.slow_target("a"),
                                                    "named1s"))
            self.wait_resolving(exp, 1)
            second = self.background(exp, probe_path(self.slow_target("b"),
                                                     "named1s"))
            for t, _ in (first, second):
                t.join(15)
            status, _, text = second[1][0]
            self.assertEqual(status, 503, text)
            self.assertIn("waited", text)
            self.assertIn("--resolver-threads", text)
            # the first: its resolution outlasted its 1 s deadline
            status, took, text = first[1][0]
            self.assertEqual(status, 200, text)
            self.assertIn("mailssl_probe_success", text)
            self.assertNotIn('code="ok"', text)
        finally:
            self.assertEqual(exp.stop(), 0, exp.log())

    def test_sigterm_while_resolving(self):
        """SIGTERM while a thread is inside a 2 s getaddrinfo: the request
        gets 503 at once and the exporter exits 0 without waiting for
        it."""
        exp = self.exporter("slowdns4")
        try:
            t, out = self.background(exp, probe_path(self.slow_target(),
                                                     "named"))
            self.wait_resolving(exp, 1)
            sigterm_ends(self, exp, t, 1.8)
        finally:
            exp.stop()
        self.assertEqual(out[0][0], 503, out)
        self.assertIn("shutting down", out[0][2])
        self.assertIn("abandoned", exp.log())


def many_requests(port, path, n, timeout):
    """n requests at once over raw sockets in one thread; returns the
    status code of each (None: no complete answer before timeout)."""
    sel = selectors.DefaultSelector()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
           % path).encode()
    state = {}
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        state[s] = [req, b""]
        sel.register(s, selectors.EVENT_WRITE)
    open_socks = set(state)
    deadline = time.monotonic() + timeout
    while open_socks and time.monotonic() < deadline:
        for key, ev in sel.select(0.5):
            s = key.fileobj
            st = state[s]
            try:
                if ev & selectors.EVENT_WRITE:
                    sent = s.send(st[0])
                    st[0] = st[0][sent:]
                    if not st[0]:
                        sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                st[1] += data
            else:
                sel.unregister(s)
                s.close()
                open_socks.discard(s)
    for s in open_socks:
        sel.unregister(s)
        s.close()
    codes = []
    for s, (_, resp) in state.items():
        head = resp.split(b"\r\n", 1)[0].split()
        complete = s not in open_socks and len(head) >= 2
        codes.append(int(head[1]) if complete else None)
    return codes


class Load(unittest.TestCase):
    def test_1000_concurrent_requests(self):
        path = probe_path(target("imaps"))
        many_requests(EXP.port, path, 50, 20)  # warm up the caches
        rss_before = EXP.rss_kib()
        t0 = time.monotonic()
        codes = many_requests(EXP.port, path, 1000, 25)
        took = time.monotonic() - t0
        rss_after = EXP.rss_kib()
        hwm = EXP.rss_kib("VmHWM")
        counts = {c: codes.count(c) for c in set(codes)}
        print("1000 concurrent /probe: %s in %.2f s; RSS %d -> %d KiB, "
              "peak %d KiB" % (counts, took, rss_before, rss_after, hwm),
              file=sys.stderr)
        self.assertNotIn(None, counts, "requests left hanging")
        self.assertEqual(set(counts) - {200, 503}, set(), counts)
        # at least a cap's worth probed; the excess refused, not queued
        self.assertGreaterEqual(counts.get(200, 0), MAX_PROBES)
        # bounded: the probe cap and the connection limit bound memory
        self.assertLess(hwm, 128 * 1024)
        self.assertLess(rss_after - rss_before, 48 * 1024)
        # one event loop and the fixed resolver pool: no thread per
        # request, nor any other
        self.assertEqual(EXP.rss_kib("Threads"), 1 + RESOLVER_THREADS)
        self.assertEqual(EXP.value("mailssl_exporter_probes_in_flight"), 0)


class Reload(unittest.TestCase):
    def wait_counter(self, result, count):
        deadline = time.monotonic() + 10
        while EXP.value("mailssl_exporter_config_reloads_total",
                        result=result) < count:
            self.assertLess(time.monotonic(), deadline, EXP.log())
            time.sleep(0.02)

    def test_sighup_broken_file_keeps_modules(self):
        ok = EXP.value("mailssl_exporter_config_reloads_total",
                       result="success")
        bad = EXP.value("mailssl_exporter_config_reloads_total",
                        result="failure")
        try:
            write_atomic(EXP.modules, modules_text(
                "module extra cafile=certs/ca.pem min-version=TLS1.3\n"))
            os.kill(EXP.proc.pid, signal.SIGHUP)
            self.wait_counter("success", ok + 1)
            status, _, text = EXP.get(probe_path(target("imaps"), "extra"))
            self.assertEqual(status, 200, text)
            self.assertIn('code="ok"', text)
            # broken: an unknown option on line 2, and no module extra
            write_atomic(EXP.modules, "module default\n"
                                      "module other colour=blue\n")
            os.kill(EXP.proc.pid, signal.SIGHUP)
            self.wait_counter("failure", bad + 1)
            self.assertIn("reload failed, the previous modules stay in "
                          "force: %s:2:14: unknown option 'colour'" %
                          EXP.modules, EXP.log())
            self.assertEqual(EXP.value(
                "mailssl_exporter_config_last_reload_successful"), 0)
            status, _, text = EXP.get(probe_path(target("imaps"), "extra"))
            self.assertEqual(status, 200, text)
            self.assertIn('code="ok"', text)
        finally:
            write_atomic(EXP.modules, modules_text())
            os.kill(EXP.proc.pid, signal.SIGHUP)
            self.wait_counter("success", ok + 2)
        status, _, _ = EXP.get(probe_path(target("imaps"), "extra"))
        self.assertEqual(status, 400)


class Hostile:
    """A plaintext IMAP server whose greeting rejects with markup in it:
    the probe's message carries the server's words to the page."""

    GREETING = b"* BYE <script>alert('x')</script> & \"q\"\r\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
            c.sendall(self.GREETING)
            c.close()
        except OSError:
            pass

    def close(self):
        self.sock.close()
        self.thread.join(5)


class Page(unittest.TestCase):
    def test_index_lists_modules_and_results(self):
        hostile = Hostile()
        try:
            status, _, text = EXP.get(probe_path(
                "imap://127.0.0.1:%d" % hostile.port))
        finally:
            hostile.close()
        self.assertIn('code="greeting-rejected"', text)
        EXP.get(probe_path(target("pop3s")))
        status, headers, page = EXP.get("/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        for needle in ("<td>default</td>", "<td>short</td>",
                       "tls-closed-during-handshake", "Exchange event 13002",
                       # the message's quotes arrive escaped
                       "&quot;the server unexpectedly terminated the "
                       "connection&quot;", target("pop3s"),
                       "loopback only",
                       "* BYE &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                       "&amp; &quot;q&quot;"):
            self.assertIn(needle, page)
        self.assertNotIn("<script", page)

        class Strict(html.parser.HTMLParser):
            def __init__(self):
                super().__init__()
                self.stack = []

            def handle_starttag(self, tag, attrs):
                if tag not in ("meta",):
                    self.stack.append(tag)

            def handle_endtag(self, tag):
                assert self.stack and self.stack.pop() == tag, tag

        p = Strict()
        p.feed(page)
        p.close()
        self.assertEqual(p.stack, [])


class Promtool(unittest.TestCase):
    def test_check_metrics(self):
        need(PROMTOOL, "promtool")
        for path in (probe_path(target("imaps")), probe_path(target("pop3s")),
                     "/metrics"):
            with self.subTest(path=path):
                _, _, text = EXP.get(path)
                p = subprocess.run([PROMTOOL, "check", "metrics"],
                                   input=text, capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual((p.returncode, p.stdout + p.stderr),
                                 (0, ""))


ALERT_RULES = {"groups": [{"name": "mailssl", "rules": [{
    "alert": "MailTLSNoCertificateBound",
    "expr": 'mailssl_probe_diagnosis{code="tls-closed-during-handshake"} '
            '== 1',
    "for": "0s",
    "labels": {"severity": "critical"},
    "annotations": {"summary": "{{ $labels.target }} drops the TLS "
                               "handshake: no certificate bound"}}]}]}


class RealPrometheus(unittest.TestCase):
    def test_scraped_by_prometheus(self):
        need(PROMETHEUS, "prometheus")
        tmp = tempfile.mkdtemp(prefix="prometheus.", dir=DIR)
        port = free_ports(1)[0]
        exporter = "127.0.0.1:%d" % EXP.port
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [os.path.join(tmp, "rules.yml")],
            "scrape_configs": [
                {"job_name": "mailssl",
                 "metrics_path": "/probe",
                 "params": {"module": ["default"]},
                 "static_configs": [{"targets": [target("imaps"),
                                                 target("pop3s")]}],
                 "relabel_configs": [
                     {"source_labels": ["__address__"],
                      "target_label": "__param_target"},
                     {"source_labels": ["__param_target"],
                      "target_label": "instance"},
                     {"target_label": "__address__",
                      "replacement": exporter}]},
                {"job_name": "mailssl-exporter",
                 "static_configs": [{"targets": [exporter]}]}]}
        # YAML is a superset of JSON
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            json.dump(config, f)
        with open(os.path.join(tmp, "rules.yml"), "w") as f:
            json.dump(ALERT_RULES, f)
        if PROMTOOL:
            p = subprocess.run([PROMTOOL, "check", "rules",
                                os.path.join(tmp, "rules.yml")],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(
            [PROMETHEUS, "--config.file", os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path", os.path.join(tmp, "data"),
             "--web.listen-address", "127.0.0.1:%d" % port,
             "--log.level", "warn"],
            stdout=log, stderr=log, start_new_session=True)
        try:
            def query(q):
                url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                    port, urllib.parse.urlencode({"query": q}))
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        body = json.load(r)
                except OSError:
                    return []
                self.assertEqual(body["status"], "success")
                return body["data"]["result"]

            def wait_for(q, n):
                deadline = time.monotonic() + 20
                while True:
                    res = query(q)
                    if len(res) >= n:
                        return res
                    if time.monotonic() > deadline or prom.poll() is not None:
                        with open(os.path.join(tmp, "prometheus.log")) as f:
                            self.fail("%s: %r\n%s" % (q, res, f.read()))
                    time.sleep(0.2)

            res = wait_for("mailssl_probe_success", 2)
            got = {r["metric"]["instance"]: r["value"][1] for r in res}
            self.assertEqual(got, {target("imaps"): "1",
                                   target("pop3s"): "0"})
            for r in res:
                self.assertEqual(r["metric"]["job"], "mailssl")
                self.assertEqual(r["metric"]["target"],
                                 r["metric"]["instance"])
            res = wait_for("mailssl_probe_diagnosis", 2)
            got = {r["metric"]["instance"]: (r["metric"]["code"],
                                             r["metric"]["stage"])
                   for r in res}
            self.assertEqual(got, {
                target("imaps"): ("ok", "done"),
                target("pop3s"): ("tls-closed-during-handshake", "connect")})
            up = wait_for('up{job="mailssl-exporter"}', 1)
            self.assertEqual(up[0]["value"][1], "1")
            wait_for('mailssl_exporter_probes_total{code="ok"} > 0', 1)
            # the README's alert fires for the unbound listener only
            alerts = wait_for('ALERTS{alertname="MailTLSNoCertificateBound",'
                              'alertstate="firing"}', 1)
            self.assertEqual([a["metric"]["instance"] for a in alerts],
                             [target("pop3s")])
        finally:
            stop_group(prom)
            log.close()


if __name__ == "__main__":
    EXPORTER, SERVE, MKCERTS, SLOW_RESOLVER = sys.argv[1:5]
    del sys.argv[1:5]
    unittest.main(verbosity=2)
