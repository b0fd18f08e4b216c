"""mailssl-serve, probed by mailssl-probe on loopback.

usage: test_serve_program.py MAILSSL_SERVE MAILSSL_PROBE MKCERTS

Every test starts the mailssl-serve it needs (serveprog.py) on free
loopback ports above 10000 and stops it; certificates come from mkcerts.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import formats
from serveprog import Serve, free_ports, write_atomic

SERVE = PROBE = MKCERTS = None
CERTS = None
ALL = ["smtp", "submission", "smtps", "lmtp", "imap", "imaps", "pop3",
       "pop3s", "sieve"]
# What each service announces after TLS (the probe reports these).
CAPS_AFTER = {
    "smtp": ["PIPELINING", "SIZE 10240000", "8BITMIME",
             "ENHANCEDSTATUSCODES"],
    "submission": ["PIPELINING", "SIZE 10240000", "AUTH PLAIN", "8BITMIME",
                   "ENHANCEDSTATUSCODES"],
    "smtps": ["PIPELINING", "SIZE 10240000", "8BITMIME",
              "ENHANCEDSTATUSCODES"],
    "lmtp": ["PIPELINING", "SIZE 10240000", "8BITMIME",
             "ENHANCEDSTATUSCODES"],
    "imap": ["IMAP4rev1", "AUTH=PLAIN", "ID"],
    "imaps": ["IMAP4rev1", "AUTH=PLAIN", "ID"],
    "pop3": ["TOP", "UIDL", "RESP-CODES", "SASL PLAIN", "USER",
             "IMPLEMENTATION mailssl-serve"],
    "pop3s": ["TOP", "UIDL", "RESP-CODES", "SASL PLAIN", "USER",
              "IMPLEMENTATION mailssl-serve"],
    "sieve": ["IMPLEMENTATION", "SASL", "SIEVE", "VERSION"],
}


def setUpModule():
    global CERTS
    CERTS = tempfile.mkdtemp(prefix="mailssl-serve-test.")
    subprocess.run([MKCERTS, CERTS], check=True)


def tearDownModule():
    shutil.rmtree(CERTS, ignore_errors=True)


def path(name):
    return os.path.join(CERTS, name)


def bind_all(cert="good", services=ALL):
    """One exact-address binding per service, then a listen line each."""
    lines = ["bind %s 127.0.0.1 {%s} * cert=%s.pem key=%s.key" %
             (s, s, path(cert), path(cert)) for s in services]
    lines += ["listen %s 127.0.0.1 {%s}" % (s, s) for s in ALL]
    return "\n".join(lines) + "\n"


def probe(*urls, timeout=10):
    p = subprocess.run([PROBE, "--cafile", path("ca.pem"), "--format",
                        "json", "--timeout", str(timeout)] + list(urls),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    return p.returncode, formats.parse_json_lines(p.stdout)


def url(s, service):
    return "%s://127.0.0.1:%d" % (service, s.port[service])


def fingerprint(name):
    """sha256 of the leaf of CERTS/name.pem, as the probe writes it."""
    with open(path(name + ".pem")) as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE"
                                                  "-----") + 25])
    import hashlib
    return hashlib.sha256(der).hexdigest()


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class InTempDir(unittest.TestCase):
    """Each test gets self.dir, removed after."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mailssl-serve-run.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Services(unittest.TestCase):
    """Every service of SPEC.md section 2, end to end."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mailssl-serve-run.")
        # pop3s on 127.0.0.1 bound; a second pop3s listener below is not
        cls.s = Serve(SERVE, bind_all(), cls.dir, ALL)

    @classmethod
    def tearDownClass(cls):
        rc = cls.s.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert rc == 0, rc

    def test_ready_line_names_every_listener(self):
        self.assertEqual(
            self.s.ready,
            "mailssl-serve: listening on " +
            ", ".join("%s 127.0.0.1 %d" % (n, self.s.port[n]) for n in ALL) +
            "\n")

    def test_every_service_probes_ok_with_its_capabilities_after_tls(self):
        urls = [url(self.s, n) for n in ALL]
        rc, rs = probe(*urls)
        self.assertEqual(rc, 0, rs)
        for n, r in zip(ALL, rs):
            self.assertEqual((r["url"], r["status"], r["diagnosis"]["code"],
                              r["stage"]), (url(self.s, n), "ok", "ok",
                                            "done"))
            self.assertEqual(r["capabilities"], CAPS_AFTER[n], n)
            self.assertEqual(r["certificate"]["sha256"], fingerprint("good"))

    def test_many_clients_at_once(self):
        urls = [url(self.s, ALL[i % len(ALL)]) for i in range(60)]
        p = subprocess.run([PROBE, "--cafile", path("ca.pem"), "--format",
                            "json", "--concurrency", "30"] + urls,
                           stdout=subprocess.PIPE, text=True, timeout=120)
        rs = formats.parse_json_lines(p.stdout)
        self.assertEqual(p.returncode, 0)
        self.assertEqual([r["diagnosis"]["code"] for r in rs], ["ok"] * 60)

    def test_slow_clients_block_nobody(self):
        # a client that never finishes its line, one that sends half a
        # ClientHello, one that connects and says nothing
        a = socket.create_connection(("127.0.0.1", self.s.port["imap"]))
        b = socket.create_connection(("127.0.0.1", self.s.port["imaps"]))
        c = socket.create_connection(("127.0.0.1", self.s.port["smtp"]))
        try:
            a.recv(1000)
            a.sendall(b"a1 CAPAB")
            b.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            t0 = time.monotonic()
            rc, rs = probe(*[url(self.s, n) for n in ALL], timeout=5)
            self.assertLess(time.monotonic() - t0, 4)
            self.assertEqual([r["diagnosis"]["code"] for r in rs],
                             ["ok"] * len(ALL))
            # the slow one is still served once its line is complete
            a.sendall(b"ILITY\r\n")
            self.assertEqual(a.recv(1000),
                             b"* CAPABILITY IMAP4rev1 STARTTLS "
                             b"LOGINDISABLED\r\na1 OK CAPABILITY "
                             b"completed\r\n")
        finally:
            a.close()
            b.close()
            c.close()

    def talk(self, service, greeting_lines, lines):
        """Sends each (line, number of reply lines); returns every line
        received and what follows the last reply (b"" once closed)."""
        with socket.create_connection(("127.0.0.1",
                                       self.s.port[service])) as c:
            f = c.makefile("rb")
            got = [f.readline() for _ in range(greeting_lines)]
            for line, nreplies in lines:
                c.sendall(line)
                got += [f.readline() for _ in range(nreplies)]
            return got, f.read()

    def test_smtp_dialogue_in_plaintext(self):
        got, rest = self.talk("smtp", 1, [
            (b"STARTTLS\r\n", 1), (b"EHLO x\r\n", 6),
            (b"MAIL FROM:<>\r\n", 1), (b"QUIT\r\n", 1)])
        self.assertEqual(got, [b"220 mailssl-serve ESMTP ready\r\n",
                               b"503 5.5.1 EHLO first\r\n",
                               b"250-mailssl-serve\r\n",
                               b"250-PIPELINING\r\n",
                               b"250-SIZE 10240000\r\n",
                               b"250-STARTTLS\r\n",
                               b"250-8BITMIME\r\n",
                               b"250 ENHANCEDSTATUSCODES\r\n",
                               b"502 5.5.2 command not implemented\r\n",
                               b"221 2.0.0 mailssl-serve closing\r\n"])
        self.assertEqual(rest, b"")  # closed after QUIT
        got, rest = self.talk("lmtp", 1, [(b"EHLO x\r\n", 1),
                                          (b"QUIT\r\n", 1)])
        self.assertEqual(got, [b"220 mailssl-serve LMTP ready\r\n",
                               b"500 5.5.1 this is LMTP: use LHLO\r\n",
                               b"221 2.0.0 mailssl-serve closing\r\n"])

    def test_pop3_imap_sieve_dialogues_in_plaintext(self):
        got, rest = self.talk("pop3", 1, [(b"CAPA\r\n", 7),
                                          (b"QUIT\r\n", 1)])
        self.assertEqual(got, [b"+OK mailssl-serve POP3 ready\r\n",
                               b"+OK capability list follows\r\n",
                               b"TOP\r\n", b"UIDL\r\n", b"RESP-CODES\r\n",
                               b"STLS\r\n",
                               b"IMPLEMENTATION mailssl-serve\r\n",
                               b".\r\n", b"+OK mailssl-serve signing off\r\n"])
        self.assertEqual(rest, b"")
        got, rest = self.talk("imap", 1, [(b"x\r\n", 1),
                                          (b"t1 SELECT INBOX\r\n", 1),
                                          (b"t2 LOGOUT\r\n", 2)])
        self.assertEqual(got, [
            b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] "
            b"mailssl-serve ready\r\n",
            b"* BAD missing tag or command\r\n",
            b"t1 BAD command unknown or not implemented\r\n",
            b"* BYE mailssl-serve logging out\r\n",
            b"t2 OK LOGOUT completed\r\n"])
        self.assertEqual(rest, b"")
        got, rest = self.talk("sieve", 5, [(b"LOGOUT\r\n", 1)])
        self.assertEqual(got, [b'"IMPLEMENTATION" "mailssl-serve"\r\n',
                               b'"SIEVE" "fileinto vacation"\r\n',
                               b'"STARTTLS"\r\n', b'"VERSION" "1.0"\r\n',
                               b'OK "mailssl-serve ready"\r\n',
                               b'OK "LOGOUT completed"\r\n'])
        self.assertEqual(rest, b"")

    def test_starttls_discards_what_was_sent_before_tls(self):
        """Commands pipelined behind STARTTLS are never answered
        (CVE-2011-0411 style injection)."""
        with socket.create_connection(("127.0.0.1",
                                       self.s.port["imap"])) as c:
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"a STARTTLS\r\nb CAPABILITY\r\n")
            self.assertEqual(f.readline(),
                             b"a OK begin TLS negotiation now\r\n")
            ctx = ssl.create_default_context(cafile=path("ca.pem"))
            ctx.check_hostname = False
            with ctx.wrap_socket(c, server_hostname=None) as t:
                t.sendall(b"c NOOP\r\n")
                self.assertEqual(t.recv(1000), b"c OK NOOP completed\r\n")

    def test_line_too_long_closes(self):
        with socket.create_connection(("127.0.0.1",
                                       self.s.port["smtp"])) as c:
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"X" * 5000)
            self.assertEqual(f.readline(), b"500 5.5.2 line too long\r\n")
            try:  # closed; with unread input the kernel sends a reset
                self.assertEqual(f.readline(), b"")
            except ConnectionResetError:
                pass


class Unbound(unittest.TestCase):
    def test_listener_without_binding_drops_the_handshake(self):
        d = tempfile.mkdtemp(prefix="mailssl-serve-run.")
        try:
            config = bind_all(services=[n for n in ALL if n != "pop3s"])
            with Serve(SERVE, config, d, ALL) as s:
                log = s.wait_log("warning: listener pop3s")
                self.assertIn("mailssl-serve: warning: listener pop3s "
                              "127.0.0.1 %d: no binding: " %
                              s.port["pop3s"], log)
                rc, [r, ok] = probe(url(s, "pop3s"), url(s, "imaps"))
                self.assertEqual(rc, 2)
                self.assertEqual((r["diagnosis"]["code"], r["stage"]),
                                 ("tls-closed-during-handshake", "connect"))
                self.assertNotIn("certificate", r)
                self.assertEqual(ok["diagnosis"]["code"], "ok")
                log = s.wait_log("dropped during the TLS handshake")
                self.assertIn(
                    "mailssl-serve: pop3s 127.0.0.1:%d: connection from "
                    "127.0.0.1:" % s.port["pop3s"], log)
                self.assertIn("none of the 8 bindings covers pop3s on "
                              "127.0.0.1 port %d" % s.port["pop3s"], log)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Names(InTempDir):
    def config(self):
        return ("bind * * * * cert=%s key=%s\n" %
                (path("good.pem"), path("good.key")) +
                "bind * * * localhost cert=%s key=%s\n" %
                (path("good2.pem"), path("good2.key")) +
                "listen imaps 127.0.0.1 {imaps}\n")

    def probe_name(self, s, name):
        p = subprocess.run([PROBE, "--cafile", path("ca.pem"), "--format",
                            "json", "--servername", name,
                            url(s, "imaps")], stdout=subprocess.PIPE,
                           text=True, timeout=60)
        return formats.parse_json_lines(p.stdout)[0]

    def test_sni_picks_the_named_binding(self):
        with Serve(SERVE, self.config(), self.dir, ["imaps"]) as s:
            r = self.probe_name(s, "localhost")
            self.assertEqual(r["diagnosis"]["code"], "ok")
            self.assertEqual(r["certificate"]["sha256"], fingerprint("good2"))
            r = self.probe_name(s, "mail.test")  # falls back to "*"
            self.assertEqual(r["diagnosis"]["code"], "ok")
            self.assertEqual(r["certificate"]["sha256"], fingerprint("good"))

    def test_verbose_logs_the_certificate_of_each_connection(self):
        with Serve(SERVE, self.config(), self.dir, ["imaps"],
                   args=["--verbose"]) as s:
            self.assertEqual(self.probe_name(s, "localhost")["diagnosis"]
                             ["code"], "ok")
            rc, [r] = probe(url(s, "imaps"))
            log = s.wait_log(", certificate ", 2)
            lines = [l for l in log.splitlines() if ", certificate " in l]
            prefix = "mailssl-serve: imaps 127.0.0.1:%d: 127.0.0.1:" % \
                s.port["imaps"]
            for line in lines:
                self.assertTrue(line.startswith(prefix), line)
                self.assertRegex(line, r": TLS1\.[23], server name ")
            self.assertTrue(lines[0].endswith(
                ", server name localhost, certificate CN=mail.test"), lines)
            self.assertTrue(lines[1].endswith(
                ", server name (none), certificate CN=mail.test"), lines)

    def test_strict_refuses_an_unknown_name_with_an_alert(self):
        with Serve(SERVE, self.config(), self.dir, ["imaps"],
                   args=["--strict"]) as s:
            r = self.probe_name(s, "mail.test")
            self.assertEqual(r["diagnosis"]["code"], "tls-alert")
            self.assertIn("unrecognized", r["diagnosis"]["message"].lower())
            r = self.probe_name(s, "localhost")
            self.assertEqual(r["diagnosis"]["code"], "ok")
            # no name at all: the "*" binding as before
            rc, [r] = probe(url(s, "imaps"))
            self.assertEqual(r["certificate"]["sha256"], fingerprint("good"))

    def test_ipv6_listener(self):
        try:
            t = socket.socket(socket.AF_INET6)
            t.bind(("::1", 0))
            t.close()
        except OSError:
            self.skipTest("no ::1 on this machine")
        with Serve(SERVE, "bind * ::1 * * cert=%s key=%s\n"
                   "listen imap ::1 {imap}\n" %
                   (path("good.pem"), path("good.key")), self.dir,
                   ["imap"]) as s:
            p = subprocess.run([PROBE, "--cafile", path("ca.pem"), "--format",
                                "json", "--servername", "localhost",
                                "imap://[::1]:%d" % s.port["imap"]],
                               stdout=subprocess.PIPE, text=True, timeout=60)
            [r] = formats.parse_json_lines(p.stdout)
            self.assertEqual((r["address"], r["diagnosis"]["code"]),
                             ("::1", "ok"))


    def test_ipv4_mapped_listener_is_ipv4(self):
        """The store reads ::ffff:127.0.0.1 as 127.0.0.1, and so does the
        socket: the IPv4 binding covers it."""
        try:
            t = socket.socket(socket.AF_INET6)
            t.close()
        except OSError:
            self.skipTest("no IPv6 sockets on this machine")
        with Serve(SERVE, "bind imaps 127.0.0.1 * * cert=%s key=%s\n"
                   "listen imaps ::ffff:127.0.0.1 {imaps}\n" %
                   (path("good.pem"), path("good.key")), self.dir,
                   ["imaps"]) as s:
            self.assertNotIn("no binding", s.log())
            rc, [r] = probe(url(s, "imaps"))
            self.assertEqual((rc, r["diagnosis"]["code"]), (0, "ok"))


class Reload(InTempDir):
    def test_sighup_under_a_probe_loop(self):
        """Probes keep running while the config swaps between two
        certificates and a broken config: none fails, each sees the old or
        the new certificate, the broken config is never applied."""
        services = ["imaps", "smtp", "pop3"]
        good = {"good": fingerprint("good"), "good2": fingerprint("good2")}
        config = {name: "bind * 127.0.0.1 * * cert=%s key=%s\n" %
                  (path(name + ".pem"), path(name + ".key")) +
                  "".join("listen %s 127.0.0.1 {%s}\n" % (n, n)
                          for n in services) for name in good}
        broken = config["good"] + "bind imaps 127.0.0.1 99999 * cert=x\n"
        results, stop = [], threading.Event()

        with Serve(SERVE, config["good"], self.dir, services) as s:
            urls = [url(s, n) for n in services]

            def loop():
                while not stop.is_set():
                    rc, rs = probe(*urls)
                    results.append((rc, rs))

            t = threading.Thread(target=loop)
            t.start()
            try:
                current, reloads, fails = "good", 0, 0
                for i in range(6):
                    current = "good2" if current == "good" else "good"
                    s.config(config[current])
                    s.hup()
                    reloads += 1
                    s.wait_log("reloaded", reloads)
                    time.sleep(0.05)
                    s.config(broken)
                    s.hup()
                    fails += 1
                    log = s.wait_log("reload failed", fails)
                    # the broken config was not applied: still current
                    rc, rs = probe(*urls)
                    self.assertEqual(rc, 0)
                    self.assertEqual({r["certificate"]["sha256"] for r in rs},
                                     {good[current]})
                    time.sleep(0.05)
            finally:
                stop.set()
                t.join(60)
            self.assertIn("mailssl-serve: reload failed, the previous "
                          "bindings stay in force: %s:%d:22: invalid port "
                          "\"99999\": a number from 1 to 65535 or *\n" %
                          (s.path, len(broken.splitlines())), log)
        self.assertGreater(len(results), 3)
        seen = set()
        for rc, rs in results:
            self.assertEqual(rc, 0, rs)
            for r in rs:
                self.assertEqual(r["diagnosis"]["code"], "ok", r)
                self.assertIn(r["certificate"]["sha256"], good.values())
                seen.add(r["certificate"]["sha256"])
        self.assertEqual(seen, set(good.values()))

    def test_a_credential_that_does_not_load_is_not_applied(self):
        line = "bind * 127.0.0.1 * * cert=%s key=%s\n"
        listen = "listen imaps 127.0.0.1 {imaps}\n"
        with Serve(SERVE, line % (path("good.pem"), path("good.key")) +
                   listen, self.dir, ["imaps"]) as s:
            # good2's certificate with good's key; then a missing file
            for n, bad in enumerate([(path("good2.pem"), path("good.key")),
                                     (path("none.pem"), path("good.key"))]):
                s.config(listen + line % bad)
                s.hup()
                log = s.wait_log("reload failed", n + 1)
                last = log.splitlines()[-1]
                self.assertTrue(last.startswith(
                    "mailssl-serve: reload failed, the previous bindings "
                    "stay in force: %s:2:" % s.path), last)
                rc, [r] = probe(url(s, "imaps"))
                self.assertEqual(r["certificate"]["sha256"],
                                 fingerprint("good"))

    def test_new_and_removed_listen_lines_are_logged(self):
        base = ("bind * 127.0.0.1 * * cert=%s key=%s\n" %
                (path("good.pem"), path("good.key")))
        with Serve(SERVE, base + "listen imaps 127.0.0.1 {imaps}\n",
                   self.dir, ["imaps", "pop3s"]) as s:
            s.config(base + "listen pop3s 127.0.0.1 {pop3s}\n")
            s.hup()
            log = s.wait_log("reloaded")
            s.wait_log("was removed")
            log = s.log()
            self.assertIn("listen pop3s 127.0.0.1 %d is new: restart "
                          "mailssl-serve to open it" % s.port["pop3s"], log)
            self.assertIn("listen imaps 127.0.0.1 %d was removed: it stays "
                          "open until mailssl-serve restarts" %
                          s.port["imaps"], log)
            rc, [r] = probe(url(s, "imaps"))
            self.assertEqual(r["diagnosis"]["code"], "ok")


class Lifecycle(InTempDir):
    def run_serve(self, *args):
        p = subprocess.run([SERVE] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def test_config_error_is_file_line_column_and_exit_3(self):
        conf = os.path.join(self.dir, "bad.conf")
        with open(conf, "w") as f:
            f.write("# comment\nlisten imaps 127.0.0.1 993\n"
                    "bind imaps 127.0.0.1 993 * key=x\n")
        rc, out, err = self.run_serve(conf)
        self.assertEqual((rc, out), (3, ""))
        self.assertRegex(err, r"^%s:3:[0-9]+: " % conf)
        self.assertEqual(err.count("\n"), 1)

    def test_usage(self):
        self.assertEqual(self.run_serve()[0::2],
                         (3, "mailssl-serve: no CONFIG given: mailssl-serve "
                             "CONFIG (see --help)\n"))
        self.assertEqual(self.run_serve("--bogus", "x")[0::2],
                         (3, "mailssl-serve: unknown option '--bogus' (see "
                             "--help)\n"))
        rc, out, err = self.run_serve("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("Usage: mailssl-serve "))
        rc, out, err = self.run_serve("--version")
        self.assertRegex(out, r"^mailssl-serve \(libmailssl [0-9.]+\)\n$")

    def test_no_listen_line_and_busy_port(self):
        conf = os.path.join(self.dir, "c.conf")
        with open(conf, "w") as f:
            f.write("bind * * * * cert=%s key=%s\n" %
                    (path("good.pem"), path("good.key")))
        rc, out, err = self.run_serve(conf)
        self.assertEqual((rc, err), (3, "mailssl-serve: %s has no listen "
                                        "line: nothing to serve\n" % conf))
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        try:
            with open(conf, "a") as f:
                f.write("listen imaps 127.0.0.1 %d\n" %
                        busy.getsockname()[1])
            rc, out, err = self.run_serve(conf)
            self.assertEqual(rc, 1)
            self.assertTrue(err.startswith(
                "mailssl-serve: cannot listen on imaps 127.0.0.1 %d: " %
                busy.getsockname()[1]), err)
        finally:
            busy.close()

    def test_idle_clients_are_told_and_closed(self):
        with Serve(SERVE, bind_all(), self.dir, ALL,
                   args=["--idle-timeout", "0.3"]) as s:
            with socket.create_connection(("127.0.0.1",
                                           s.port["smtp"])) as c:
                f = c.makefile("rb")
                self.assertEqual(f.readline(),
                                 b"220 mailssl-serve ESMTP ready\r\n")
                t0 = time.monotonic()
                self.assertEqual(f.readline(), b"421 4.4.2 mailssl-serve "
                                               b"idle too long, closing\r\n")
                self.assertEqual(f.readline(), b"")
                self.assertLess(time.monotonic() - t0, 5)

    def test_out_of_descriptors_pauses_accepting(self):
        """With 16 descriptors, clients beyond what fits wait in the
        backlog, without a busy loop, and are served once others leave."""
        config = ("bind imap 127.0.0.1 {imap} * cert=%s key=%s\n"
                  "listen imap 127.0.0.1 {imap}\n" %
                  (path("good.pem"), path("good.key")))
        with Serve(SERVE, config, self.dir, ["imap"], max_fds=16) as s:
            conns = [socket.create_connection(("127.0.0.1", s.port["imap"]))
                     for _ in range(20)]
            try:
                cpu = cpu_seconds(s.proc.pid)
                time.sleep(1)
                # paused, not spinning on the readable listener
                self.assertLess(cpu_seconds(s.proc.pid) - cpu, 0.1)
                greeted = []
                for c in conns:
                    c.setblocking(False)
                    try:
                        greeted.append(c.recv(100).startswith(b"* OK "))
                    except BlockingIOError:
                        greeted.append(False)
                self.assertIn(False, greeted)
                self.assertIn(True, greeted)
                log = s.wait_log("pausing new connections")
                self.assertEqual(log.count("pausing new connections"), 1)
                waiting = [c for c, g in zip(conns, greeted) if not g]
                for c, g in zip(conns, greeted):
                    if g:
                        c.close()
                for c in waiting:
                    c.setblocking(True)
                    c.settimeout(5)
                    self.assertTrue(c.recv(100).startswith(b"* OK "))
            finally:
                for c in conns:
                    c.close()

    def test_sigterm_and_sigint_exit_0(self):
        s = Serve(SERVE, bind_all(), self.dir, ALL)
        self.assertEqual(s.stop(), 0)
        self.assertTrue(s.log().endswith("mailssl-serve: stopping\n"))
        s = Serve(SERVE, bind_all(), self.dir, ALL)
        s.proc.send_signal(signal.SIGINT)
        self.assertEqual(s.proc.wait(10), 0)
        s.stop()
        self.assertTrue(s.log().endswith("mailssl-serve: stopping\n"))


if __name__ == "__main__":
    SERVE, PROBE, MKCERTS = sys.argv[1:4]
    del sys.argv[1:4]
    unittest.main(verbosity=2)
