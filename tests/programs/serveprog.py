"""Runs mailssl-serve for the program tests. Test code only.

    with Serve(SERVE, config_text, directory) as s:
        s.port["imaps"] ...; s.hup(); s.wait_log("reloaded")

Ports are loopback ports picked free at run time (bound together, then
released) and written into the config as {imaps} style placeholders;
stderr goes to a file that wait_log() reads; stop() (or leaving the with
block) sends SIGTERM and waits for the exit status.
"""
import os
import resource
import signal
import socket
import subprocess
import time


def free_ports(n):
    """n distinct loopback ports above 10000 that nothing listens on."""
    while True:
        socks = []
        try:
            for _ in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            ports = [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()
        if min(ports) > 10000:
            return ports


def write_atomic(path, text):
    """Replaces path whole, so a reload never reads half a file."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


class Serve:
    def __init__(self, exe, config, directory, services=None, args=(),
                 ports=None, max_fds=None):
        """config: the config text with {SERVICE} placeholders for the
        ports of services (a list of names); it is written to
        directory/serve.conf."""
        self.dir = directory
        self.path = os.path.join(directory, "serve.conf")
        names = services or []
        self.port = ports or dict(zip(names, free_ports(len(names))))
        write_atomic(self.path, config.format(**self.port))
        self.log_path = os.path.join(directory, "serve.log")
        self.log_file = open(self.log_path, "w")
        def limit():
            if max_fds:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))
        self.proc = subprocess.Popen([exe] + list(args) + [self.path],
                                     stdout=subprocess.PIPE,
                                     stderr=self.log_file, text=True,
                                     preexec_fn=limit)
        self.ready = self.proc.stdout.readline()
        if not self.ready.startswith("mailssl-serve: listening on "):
            self.stop()
            raise AssertionError("mailssl-serve did not start: %r %s" %
                                 (self.ready, self.log()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def config(self, text):
        write_atomic(self.path, text.format(**self.port))

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, needle, count=1, timeout=10):
        """Waits until needle appears count times in the log; returns the
        log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if text.count(needle) >= count:
                return text
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("%r not seen %d times in the log:\n%s" %
                                     (needle, count, text))
            time.sleep(0.01)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log_file.close()
        return self.proc.returncode
