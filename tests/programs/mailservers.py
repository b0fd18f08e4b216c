"""Loopback mail servers for the program tests (127.0.0.1, port 0).

Each Server runs its accept loop in a thread and every connection in its
own thread; stop() (or leaving the with block) closes the listener and
every connection and joins the threads. Behaviours:

  imaps     TLS at once, then an IMAP dialogue
  imap      IMAP greeting, CAPABILITY with STARTTLS, STARTTLS, then the
            dialogue over TLS (other capabilities after TLS)
  close     reads the ClientHello, then closes without an alert (the
            Exchange 13002 case)
  silent    accepts and says nothing until stopped

Test code only.
"""
import socket
import ssl
import threading

CAPS_BEFORE = "IMAP4rev1 STARTTLS LOGINDISABLED"
CAPS_AFTER = "IMAP4rev1 AUTH=PLAIN ID"


def free_port():
    """A loopback port that nothing listens on (connect-refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, behaviour, cert=None, key=None):
        self.behaviour = behaviour
        self.ctx = None
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.conns = []
        self.threads = []
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        with self.lock:
            conns, self.conns = self.conns, []
            threads = list(self.threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in threads:
            t.join(5)

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
                self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            getattr(self, "_" + self.behaviour)(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the probe hung up, or we are stopping
        finally:
            try:
                conn.close()
            except OSError:
                pass

    # ---- behaviours ----
    def _silent(self, conn):
        self.stopping.wait()

    def _close(self, conn):
        conn.recv(1)  # the first byte of the ClientHello
        conn.close()

    def _imaps(self, conn):
        tls = self.ctx.wrap_socket(conn, server_side=True)
        with self.lock:
            self.conns.append(tls)
        self._imap_dialogue(tls, CAPS_AFTER, None, True)

    def _imap(self, conn):
        tls = self._imap_dialogue(conn, CAPS_BEFORE, self.ctx, True)
        if tls is not None:
            with self.lock:
                self.conns.append(tls)
            # no second greeting after STARTTLS (RFC 9051 section 6.2.1)
            self._imap_dialogue(tls, CAPS_AFTER, None, False)

    def _imap_dialogue(self, conn, caps, starttls_ctx, greet):
        """Speaks IMAP until LOGOUT, EOF or STARTTLS; for STARTTLS returns
        the TLS socket."""
        f = conn.makefile("rb")
        if greet:
            conn.sendall(b"* OK mail.test IMAP4rev1 ready\r\n")
        while True:
            line = f.readline(1000)
            if not line:
                return None
            parts = line.decode("ascii", "replace").strip().split(" ", 2)
            tag = parts[0]
            cmd = parts[1].upper() if len(parts) > 1 else ""
            if cmd == "CAPABILITY":
                conn.sendall(("* CAPABILITY %s\r\n%s OK done\r\n" %
                              (caps, tag)).encode())
            elif cmd == "STARTTLS" and starttls_ctx is not None:
                conn.sendall(("%s OK begin TLS now\r\n" % tag).encode())
                f.close()
                return starttls_ctx.wrap_socket(conn, server_side=True)
            elif cmd == "LOGOUT":
                conn.sendall(("* BYE logging out\r\n%s OK done\r\n" %
                              tag).encode())
                return None
            elif cmd == "NOOP":
                conn.sendall(("%s OK done\r\n" % tag).encode())
            else:
                conn.sendall(("%s BAD unknown command\r\n" % tag).encode())
