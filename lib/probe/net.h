/*
 * net.h - the lowest files of the probe side, which know no probe:
 * lib/probe/url.c (probe URLs), lib/probe/net.c (resolution, sockets,
 * clock) and lib/probe/dns.c (libunbound). Included by probe_internal.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_NET_H
#define MAILSSL_NET_H

#include <netdb.h>
#include <stdint.h>

#include "internal.h"

/* ---- URL (lib/probe/url.c) ---------------------------------------------- */
#define MAILSSL_HOST_MAX 256

/* Parses "NAME://HOST[:PORT][/]" (SPEC.md section 2). host receives the
 * host without brackets (IPv6 literals are checked with inet_pton), port
 * the explicit port or the service's default. Returns 0 or
 * MAILSSL_ERR_SYNTAX with a message in err (errlen bytes). */
int mailssl__url_parse(const char *url, int *service, char *host,
                       size_t hostlen, int *port, char *err, size_t errlen);
/* Parses "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" (connect-to);
 * *port is left alone when absent. Same returns as mailssl__url_parse. */
int mailssl__hostport_parse(const char *text, char *host, size_t hostlen,
                            int *port, char *err, size_t errlen);
/* Appends "NAME://HOST:PORT" with IPv6 literals in brackets. */
void mailssl__url_format(struct mailssl_buf *b, int service, const char *host,
                         int port);

/* ---- network helpers (lib/probe/net.c) ---------------------------------- */
/* Monotonic clock in microseconds. */
int64_t mailssl__now_us(void);
/* getaddrinfo for a TCP connection to host:port; family 0, 4 or 6.
 * Returns 0 or the getaddrinfo error (EAI_*), *res to freeaddrinfo. */
int mailssl__resolve(const char *host, int port, int family,
                     struct addrinfo **res);
/* Appends a TCP address (family AF_INET with 4 bytes of raw, AF_INET6
 * with 16) and port to list, a list of this file's own making (never
 * one of getaddrinfo's): free it with mailssl__addrinfo_free. Returns 0
 * or MAILSSL_ERR_NOMEM. */
int mailssl__addrinfo_add(struct addrinfo **list, int family,
                          const void *raw, int port);
void mailssl__addrinfo_free(struct addrinfo *list);
/* A non-blocking TCP socket connecting to ai: returns the descriptor
 * (connect in progress or done) or -errno. */
int mailssl__connect_start(const struct addrinfo *ai);
/* After POLLOUT: 0 when connected, else the errno of the failure. */
int mailssl__connect_result(int fd);
/* Numeric text of an address ("192.0.2.1", "::1"). */
void mailssl__sockaddr_text(const struct sockaddr *sa, char *dst, size_t n);
/* 1 when a byte is waiting on fd right now (MSG_PEEK, no wait). */
int mailssl__bytes_waiting(int fd);

/* ---- DNS (lib/probe/dns.c) ---------------------------------------------- */
#define MAILSSL_DNS_DEFAULT_ANCHOR "/usr/share/dns/root.key"
struct mailssl__dns;
struct ub_result;
typedef void (*mailssl__dns_cb)(void *arg, int err, struct ub_result *res);
/* A libunbound context (own cache, one worker thread) validating with the
 * trust anchor file (NULL: MAILSSL_DNS_DEFAULT_ANCHOR) and forwarding to
 * resolver ("ADDR[@PORT]"; NULL: the servers of /etc/resolv.conf).
 * Returns 0 or a negative MAILSSL_ERR_* with err set. */
int mailssl__dns_new(const char *anchor, const char *resolver,
                     struct mailssl__dns **out, char *err, size_t errlen);
/* 1 when d was made with these settings (so it can be shared). */
int mailssl__dns_matches(const struct mailssl__dns *d, const char *anchor,
                         const char *resolver);
struct mailssl__dns *mailssl__dns_ref(struct mailssl__dns *d);
void mailssl__dns_unref(struct mailssl__dns *d);
/* The descriptor that becomes readable when answers are waiting. */
int mailssl__dns_fd(const struct mailssl__dns *d);
/* Runs the callbacks of the answers that arrived; never waits. */
void mailssl__dns_process(struct mailssl__dns *d);
/* Starts an asynchronous query (class IN); cb gets arg, a libunbound
 * error code and the result (to free with mailssl__dns_result_free). */
int mailssl__dns_query(struct mailssl__dns *d, const char *name, int rrtype,
                       mailssl__dns_cb cb, void *arg, int *id, char *err,
                       size_t errlen);
void mailssl__dns_cancel(struct mailssl__dns *d, int id);
void mailssl__dns_result_free(void *result);

#endif
