/*
 * scriptserver.h - test helper: a scripted loopback server for the probe
 * tests, the hostile-server suite and the benchmarks. It listens on
 * 127.0.0.1 or ::1 port 0 in a thread of the test, and plays the same
 * script on every connection it accepts: send bytes, expect a line, close
 * with FIN or RST, sleep, trickle bytes slowly, run a GnuTLS server
 * handshake (then send/expect go over TLS), send a raw fatal alert, drain,
 * flood (a response of any size, streamed), mark a point of the dialogue.
 * Everything the client sent is recorded, split into what came in
 * plaintext and what came over TLS, so tests can assert that no
 * credentials and no plaintext after a STARTTLS go-ahead were sent.
 * Test code only.
 */
#ifndef MAILSSL_TEST_SCRIPTSERVER_H
#define MAILSSL_TEST_SCRIPTSERVER_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

enum ss_op {
    SS_END = 0,   /* end of script: close (FIN) */
    SS_SEND,      /* send data (len 0: strlen); "$TAG" is replaced by the
                     first word of the last line received (IMAP tags) */
    SS_EXPECT,    /* read one line; when data is set, it must start with
                     data (case-insensitive) or the mismatch is counted */
    SS_CLOSE,     /* close with FIN and stop the script */
    SS_RST,       /* close with RST (SO_LINGER 0) and stop */
    SS_SLEEP,     /* wait arg ms, recording what the client sends; ends
                     early when the client closes or on ss_stop */
    SS_TRICKLE,   /* send data one byte every arg ms (same waits) */
    SS_RECV,      /* wait until at least one byte arrives (e.g. the
                     ClientHello) and record what came, up to 5 s */
    SS_TLS,       /* server handshake; data: priority (NULL: config's);
                     a failed handshake stops the script */
    SS_ALERT,     /* send a plaintext fatal alert record, arg = its code */
    SS_DRAIN,     /* read until the client closes (at most 5 s) */
    SS_MARK,      /* remember how many plaintext bytes the client had sent
                     (e.g. right after a STARTTLS go-ahead): ss_mark() */
    SS_REPEAT,    /* send data arg times in large writes (a flood); stops
                     as soon as the client goes away */
    SS_RAW_CERT   /* after SS_RECV of the ClientHello: a hand-built TLS 1.2
                     ServerHello and Certificate message carrying the
                     configured chain, in plaintext records (GnuTLS itself
                     refuses to send a Certificate message over its 128 KB
                     handshake limit, e.g. a 1 MB certificate) */
};

struct ss_step {
    enum ss_op op;
    const char *data;
    size_t len;
    int arg;
};

struct ss_config {
    int family;                    /* 4 (127.0.0.1, default) or 6 (::1) */
    const struct ss_step *script;  /* ends with SS_END */
    gnutls_x509_crt_t *chain;      /* for SS_TLS: chain, leaf first */
    unsigned nchain;
    gnutls_x509_privkey_t key;
    const char *priority;          /* NULL: "NORMAL" */
    int threads;                   /* connections served at once (0: 1) */
    int request_client_cert;       /* SS_TLS asks for a client certificate */
};

struct scriptserver;

/* Starts listening and serving in a new thread; NULL on failure (the
 * family may be unavailable: test with ss_ipv6_available()). The config
 * and script must stay valid until ss_stop. */
struct scriptserver *ss_start(const struct ss_config *cfg);
/* The port it listens on. */
int ss_port(const struct scriptserver *s);
/* Stops the thread (interrupting waits), closes everything, frees. Call
 * ss_* accessors before this; the recorded data is freed here. */
void ss_stop(struct scriptserver *s);
/* Waits (at most 10 s) until at least n connections were accepted and
 * the thread is idle again, so recordings are complete. Returns 0, or -1
 * on timeout. */
int ss_quiesce(struct scriptserver *s, int n);
/* Recorded bytes the clients sent, in plaintext and over TLS (all
 * connections appended). NUL-terminated; *len may be NULL. */
const char *ss_plain(struct scriptserver *s, size_t *len);
const char *ss_tls(struct scriptserver *s, size_t *len);
/* Number of SS_EXPECT mismatches, connections accepted, and TLS
 * handshakes that failed. */
int ss_mismatches(struct scriptserver *s);
int ss_connections(struct scriptserver *s);
int ss_tls_failures(struct scriptserver *s);
/* Handshakes in which the client presented a certificate. */
int ss_client_certs(struct scriptserver *s);
/* Offset in ss_plain() where the first SS_MARK was played, or -1 when
 * none was. */
long ss_mark(struct scriptserver *s);
/* Bytes the scripts sent (all connections; payload, plaintext or over
 * TLS). */
size_t ss_sent(struct scriptserver *s);
/* A well-behaved SMTP server: greeting, EHLO (capabilities with
 * STARTTLS), STARTTLS, TLS, EHLO, QUIT; for the suites that need one. */
extern const struct ss_step ss_smtp_script[];

/* 1 when ::1 can be bound. */
int ss_ipv6_available(void);
/* Milliseconds of CLOCK_MONOTONIC, for the tests' deadline checks. */
int64_t ss_mono_ms(void);

/* Script building blocks, so that a case's script fits in a table row:
 * STEPS(SEND("..."), EXPECT("EHLO "), TLS(NULL)) is a script that ends
 * with SS_END (a compound literal: static at file scope). */
#define END {SS_END, NULL, 0, 0}
#define SEND(s) {SS_SEND, s, 0, 0}
#define SENDN(s) {SS_SEND, s, sizeof(s) - 1, 0} /* with NUL bytes */
#define EXPECT(s) {SS_EXPECT, s, 0, 0}
#define MARK {SS_MARK, NULL, 0, 0}
#define SLEEP(ms) {SS_SLEEP, NULL, 0, ms}
#define TRICKLE(s, ms) {SS_TRICKLE, s, 0, ms}
#define REPEAT(s, n) {SS_REPEAT, s, 0, n}
#define RECV {SS_RECV, NULL, 0, 0}
#define DRAIN {SS_DRAIN, NULL, 0, 0}
#define CLOSE {SS_CLOSE, NULL, 0, 0}
#define RST {SS_RST, NULL, 0, 0}
#define TLS(prio) {SS_TLS, prio, 0, 0}
#define ALERT(code) {SS_ALERT, NULL, 0, code}
#define RAW_CERT {SS_RAW_CERT, NULL, 0, 0}
#define STEPS(...) ((const struct ss_step[]){__VA_ARGS__, END})
/* Silence: far longer than any deadline of the tests (ends when the probe
 * closes). */
#define SILENCE SLEEP(20000)

#endif
