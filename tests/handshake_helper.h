/*
 * handshake_helper.h - test and benchmark helper: GnuTLS handshakes over
 * loopback between a client and a server that picks its certificate
 * through the binding store (mailssl_gnutls_attach). Shared by
 * tests/test_reload_load.c and bench/bench_reload.c, so that the test and
 * the benchmark measure the same handshake. Test code only.
 */
#ifndef MAILSSL_TEST_HANDSHAKE_HELPER_H
#define MAILSSL_TEST_HANDSHAKE_HELPER_H

#include <gnutls/gnutls.h>

#include "mailssl.h"

/* Listens on 127.0.0.1, a port the system picks (*port), with backlog;
 * returns the socket, or -1. */
int hs_listen(int backlog, int *port);

/* TCP_NODELAY: TLS flights are several small writes; without it,
 * delayed ACKs stall each handshake for tens of milliseconds on
 * loopback. */
void hs_nodelay(int fd);

/* gnutls_handshake until it is done or fails fatally; its result. */
int hs_handshake(gnutls_session_t s);

/* Server side of one accepted connection fd: a session with the default
 * priority, attached to store for service, and its handshake. Returns 0
 * with *s ready (call hs_server_end), or -1 (everything is closed). */
int hs_server_start(int fd, mailssl_store *store, int service,
                    gnutls_session_t *s);
/* Sends close_notify, frees the session and closes fd. */
void hs_server_end(gnutls_session_t s, int fd);

/* One client handshake with 127.0.0.1:port (TCP_NODELAY, the default
 * priority, certificate credentials cc, SNI sni), then waits for the
 * server's close_notify, so that the server's side is done too. seen,
 * when not NULL, is given the session before it is freed. Returns 0, or
 * -1 when anything failed. */
int hs_client(int port, gnutls_certificate_credentials_t cc, const char *sni,
              void (*seen)(gnutls_session_t, void *), void *arg);

#endif
