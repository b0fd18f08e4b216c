/*
 * base.c - version, initialisation, return codes, services, severities and
 * diagnosis codes.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "internal.h"

#define STR2(x) #x
#define STR(x) STR2(x)

MAILSSL_EXPORT const char *mailssl_version(void)
{
    return STR(MAILSSL_VERSION_MAJOR) "." STR(MAILSSL_VERSION_MINOR) "." STR(
        MAILSSL_VERSION_PATCH);
}

MAILSSL_EXPORT uint32_t mailssl_version_num(void)
{
    return (uint32_t)MAILSSL_VERSION_NUM;
}

/* ---- init ------------------------------------------------------------- */

/* Files above this one (the probe's shared caches, say) register what the
 * last mailssl_deinit() must free, so that the ground layer calls nothing
 * above it. Only the library's own files register: a handful of slots. */
#define DEINIT_HOOKS 8

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned init_count;
static void (*deinit_hooks[DEINIT_HOOKS])(void);
static size_t ndeinit_hooks;

int mailssl__at_deinit(void (*hook)(void))
{
    size_t i;
    int rc = MAILSSL_OK;

    if (!hook)
        return MAILSSL_ERR_INVALID;
    pthread_mutex_lock(&init_lock);
    for (i = 0; i < ndeinit_hooks && deinit_hooks[i] != hook; i++)
        ;
    if (i == ndeinit_hooks) {
        if (ndeinit_hooks < DEINIT_HOOKS)
            deinit_hooks[ndeinit_hooks++] = hook;
        else
            rc = MAILSSL_ERR_NOMEM;
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

MAILSSL_EXPORT int mailssl_init(void)
{
    int rc = MAILSSL_OK;

    pthread_mutex_lock(&init_lock);
    if (init_count == 0) {
        /* gnutls_global_init is itself reference counted, so an
         * application that also uses GnuTLS keeps its own count. */
        if (gnutls_global_init() < 0)
            rc = MAILSSL_ERR_TLS;
    }
    if (rc == MAILSSL_OK)
        __atomic_store_n(&init_count, init_count + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&init_lock);
    return rc;
}

MAILSSL_EXPORT void mailssl_deinit(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_count > 0) {
        __atomic_store_n(&init_count, init_count - 1, __ATOMIC_RELEASE);
        if (init_count == 0) {
            size_t i;
            /* last registered first: the higher layer frees before the
             * one it builds on; GnuTLS last, the hooks free its objects */
            for (i = ndeinit_hooks; i > 0; i--)
                deinit_hooks[i - 1]();
            gnutls_global_deinit();
        }
    }
    pthread_mutex_unlock(&init_lock);
}

/* An atomic read, not the lock: callers may hold a lock of their own
 * (the probe cache's) that the last mailssl_deinit() takes while it holds
 * init_lock, in its hooks; taking init_lock here would order the two
 * locks both ways (a deadlock TSan found in mailssl-exporter). */
int mailssl__initialized(void)
{
    return __atomic_load_n(&init_count, __ATOMIC_ACQUIRE) > 0;
}

MAILSSL_EXPORT void mailssl_free(void *ptr)
{
    free(ptr);
}

/* ---- return codes ------------------------------------------------------ */

MAILSSL_EXPORT const char *mailssl_strerror(int code)
{
    switch (code) {
    case MAILSSL_OK:
        return "success";
    case MAILSSL_WANT_POLLIN:
        return "waiting for the descriptor to become readable";
    case MAILSSL_WANT_POLLOUT:
        return "waiting for the descriptor to become writable";
    case MAILSSL_ERR_INVALID:
        return "invalid argument";
    case MAILSSL_ERR_NOMEM:
        return "out of memory";
    case MAILSSL_ERR_IO:
        return "input/output error";
    case MAILSSL_ERR_SYNTAX:
        return "syntax error";
    case MAILSSL_ERR_CREDENTIAL:
        return "certificate or key cannot be used";
    case MAILSSL_ERR_DUPLICATE:
        return "duplicate entry";
    case MAILSSL_ERR_NOT_FOUND:
        return "not found";
    case MAILSSL_ERR_TLS:
        return "TLS library error";
    case MAILSSL_ERR_STATE:
        return "operation not valid in this state";
    case MAILSSL_ERR_UNSUPPORTED:
        return "not supported by this build";
    case MAILSSL_ERR_NOT_INITIALIZED:
        return "mailssl_init() was not called";
    case MAILSSL_ERR_TOO_LONG:
        return "input too long";
    default:
        return "unknown error";
    }
}

/* ---- services ---------------------------------------------------------- */

struct service_info {
    const char *name;
    int port;
    int implicit_tls;
};

/* Indexed by MAILSSL_SERVICE_* (SPEC.md section 2). */
static const struct service_info services[MAILSSL_SERVICE_MAX + 1] = {
    {"*", 0, 0},
    {"smtp", 25, 0},
    {"submission", 587, 0},
    {"smtps", 465, 1},
    {"lmtp", 24, 0},
    {"imap", 143, 0},
    {"imaps", 993, 1},
    {"pop3", 110, 0},
    {"pop3s", 995, 1},
    {"sieve", 4190, 0},
};

MAILSSL_EXPORT int mailssl_service_from_name(const char *name)
{
    int i;

    if (!name)
        return MAILSSL_ERR_INVALID;
    if (strcasecmp(name, "submissions") == 0)
        return MAILSSL_SERVICE_SMTPS;
    for (i = 0; i <= MAILSSL_SERVICE_MAX; i++)
        if (strcasecmp(name, services[i].name) == 0)
            return i;
    return MAILSSL_ERR_NOT_FOUND;
}

MAILSSL_EXPORT const char *mailssl_service_name(int service)
{
    if (service < 0 || service > MAILSSL_SERVICE_MAX)
        return NULL;
    return services[service].name;
}

MAILSSL_EXPORT int mailssl_service_default_port(int service)
{
    if (service <= MAILSSL_SERVICE_ANY || service > MAILSSL_SERVICE_MAX)
        return MAILSSL_ERR_INVALID;
    return services[service].port;
}

MAILSSL_EXPORT int mailssl_service_implicit_tls(int service)
{
    if (service <= MAILSSL_SERVICE_ANY || service > MAILSSL_SERVICE_MAX)
        return MAILSSL_ERR_INVALID;
    return services[service].implicit_tls;
}

/* ---- severities and codes ---------------------------------------------- */

MAILSSL_EXPORT const char *mailssl_severity_name(int severity)
{
    switch (severity) {
    case MAILSSL_SEVERITY_OK:
        return "ok";
    case MAILSSL_SEVERITY_WARNING:
        return "warning";
    case MAILSSL_SEVERITY_CRITICAL:
        return "critical";
    case MAILSSL_SEVERITY_UNKNOWN:
        return "unknown";
    default:
        return NULL;
    }
}

/* Sparse on purpose: diagnoses 0-25, findings from 40, live audit 60-61,
 * DANE from DNS 62-66. */
static const char *const code_names[MAILSSL_CODE_MAX + 1] = {
    [MAILSSL_CODE_OK] = "ok",
    [MAILSSL_CODE_RESOLVE_FAILED] = "resolve-failed",
    [MAILSSL_CODE_CONNECT_REFUSED] = "connect-refused",
    [MAILSSL_CODE_CONNECT_TIMEOUT] = "connect-timeout",
    [MAILSSL_CODE_CONNECT_FAILED] = "connect-failed",
    [MAILSSL_CODE_GREETING_TIMEOUT] = "greeting-timeout",
    [MAILSSL_CODE_GREETING_REJECTED] = "greeting-rejected",
    [MAILSSL_CODE_GREETING_MALFORMED] = "greeting-malformed",
    [MAILSSL_CODE_STARTTLS_TIMEOUT] = "starttls-timeout",
    [MAILSSL_CODE_STARTTLS_NOT_OFFERED] = "starttls-not-offered",
    [MAILSSL_CODE_STARTTLS_REFUSED] = "starttls-refused",
    [MAILSSL_CODE_STARTTLS_PREAUTH] = "starttls-preauth",
    [MAILSSL_CODE_STARTTLS_INJECTION] = "starttls-injection",
    [MAILSSL_CODE_PROTOCOL_ERROR] = "protocol-error",
    [MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE] = "tls-closed-during-handshake",
    [MAILSSL_CODE_TLS_ALERT] = "tls-alert",
    [MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS] = "tls-no-common-parameters",
    [MAILSSL_CODE_TLS_TIMEOUT] = "tls-timeout",
    [MAILSSL_CODE_TLS_ERROR] = "tls-error",
    [MAILSSL_CODE_CERT_UNTRUSTED] = "cert-untrusted",
    [MAILSSL_CODE_CERT_EXPIRED] = "cert-expired",
    [MAILSSL_CODE_CERT_NOT_YET_VALID] = "cert-not-yet-valid",
    [MAILSSL_CODE_CERT_NAME_MISMATCH] = "cert-name-mismatch",
    [MAILSSL_CODE_CERT_REVOKED] = "cert-revoked",
    [MAILSSL_CODE_CERT_EXPIRING] = "cert-expiring",
    [MAILSSL_CODE_POST_TLS_FAILED] = "post-tls-failed",
    [MAILSSL_CODE_CERT_WEAK_KEY] = "cert-weak-key",
    [MAILSSL_CODE_CERT_WEAK_SIGNATURE] = "cert-weak-signature",
    [MAILSSL_CODE_CERT_BAD_USAGE] = "cert-bad-usage",
    [MAILSSL_CODE_CERT_CHAIN_INCOMPLETE] = "cert-chain-incomplete",
    [MAILSSL_CODE_CERT_CHAIN_ORDER] = "cert-chain-order",
    [MAILSSL_CODE_CERT_SELF_SIGNED] = "cert-self-signed",
    [MAILSSL_CODE_KEY_CERT_MISMATCH] = "key-cert-mismatch",
    [MAILSSL_CODE_OCSP_STAPLE_MISSING] = "ocsp-staple-missing",
    [MAILSSL_CODE_DANE_MISMATCH] = "dane-mismatch",
    [MAILSSL_CODE_NO_BINDING] = "no-binding",
    [MAILSSL_CODE_CERT_PARSE_ERROR] = "cert-parse-error",
    [MAILSSL_CODE_KEY_FILE_PERMISSIONS] = "key-file-permissions",
    [MAILSSL_CODE_OCSP_STAPLE_INVALID] = "ocsp-staple-invalid",
    [MAILSSL_CODE_DANE_UNUSABLE] = "dane-unusable",
    [MAILSSL_CODE_NO_BINDING_LIVE] = "no-binding-live",
    [MAILSSL_CODE_CERT_DRIFT] = "cert-drift",
    /* 1.1, DANE from DNS */
    [MAILSSL_CODE_DANE_OK] = "dane-ok",
    [MAILSSL_CODE_DANE_NO_RECORDS] = "dane-no-records",
    [MAILSSL_CODE_DANE_INSECURE] = "dane-insecure",
    [MAILSSL_CODE_DANE_BOGUS] = "dane-bogus",
    [MAILSSL_CODE_DANE_LOOKUP_FAILED] = "dane-lookup-failed",
};

MAILSSL_EXPORT const char *mailssl_code_name(int code)
{
    if (code < 0 || code > MAILSSL_CODE_MAX)
        return NULL;
    return code_names[code];
}

MAILSSL_EXPORT int mailssl_code_from_name(const char *name)
{
    int i;

    if (!name)
        return MAILSSL_ERR_INVALID;
    for (i = 0; i <= MAILSSL_CODE_MAX; i++)
        if (code_names[i] && strcmp(code_names[i], name) == 0)
            return i;
    return MAILSSL_ERR_NOT_FOUND;
}

/* fopen(path, "rb") that does not block in open() on a FIFO: a config
 * or key file name pointing at one must fail, not hang. */
static FILE *fopen_nonblocking(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f;

    if (fd < 0)
        return NULL;
    f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int mailssl__read_file(const char *path, size_t max, char **data,
                       size_t *len, char *why, size_t whylen)
{
    FILE *f;
    struct stat st;
    char *buf;
    size_t n;

    *data = NULL;
    *len = 0;
    f = fopen_nonblocking(path);
    if (!f) {
        mailssl__set_error(why, whylen, "cannot read: %s", strerror(errno));
        return MAILSSL_ERR_IO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        mailssl__set_error(why, whylen, "not a regular file");
        fclose(f);
        return MAILSSL_ERR_IO;
    }
    if ((unsigned long long)st.st_size > max) {
        *len = (size_t)st.st_size;
        mailssl__set_error(why, whylen, "%lld bytes, more than %zu",
                           (long long)st.st_size, max);
        fclose(f);
        return MAILSSL_ERR_TOO_LONG;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return MAILSSL_ERR_NOMEM;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        mailssl__set_error(why, whylen, "read error");
        free(buf);
        fclose(f);
        return MAILSSL_ERR_IO;
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
