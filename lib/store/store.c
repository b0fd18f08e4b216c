/*
 * store.c - the binding store: the object and its API (adds, removals,
 * listeners, lookups by socket address or text), and the lock-free swap
 * of tables (SPEC.md section 3). The tables themselves are
 * lib/store/table.c's, the address and name keys lib/core/addr.c's.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Readers never lock. A lookup announces itself in one of two counters
 * (chosen by the store's epoch), then reads the table pointer. A writer
 * publishes the new table, then waits until each counter has been seen at
 * zero once; any reader that could still hold the old table incremented a
 * counter before the publication, so the old table is free after that.
 * Flipping the epoch first lets the counters drain while new readers keep
 * coming (the scheme of sleepable RCU, reduced to what we need).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "store.h"

struct mailssl_store {
    struct mailssl__table *table; /* atomic pointer */
    unsigned epoch;               /* atomic */
    size_t readers[2];            /* atomic */
    int strict;                   /* atomic */
    pthread_mutex_t lock;         /* writers */
    char err[MAILSSL_ERRLEN];
};

/* ---- the store ---------------------------------------------------------- */

MAILSSL_EXPORT mailssl_store *mailssl_store_new(void)
{
    mailssl_store *s;
    if (!mailssl__initialized())
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->table = mailssl__table_new();
    if (!s->table) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

/* Set by the GnuTLS glue on first use; read by every store free. */
static void (*free_hook)(mailssl_store *s);

int mailssl__store_on_free(void (*hook)(mailssl_store *s))
{
    void (*none)(mailssl_store *) = NULL;

    if (__atomic_compare_exchange_n(&free_hook, &none, hook, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ||
        none == hook)
        return MAILSSL_OK;
    return MAILSSL_ERR_STATE;
}

MAILSSL_EXPORT void mailssl_store_free(mailssl_store *s)
{
    void (*hook)(mailssl_store *);

    if (!s)
        return;
    hook = __atomic_load_n(&free_hook, __ATOMIC_SEQ_CST);
    if (hook)
        hook(s);
    mailssl__table_free(s->table);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

MAILSSL_EXPORT const char *mailssl_store_error(const mailssl_store *s)
{
    return s ? s->err : "invalid argument: NULL store";
}

char *mailssl__store_errbuf(mailssl_store *s)
{
    return s->err;
}

void mailssl__store_lock(mailssl_store *s)
{
    pthread_mutex_lock(&s->lock);
}

void mailssl__store_unlock(mailssl_store *s)
{
    pthread_mutex_unlock(&s->lock);
}

const struct mailssl__table *mailssl__store_read_begin(mailssl_store *s,
                                                       int *token)
{
    unsigned e = __atomic_load_n(&s->epoch, __ATOMIC_SEQ_CST) & 1u;
    __atomic_add_fetch(&s->readers[e], 1, __ATOMIC_SEQ_CST);
    *token = (int)e;
    return __atomic_load_n(&s->table, __ATOMIC_SEQ_CST);
}

void mailssl__store_read_end(mailssl_store *s, int token)
{
    __atomic_sub_fetch(&s->readers[token], 1, __ATOMIC_RELEASE);
}

static void wait_zero(size_t *counter)
{
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) != 0)
        sched_yield();
}

/* Caller holds s->lock. */
void mailssl__store_swap(mailssl_store *s, struct mailssl__table *t)
{
    struct mailssl__table *old =
        __atomic_exchange_n(&s->table, t, __ATOMIC_SEQ_CST);
    unsigned e;
    /* every reader that may hold old incremented a counter before the
     * exchange; each counter seen at zero once afterwards proves those
     * readers gone. Before waiting on a counter, the epoch turns new
     * readers to the other one, so that the wait ends even under a
     * steady stream of lookups. */
    e = __atomic_fetch_add(&s->epoch, 1, __ATOMIC_SEQ_CST) & 1u;
    wait_zero(&s->readers[e]);
    e = __atomic_fetch_add(&s->epoch, 1, __ATOMIC_SEQ_CST) & 1u;
    wait_zero(&s->readers[e]);
    mailssl__table_free(old);
}

int mailssl__store_strict(const mailssl_store *s)
{
    return __atomic_load_n(&s->strict, __ATOMIC_RELAXED);
}

int mailssl__store_invalid(mailssl_store *s, const char *what)
{
    if (s) {
        pthread_mutex_lock(&s->lock);
        mailssl__set_error(s->err, sizeof s->err, "invalid argument: %s",
                           what);
        pthread_mutex_unlock(&s->lock);
    }
    return MAILSSL_ERR_INVALID;
}

MAILSSL_EXPORT int mailssl_store_set_strict(mailssl_store *s, int strict)
{
    if (!s || (strict != 0 && strict != 1))
        return mailssl__store_invalid(s, "strict is 0 or 1");
    __atomic_store_n(&s->strict, strict, __ATOMIC_RELAXED);
    return MAILSSL_OK;
}

MAILSSL_EXPORT size_t mailssl_store_count(const mailssl_store *s)
{
    size_t n;
    int tok;
    if (!s)
        return 0;
    n = mailssl__table_count(
        mailssl__store_read_begin((mailssl_store *)s, &tok));
    mailssl__store_read_end((mailssl_store *)s, tok);
    return n;
}

MAILSSL_EXPORT size_t mailssl_store_listener_count(const mailssl_store *s)
{
    size_t n;
    int tok;
    if (!s)
        return 0;
    n = mailssl__table_listener_count(
        mailssl__store_read_begin((mailssl_store *)s, &tok));
    mailssl__store_read_end((mailssl_store *)s, tok);
    return n;
}

static int check_port(int port, int any_ok)
{
    return (port >= 1 && port <= 65535) || (any_ok && port == MAILSSL_PORT_ANY);
}

static int check_service(int service, int any_ok)
{
    return mailssl_service_name(service) != NULL &&
           (any_ok || service != MAILSSL_SERVICE_ANY);
}

/* Parses the key fields of the API calls; the message goes to s->err. */
static int api_key(mailssl_store *s, int service, const char *address,
                   int port, const char *name, struct mailssl__addr *a,
                   int *kind, char **norm)
{
    int rc;
    *norm = NULL;
    if (!check_service(service, 1)) {
        mailssl__set_error(s->err, sizeof s->err, "unknown service %d",
                           service);
        return MAILSSL_ERR_INVALID;
    }
    if (!check_port(port, 1)) {
        mailssl__set_error(s->err, sizeof s->err,
                           "invalid port %d: 1-65535 or MAILSSL_PORT_ANY",
                           port);
        return MAILSSL_ERR_INVALID;
    }
    if ((rc = mailssl__parse_address(address, 0, a, s->err, sizeof s->err)) <
        0)
        return rc;
    return mailssl__parse_name(name, kind, norm, s->err, sizeof s->err);
}

/* "imaps 192.0.2.10 993 mail.example.com": a key as a config line has it. */
static void key_text(int service, const struct mailssl__addr *a, int port,
                     int kind, const char *name, char *buf, size_t n)
{
    char at[64], pt[8];
    mailssl__addr_text(a, at, sizeof at);
    if (port == MAILSSL_PORT_ANY)
        snprintf(pt, sizeof pt, "*");
    else
        snprintf(pt, sizeof pt, "%d", port);
    snprintf(buf, n, "%s %s %s %s%s", mailssl_service_name(service), at, pt,
             kind == MAILSSL__NAME_WILD ? "*." : "",
             kind == MAILSSL__NAME_ANY ? "*" : name);
}

void mailssl__binding_text(const struct mailssl__binding *b, char *buf,
                           size_t n)
{
    key_text(b->service, &b->addr, b->port, b->name_kind, b->name, buf, n);
}

void mailssl__listener_text(const struct mailssl__listener *l, char *buf,
                            size_t n)
{
    char at[64];
    mailssl__addr_text(&l->addr, at, sizeof at);
    snprintf(buf, n, "%s %s %d", mailssl_service_name(l->service), at,
             l->port);
}

MAILSSL_EXPORT int mailssl_store_add(mailssl_store *s, int service,
                                     const char *address, int port,
                                     const char *name,
                                     mailssl_credential *cred)
{
    struct mailssl__addr a;
    const struct mailssl__binding *dup;
    char *norm = NULL;
    int kind, rc;

    if (!s)
        return MAILSSL_ERR_INVALID;
    pthread_mutex_lock(&s->lock);
    rc = api_key(s, service, address, port, name, &a, &kind, &norm);
    if (rc == 0 && !cred) {
        mailssl__set_error(s->err, sizeof s->err,
                           "invalid argument: NULL credential");
        rc = MAILSSL_ERR_INVALID;
    } else if (rc == 0 && !mailssl_credential_usable(cred)) {
        mailssl__set_error(s->err, sizeof s->err,
                           "the credential cannot be bound: %s",
                           !cred->loaded ? "it is not loaded"
                                         : "its private key does not match "
                                           "its certificate");
        rc = MAILSSL_ERR_CREDENTIAL;
    }
    if (rc == 0) {
        rc = mailssl__table_add(s->table, service, &a, port, kind, norm, cred,
                                NULL, &dup);
        if (rc == MAILSSL_ERR_DUPLICATE) {
            char kt[400];
            mailssl__binding_text(dup, kt, sizeof kt);
            mailssl__set_error(s->err, sizeof s->err,
                               "duplicate binding: \"%s\" is already bound%s%s",
                               kt, dup->origin ? " at " : "",
                               dup->origin ? dup->origin : "");
        } else if (rc < 0) {
            mailssl__set_error(s->err, sizeof s->err, "out of memory");
        }
    }
    if (rc == 0)
        s->err[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    free(norm);
    return rc;
}

MAILSSL_EXPORT int mailssl_store_remove(mailssl_store *s, int service,
                                        const char *address, int port,
                                        const char *name)
{
    struct mailssl__addr a;
    char *norm = NULL;
    int kind, rc;

    if (!s)
        return MAILSSL_ERR_INVALID;
    pthread_mutex_lock(&s->lock);
    rc = api_key(s, service, address, port, name, &a, &kind, &norm);
    if (rc == 0) {
        rc = mailssl__table_remove(s->table, service, &a, port, kind, norm);
        if (rc < 0) {
            char kt[400];
            key_text(service, &a, port, kind, norm, kt, sizeof kt);
            mailssl__set_error(s->err, sizeof s->err,
                               "no binding \"%s\" to remove", kt);
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(norm);
    return rc;
}

MAILSSL_EXPORT int mailssl_store_add_listener(mailssl_store *s, int service,
                                              const char *address, int port)
{
    struct mailssl__addr a;
    int rc;

    if (!s)
        return MAILSSL_ERR_INVALID;
    pthread_mutex_lock(&s->lock);
    if (!check_service(service, 0)) {
        mailssl__set_error(s->err, sizeof s->err,
                           "a listener needs one service, not %d", service);
        rc = MAILSSL_ERR_INVALID;
    } else if (!check_port(port, 0)) {
        mailssl__set_error(s->err, sizeof s->err,
                           "a listener needs a port from 1 to 65535, not %d",
                           port);
        rc = MAILSSL_ERR_INVALID;
    } else {
        rc = mailssl__parse_address(address, 1, &a, s->err, sizeof s->err);
    }
    if (rc == 0) {
        rc = mailssl__table_add_listener(s->table, service, &a, port, NULL,
                                         NULL);
        if (rc == MAILSSL_ERR_DUPLICATE)
            mailssl__set_error(s->err, sizeof s->err,
                               "duplicate listener: %s %s %d",
                               mailssl_service_name(service), address, port);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

MAILSSL_EXPORT int mailssl_store_replace(mailssl_store *s,
                                         const mailssl_store *from)
{
    struct mailssl__table *t;
    int tok;

    if (!s || !from || s == from)
        return mailssl__store_invalid(
            s, from ? "a store cannot be replaced with itself"
                    : "no store to copy from (NULL)");
    t = mailssl__table_copy(
        mailssl__store_read_begin((mailssl_store *)from, &tok));
    mailssl__store_read_end((mailssl_store *)from, tok);
    if (!t) {
        pthread_mutex_lock(&s->lock);
        mailssl__set_error(s->err, sizeof s->err, "out of memory");
        pthread_mutex_unlock(&s->lock);
        return MAILSSL_ERR_NOMEM;
    }
    pthread_mutex_lock(&s->lock);
    mailssl__store_swap(s, t);
    s->err[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    return MAILSSL_OK;
}

/* ---- lookups ------------------------------------------------------------- */

static void miss_text(char *why, size_t whylen, int miss, int service,
                      const struct mailssl__addr *a, int port,
                      const char *sni, size_t nbindings)
{
    char at[64];
    if (!why || !whylen)
        return;
    mailssl__addr_text(a, at, sizeof at);
    if (miss == MAILSSL__MISS_UNKNOWN_NAME)
        snprintf(why, whylen,
                 "no certificate: server name \"%s\" is not bound for %s on "
                 "%s port %d (strict mode refuses unknown names)",
                 sni, mailssl_service_name(service), at, port);
    else
        snprintf(why, whylen,
                 "no certificate: none of the %zu bindings covers %s on %s "
                 "port %d%s%s%s",
                 nbindings, mailssl_service_name(service), at, port,
                 sni ? " for server name \"" : " for a client sending no "
                                               "server name",
                 sni ? sni : "", sni ? "\"" : "");
}

static int lookup_addr(mailssl_store *s, const struct mailssl__addr *a,
                       int port, int service, const char *sni,
                       mailssl_credential **out, char *why, size_t whylen,
                       int *missp)
{
    const struct mailssl__table *t;
    const struct mailssl__binding *b;
    mailssl_credential *cred = NULL;
    char nbuf[256];
    const char *name;
    int tok, miss, dummy;

    if (!missp)
        missp = &dummy;
    *missp = MAILSSL__MISS_NONE;
    *out = NULL;
    if (!check_service(service, 0) || !check_port(port, 0)) {
        if (why && whylen)
            snprintf(why, whylen, "invalid service or port");
        return MAILSSL_ERR_INVALID;
    }
    name = mailssl__sni_normalize(sni, nbuf, sizeof nbuf);
    t = mailssl__store_read_begin(s, &tok);
    b = mailssl__table_lookup(t, service, a, port, name,
                              mailssl__store_strict(s), &miss, &cred);
    if (b)
        *out = mailssl__credential_ref(cred);
    else
        miss_text(why, whylen, miss, service, a, port, name,
                  mailssl__table_count(t));
    mailssl__store_read_end(s, tok);
    *missp = miss;
    if (!b)
        return MAILSSL_ERR_NOT_FOUND;
    if (why && whylen)
        why[0] = '\0';
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_store_lookup(mailssl_store *s,
                                        const struct sockaddr *local,
                                        int service, const char *sni,
                                        mailssl_credential **out, char *why,
                                        size_t whylen)
{
    return mailssl__store_lookup_sa(s, local, service, sni, out, why, whylen,
                                    NULL);
}

int mailssl__store_lookup_sa(mailssl_store *s, const struct sockaddr *local,
                             int service, const char *sni,
                             mailssl_credential **out, char *why,
                             size_t whylen, int *miss)
{
    struct mailssl__addr a;
    int port;

    if (!s || !local || !out) {
        if (out)
            *out = NULL;
        if (why && whylen)
            snprintf(why, whylen, "invalid argument: NULL %s",
                     !s ? "store" : !local ? "local address" : "out");
        return MAILSSL_ERR_INVALID;
    }
    if (mailssl__sockaddr_addr(local, &a, &port) < 0) {
        *out = NULL;
        if (why && whylen)
            snprintf(why, whylen, "the local address is not IPv4 or IPv6");
        return MAILSSL_ERR_INVALID;
    }
    return lookup_addr(s, &a, port, service, sni, out, why, whylen, miss);
}

MAILSSL_EXPORT int mailssl_store_lookup_text(mailssl_store *s,
                                             const char *address, int port,
                                             int service, const char *sni,
                                             mailssl_credential **out,
                                             char *why, size_t whylen)
{
    struct mailssl__addr a;

    if (out)
        *out = NULL;
    if (!s || !address || !out) {
        if (why && whylen)
            snprintf(why, whylen, "invalid argument: NULL %s",
                     !s ? "store" : !address ? "local address" : "out");
        return MAILSSL_ERR_INVALID;
    }
    if (mailssl__parse_ip(address, &a) < 0) {
        if (why && whylen)
            snprintf(why, whylen,
                     "invalid local address \"%s\": an exact IPv4 or IPv6 "
                     "address is needed",
                     address);
        return MAILSSL_ERR_INVALID;
    }
    a.prefix = mailssl__addr_bits(a.family);
    return lookup_addr(s, &a, port, service, sni, out, why, whylen, NULL);
}

/* ---- listener accessor (1.1, live-audit issue) ------------------------- */

MAILSSL_EXPORT int mailssl_store_listener_get(const mailssl_store *s,
                                              size_t index, int *service,
                                              char *address,
                                              size_t address_len, int *port)
{
    const struct mailssl__listener *l;
    char text[INET6_ADDRSTRLEN];
    int tok, rc = MAILSSL_OK;

    if (service)
        *service = MAILSSL_ERR_INVALID;
    if (port)
        *port = 0;
    if (address && address_len)
        address[0] = '\0';
    if (!s || (!address && address_len))
        return MAILSSL_ERR_INVALID;
    /* one table for the whole copy: a reload meanwhile cannot mix two */
    l = mailssl__table_listener(
        mailssl__store_read_begin((mailssl_store *)s, &tok), index);
    if (!l) {
        rc = MAILSSL_ERR_NOT_FOUND;
    } else {
        mailssl__addr_text(&l->addr, text, sizeof text);
        if (address && strlen(text) >= address_len) {
            rc = MAILSSL_ERR_TOO_LONG;
        } else {
            if (address)
                memcpy(address, text, strlen(text) + 1);
            if (service)
                *service = l->service;
            if (port)
                *port = l->port;
        }
    }
    mailssl__store_read_end((mailssl_store *)s, tok);
    return rc;
}
