/*
 * validator.c - the validator object of certificate validation: its
 * settings (trust store, time, warning windows, reference identifier, TLSA
 * records, service) and the system trust store shared by the validators
 * that use it. The checks of a run are lib/validate/validate.c's.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <arpa/inet.h>

#include "validator.h"

/* ---- validator settings --------------------------------------------- */

MAILSSL_EXPORT mailssl_validator *mailssl_validator_new(void)
{
    mailssl_validator *v;

    if (!mailssl__initialized())
        return NULL;
    v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v);
        return NULL;
    }
    v->warn_days = 30;
    v->crit_days = 7;
    return v;
}

/* The system trust store, loaded once and shared by the validators that
 * use it: loading it costs about 25 ms, validating a chain about 1 ms, and
 * a monitoring agent makes a validator per probe. It is freed with the
 * last validator holding it, so a later one sees an updated store. */
static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static gnutls_x509_trust_list_t system_trust;
static unsigned system_refs;

gnutls_x509_trust_list_t mailssl__system_trust_acquire(int *rc_out)
{
    gnutls_x509_trust_list_t tl = NULL;
    int rc = 0;

    pthread_mutex_lock(&system_lock);
    if (!system_trust) {
        rc = gnutls_x509_trust_list_init(&tl, 0);
        if (rc >= 0)
            rc = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
        if (rc < 0) {
            if (tl)
                gnutls_x509_trust_list_deinit(tl, 1);
        } else {
            system_trust = tl;
        }
    }
    if (system_trust)
        system_refs++;
    tl = system_trust;
    pthread_mutex_unlock(&system_lock);
    *rc_out = rc;
    return tl;
}

static void system_release(void)
{
    pthread_mutex_lock(&system_lock);
    if (system_refs > 0 && --system_refs == 0) {
        gnutls_x509_trust_list_deinit(system_trust, 1);
        system_trust = NULL;
    }
    pthread_mutex_unlock(&system_lock);
}

static void drop_trust(mailssl_validator *v)
{
    if (v->shares_system)
        system_release();
    else if (v->trust)
        gnutls_x509_trust_list_deinit(v->trust, 1);
    v->trust = NULL;
    v->trust_loaded = 0;
    v->shares_system = 0;
}

MAILSSL_EXPORT void mailssl_validator_free(mailssl_validator *v)
{
    if (!v)
        return;
    drop_trust(v);
    mailssl__dane_clear(&v->dane);
    free(v->cafile);
    free(v->name);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

MAILSSL_EXPORT const char *mailssl_validator_error(const mailssl_validator *v)
{
    return v ? v->err : "invalid argument: NULL validator";
}

MAILSSL_EXPORT int mailssl_validator_set_cafile(mailssl_validator *v,
                                                const char *path)
{
    gnutls_x509_trust_list_t tl;
    struct stat st;
    char *copy;
    int rc;

    if (!v)
        return MAILSSL_ERR_INVALID;
    if (!path) {
        drop_trust(v);
        free(v->cafile);
        v->cafile = NULL;
        v->err[0] = '\0';
        return MAILSSL_OK;
    }
    if (!*path) {
        mailssl__set_error(v->err, sizeof v->err, "empty CA file name");
        return MAILSSL_ERR_INVALID;
    }
    if (stat(path, &st) != 0) {
        mailssl__set_error(v->err, sizeof v->err,
                           "%s: the CA file or directory cannot be read",
                           path);
        return MAILSSL_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        /* a FIFO would block GnuTLS's reader, a device never end */
        mailssl__set_error(v->err, sizeof v->err,
                           "%s: not a regular file or a directory", path);
        return MAILSSL_ERR_IO;
    }
    if (gnutls_x509_trust_list_init(&tl, 0) < 0)
        return MAILSSL_ERR_NOMEM;
    if (S_ISDIR(st.st_mode))
        rc = gnutls_x509_trust_list_add_trust_dir(tl, path, NULL,
                                                  GNUTLS_X509_FMT_PEM, 0, 0);
    else
        rc = gnutls_x509_trust_list_add_trust_file(tl, path, NULL,
                                                   GNUTLS_X509_FMT_PEM, 0, 0);
    if (rc <= 0) {
        gnutls_x509_trust_list_deinit(tl, 1);
        mailssl__set_error(v->err, sizeof v->err,
                           "%s: no CA certificate could be loaded%s%s", path,
                           rc < 0 ? ": " : "",
                           rc < 0 ? gnutls_strerror(rc) : "");
        return MAILSSL_ERR_CREDENTIAL;
    }
    copy = mailssl__strdup(path);
    if (!copy) {
        gnutls_x509_trust_list_deinit(tl, 1);
        return MAILSSL_ERR_NOMEM;
    }
    drop_trust(v);
    free(v->cafile);
    v->cafile = copy;
    v->trust = tl;
    v->trust_loaded = 1;
    v->err[0] = '\0';
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_validator_set_time(mailssl_validator *v,
                                              int64_t epoch_seconds)
{
    if (!v)
        return MAILSSL_ERR_INVALID;
    if (epoch_seconds < 0) {
        mailssl__set_error(v->err, sizeof v->err,
                           "the validation time must be >= 0 (0: now), not "
                           "%lld",
                           (long long)epoch_seconds);
        return MAILSSL_ERR_INVALID;
    }
    v->time = epoch_seconds;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_validator_set_days(mailssl_validator *v,
                                              int warn_days, int crit_days)
{
    if (!v)
        return MAILSSL_ERR_INVALID;
    if (crit_days < 0 || warn_days < crit_days || warn_days > 36500) {
        mailssl__set_error(v->err, sizeof v->err,
                           "expiry windows must satisfy 0 <= crit (%d) <= "
                           "warn (%d) <= 36500 days",
                           crit_days, warn_days);
        return MAILSSL_ERR_INVALID;
    }
    v->warn_days = warn_days;
    v->crit_days = crit_days;
    return MAILSSL_OK;
}

/* Host-name syntax (LDH labels, underscores tolerated), lower-cased in
 * place; returns 0 or -1. */
static int normalize_dns(char *s)
{
    size_t label = 0, total = strlen(s);
    char *p;

    if (total == 0 || total > 253)
        return -1;
    for (p = s; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        if (*p == '.') {
            if (label == 0)
                return -1;
            label = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return -1;
        if (++label > 63)
            return -1;
    }
    return label == 0 ? -1 : 0;
}

MAILSSL_EXPORT int mailssl_validator_set_name(mailssl_validator *v,
                                              const char *name)
{
    char buf[300];
    size_t n;
    int non_ascii = 0;
    const char *p;
    char *copy;

    if (!v)
        return MAILSSL_ERR_INVALID;
    if (!name) {
        free(v->name);
        v->name = NULL;
        v->iplen = 0;
        return MAILSSL_OK;
    }
    n = strlen(name);
    if (n == 0 || n > 254) { /* 253 and a trailing dot */
        mailssl__set_error(v->err, sizeof v->err,
                           "the name to check must have 1 to 253 characters");
        return n ? MAILSSL_ERR_TOO_LONG : MAILSSL_ERR_INVALID;
    }
    memcpy(buf, name, n + 1);
    /* "[2001:db8::1]" as in URLs */
    if (buf[0] == '[' && buf[n - 1] == ']') {
        buf[n - 1] = '\0';
        memmove(buf, buf + 1, n - 1);
        n -= 2;
    }
    if (inet_pton(AF_INET, buf, v->ip) == 1 ||
        inet_pton(AF_INET6, buf, v->ip) == 1) {
        unsigned char tmp[16];
        v->iplen = inet_pton(AF_INET, buf, tmp) == 1 ? 4 : 16;
        copy = mailssl__strdup(buf);
        if (!copy)
            return MAILSSL_ERR_NOMEM;
        free(v->name);
        v->name = copy;
        return MAILSSL_OK;
    }
    if (n > 1 && buf[n - 1] == '.')
        buf[--n] = '\0';
    for (p = buf; *p; p++)
        if ((unsigned char)*p >= 0x80)
            non_ascii = 1;
    if (non_ascii) {
        /* U-labels become A-labels (IDNA2008), the form certificates
         * carry (RFC 9525 section 6.2). */
        gnutls_datum_t out = {NULL, 0};
        if (gnutls_idna_map(buf, (unsigned)n, &out, 0) < 0 ||
            out.size >= sizeof buf) {
            gnutls_free(out.data);
            mailssl__set_error(v->err, sizeof v->err,
                               "%s: not a valid internationalized domain "
                               "name",
                               name);
            return MAILSSL_ERR_SYNTAX;
        }
        memcpy(buf, out.data, out.size);
        buf[out.size] = '\0';
        gnutls_free(out.data);
    }
    if (normalize_dns(buf) < 0) {
        mailssl__set_error(v->err, sizeof v->err,
                           "%s: not a host name or IP address", name);
        return MAILSSL_ERR_SYNTAX;
    }
    copy = mailssl__strdup(buf);
    if (!copy)
        return MAILSSL_ERR_NOMEM;
    free(v->name);
    v->name = copy;
    v->iplen = 0;
    return MAILSSL_OK;
}

MAILSSL_EXPORT int mailssl_validator_add_tlsa(mailssl_validator *v, int usage,
                                              int selector, int matching_type,
                                              const unsigned char *data,
                                              size_t data_len)
{
    int rc;

    if (!v)
        return MAILSSL_ERR_INVALID;
    if (usage < 0 || usage > 255 || selector < 0 || selector > 255 ||
        matching_type < 0 || matching_type > 255 || !data || data_len == 0) {
        mailssl__set_error(v->err, sizeof v->err,
                           "invalid TLSA record: usage, selector and "
                           "matching type are 0-255 and data is not empty");
        return MAILSSL_ERR_INVALID;
    }
    if (data_len > 65535 - 3) {
        mailssl__set_error(v->err, sizeof v->err,
                           "TLSA data of %zu bytes: at most 65532", data_len);
        return MAILSSL_ERR_TOO_LONG;
    }
    rc = mailssl__dane_add(&v->dane, usage, selector, matching_type, data,
                           data_len, v->err, sizeof v->err);
    return rc;
}

MAILSSL_EXPORT int mailssl_validator_set_service(mailssl_validator *v,
                                                 int service)
{
    if (!v)
        return MAILSSL_ERR_INVALID;
    if (!mailssl_service_name(service)) {
        mailssl__set_error(v->err, sizeof v->err,
                           "unknown service %d: a MAILSSL_SERVICE_*", service);
        return MAILSSL_ERR_INVALID;
    }
    v->service = service;
    return MAILSSL_OK;
}

void mailssl__validator_drop_tlsa(mailssl_validator *v)
{
    mailssl__dane_clear(&v->dane);
    v->service = MAILSSL_SERVICE_ANY;
}
