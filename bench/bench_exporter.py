"""Probes per second through mailssl-exporter against the same probes run
in process by mailssl_batch (mailssl-probe --concurrency 64), side by
side in one run; and against prometheus-blackbox-exporter (tcp prober
with tls: true) on the same implicit-TLS target when it is installed.

usage: bench_exporter.py MAILSSL_EXPORTER MAILSSL_SERVE MAILSSL_PROBE MKCERTS
       [--probes N] [--rounds R]

All three probe one mailssl-serve imaps listener on loopback at
concurrency 64. The HTTP client keeps 64 connections alive and sends the
next request on a connection as soon as its answer is in, from one
thread. Each round runs the three one after the other; the median of the
rounds is reported. Fails when exporter/batch is below 0.8 or a probe
does not succeed.
"""
import argparse
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "programs"))
from serveprog import Serve, free_ports  # noqa: E402

CONCURRENCY = 64
MIN_RATIO = 0.8


def http_load(port, path, n, concurrency, success):
    """n GET requests over `concurrency` keep-alive connections; returns
    (seconds, failures). A probe fails unless its body contains
    `success`."""
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    sel = selectors.DefaultSelector()
    conns = {}
    sent = done = failures = 0
    t0 = time.monotonic()
    for _ in range(min(concurrency, n)):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req)
        sent += 1
        conns[s] = b""
        sel.register(s, selectors.EVENT_READ)
    while done < n:
        for key, _ in sel.select(30):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                raise AssertionError("the server closed a connection")
            buf = conns[s] + data
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = buf[:head_end].decode("latin-1").lower()
                length = int(head.split("content-length:")[1].split()[0])
                if len(buf) < head_end + 4 + length:
                    break
                body = buf[head_end + 4:head_end + 4 + length]
                buf = buf[head_end + 4 + length:]
                done += 1
                if not head.startswith("http/1.1 200") or success not in body:
                    failures += 1
                if sent < n:
                    s.sendall(req)
                    sent += 1
            conns[s] = buf
        if time.monotonic() - t0 > 600:
            raise AssertionError("the load did not finish")
    took = time.monotonic() - t0
    for s in conns:
        sel.unregister(s)
        s.close()
    return took, failures


def cpu_of(pid):
    """User and system CPU seconds of a running process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start(cmd, ready_prefix=None, log=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE if ready_prefix else log,
                         stderr=log, text=True, start_new_session=True)
    if ready_prefix:
        line = p.stdout.readline()
        if not line.startswith(ready_prefix):
            p.kill()
            raise AssertionError("%s did not start: %r" % (cmd[0], line))
        return p, line
    return p, None


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exporter")
    ap.add_argument("serve")
    ap.add_argument("probe")
    ap.add_argument("mkcerts")
    ap.add_argument("--probes", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    blackbox = shutil.which("prometheus-blackbox-exporter")
    tmp = tempfile.mkdtemp(prefix="mailssl-bench-exporter.")
    procs = []
    serve = None
    try:
        subprocess.run([a.mkcerts, tmp], check=True)
        ca = os.path.join(tmp, "ca.pem")
        serve = Serve(a.serve,
                      "bind imaps 127.0.0.1 {imaps} * cert=%s/good.pem "
                      "key=%s/good.key\nlisten imaps 127.0.0.1 {imaps}\n" %
                      (tmp, tmp), tmp, ["imaps"])
        port = serve.port["imaps"]
        url = "imaps://127.0.0.1:%d" % port
        with open(os.path.join(tmp, "modules.conf"), "w") as f:
            f.write("module default cafile=%s timeout=10\n" % ca)
        log = open(os.path.join(tmp, "exporters.log"), "w")
        exp, line = start([a.exporter, "--web.listen-address", "127.0.0.1:0",
                           "--config.file", os.path.join(tmp, "modules.conf"),
                           "--max-probes", str(CONCURRENCY)],
                          "mailssl-exporter: listening on", log)
        procs.append(exp)
        exp_port = int(line.rsplit(":", 1)[1].strip("/\n"))
        exp_path = "/probe?" + urllib.parse.urlencode({"target": url})
        bb_port = None
        if blackbox:
            bb_port = free_ports(1)[0]
            with open(os.path.join(tmp, "blackbox.yml"), "w") as f:
                f.write("modules:\n  tls:\n    prober: tcp\n    timeout: 10s\n"
                        "    tcp:\n      tls: true\n      tls_config:\n"
                        "        ca_file: %s\n" % ca)
            bb, _ = start([blackbox, "--config.file",
                           os.path.join(tmp, "blackbox.yml"),
                           "--web.listen-address", "127.0.0.1:%d" % bb_port,
                           "--log.level", "warn"], None, log)
            procs.append(bb)
            wait_port(bb_port)
        bb_path = "/probe?" + urllib.parse.urlencode(
            {"module": "tls", "target": "127.0.0.1:%d" % port})

        # warm-up: caches, connections, page faults
        http_load(exp_port, exp_path, 200, CONCURRENCY,
                  b"mailssl_probe_success{")
        rates = {"batch": [], "exporter": [], "blackbox": []}
        cpu = {"batch": [], "exporter": [], "blackbox": []}  # ms a probe
        for r in range(a.rounds):
            c0 = children_cpu()
            t0 = time.monotonic()
            p = subprocess.run([a.probe, "--cafile", ca, "--concurrency",
                                str(CONCURRENCY), "--format", "nagios"] +
                               [url] * a.probes, capture_output=True,
                               text=True, timeout=600)
            took = time.monotonic() - t0
            if p.returncode != 0:
                raise AssertionError("mailssl-probe: %s%s" %
                                     (p.stdout, p.stderr))
            rates["batch"].append(a.probes / took)
            cpu["batch"].append((children_cpu() - c0) * 1e3 / a.probes)
            c0 = cpu_of(exp.pid)
            took, failed = http_load(exp_port, exp_path, a.probes, CONCURRENCY,
                                     b"} 1\n# HELP mailssl_probe_status")
            if failed:
                raise AssertionError("%d exporter probes failed" % failed)
            rates["exporter"].append(a.probes / took)
            cpu["exporter"].append((cpu_of(exp.pid) - c0) * 1e3 / a.probes)
            if bb_port:
                c0 = cpu_of(bb.pid)
                took, failed = http_load(bb_port, bb_path, a.probes,
                                         CONCURRENCY, b"probe_success 1")
                if failed:
                    raise AssertionError("%d blackbox probes failed" % failed)
                rates["blackbox"].append(a.probes / took)
                cpu["blackbox"].append((cpu_of(bb.pid) - c0) * 1e3 /
                                       a.probes)
            print("round %d: %s" % (r + 1, ", ".join(
                "%s %.0f/s" % (k, v[-1]) for k, v in rates.items() if v)))
        med = {k: statistics.median(v) for k, v in rates.items() if v}
        mcpu = {k: statistics.median(v) for k, v in cpu.items() if v}
        ratio = med["exporter"] / med["batch"]
        print("probes/s at concurrency %d, %d probes, median of %d rounds:" %
              (CONCURRENCY, a.probes, a.rounds))
        print("  mailssl_batch in process (mailssl-probe): %.0f" % med["batch"])
        print("  through mailssl-exporter:                 %.0f" %
              med["exporter"])
        print("  exporter / batch = %.2f (must be >= %.2f)" % (ratio,
                                                             MIN_RATIO))
        if "blackbox" in med:
            print("  prometheus-blackbox-exporter (tcp, tls):  %.0f" %
                  med["blackbox"])
            print("  exporter / blackbox = %.2f" %
                  (med["exporter"] / med["blackbox"]))
        else:
            print("  prometheus-blackbox-exporter: not installed")
        print("client CPU a probe (the prober's process only), median:")
        for k, name in (("batch", "mailssl-probe"),
                        ("exporter", "mailssl-exporter"),
                        ("blackbox", "blackbox-exporter")):
            if k in mcpu:
                print("  %-18s %.3f ms" % (name, mcpu[k]))
        print("  exporter / batch CPU = %.2f" %
              (mcpu["exporter"] / mcpu["batch"]))
        return 0 if ratio >= MIN_RATIO else 1
    finally:
        for p in procs:
            stop(p)
        if serve:
            serve.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
