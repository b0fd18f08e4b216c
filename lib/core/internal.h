/*
 * internal.h - definitions shared by the library's own files only.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_INTERNAL_H
#define MAILSSL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mailssl.h"

/* On every definition of a public function: the library is built with
 * -fvisibility=hidden, and the version script decides the node. */
#define MAILSSL_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define MAILSSL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MAILSSL_PRINTF(a, b)
#endif

/* Nonzero while mailssl_init() holds a reference. */
int mailssl__initialized(void);
/* Registers hook to run at every last mailssl_deinit() (the reference
 * count reaching zero), before gnutls_global_deinit(), for a file above
 * lib/core/base.c that keeps process-wide state (caches); hooks run last
 * registered first and stay registered for later init/deinit cycles.
 * Registering the same hook again does nothing. A hook runs under the
 * init lock: it must not call mailssl_init(), mailssl_deinit() or
 * mailssl__initialized(), and a caller must not register while holding a
 * lock its hook takes. Returns 0, MAILSSL_ERR_INVALID (NULL) or
 * MAILSSL_ERR_NOMEM (every slot taken). */
int mailssl__at_deinit(void (*hook)(void));

/* ---- growable string buffer (lib/core/buf.c) ---------------------------- */
/* A failed allocation sets oom and turns every later append into a no-op,
 * so callers check once at the end (mailssl__buf_finish). */
struct mailssl_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;
};

void mailssl__buf_init(struct mailssl_buf *b);
void mailssl__buf_free(struct mailssl_buf *b);
void mailssl__buf_append(struct mailssl_buf *b, const char *s, size_t n);
void mailssl__buf_puts(struct mailssl_buf *b, const char *s);
void mailssl__buf_printf(struct mailssl_buf *b, const char *fmt, ...)
    MAILSSL_PRINTF(2, 3);
/* Appends s as a JSON string literal with quotes; invalid UTF-8 bytes and
 * control characters are escaped (\u00XX), so the output is always valid
 * JSON whatever a hostile peer sent. NULL appends null. */
void mailssl__buf_json_string(struct mailssl_buf *b, const char *s);
/* Returns the NUL-terminated data (owned by the caller, free with free())
 * or NULL after an allocation failure; the buffer is reset. */
char *mailssl__buf_finish(struct mailssl_buf *b);

/* ---- error messages kept on objects ----------------------------------- */
/* Formats into a fixed buffer of size n; never fails, truncates. */
void mailssl__set_error(char *dst, size_t n, const char *fmt, ...)
    MAILSSL_PRINTF(3, 4);

/* Size of the message buffer every object keeps. */
#define MAILSSL_ERRLEN 512

/* strdup that returns NULL for NULL */
char *mailssl__strdup(const char *s);

/* ---- address text (lib/core/addr.c) ------------------------------------- */
/* 1 when s is an IPv4 or IPv6 literal (inet_pton's forms), else 0 (also
 * for NULL). */
int mailssl__is_ip_literal(const char *s);

/* ---- reports (lib/core/report.c) ---------------------------------------- */
/* The worse of two severities (critical > unknown > warning > ok). */
int mailssl__worse(int a, int b);
/* Appends the findings array of SPEC.md section 5. */
void mailssl__report_json_append(struct mailssl_buf *b,
                                 const mailssl_report *r);

/* ---- credentials (lib/core/credential.c) -------------------------------- */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>

struct mailssl_credential {
    int refs;                         /* atomic (__atomic builtins) */
    int loaded;                       /* a load call succeeded or mismatched */
    int key_matches;                  /* leaf public key == private key's */
    gnutls_x509_crt_t *certs;         /* chain as loaded, leaf first */
    unsigned ncerts;
    gnutls_x509_privkey_t key;        /* NULL for a PKCS#11 key */
    gnutls_privkey_t privkey;         /* abstract key, always set once loaded */
    /* Ready-to-use server credentials holding this chain and key (built
     * once at load time, read-only after, shared by handshakes). */
    gnutls_certificate_credentials_t server_cred;
    char *cert_source;                /* file name or "memory" */
    char *key_source;
    mailssl_report *load_warnings;    /* e.g. key-file-permissions */
    /* How it was loaded, so that a store can write its binding back to a
     * config file (MAILSSL__CRED_*); the password is kept only for that. */
    int format;
    char *password;                   /* PEM key / PKCS#12 password, PIN */
    char *password_file;              /* PKCS#12 password file */
    char err[MAILSSL_ERRLEN];
};

#define MAILSSL__CRED_NONE 0
#define MAILSSL__CRED_PEM 1           /* cert_source / key_source files */
#define MAILSSL__CRED_MEMORY 2        /* cannot be written to a file */
#define MAILSSL__CRED_PKCS12 3
#define MAILSSL__CRED_PKCS11 4

/* Takes a new reference; returns cred. */
mailssl_credential *mailssl__credential_ref(mailssl_credential *cred);
/* A private key of the session's own (a copy, or the token key opened
 * again) for the GnuTLS glue, which hands it over to GnuTLS. */
int mailssl__credential_copy_key(const mailssl_credential *c,
                                 gnutls_privkey_t *out);
/* Loads PEM data; key NULL means the key is in cert. The *_src strings name
 * the data in messages (file names, or "memory"). */
int mailssl__credential_load_pem(mailssl_credential *c,
                                 const gnutls_datum_t *cert,
                                 const char *cert_src,
                                 const gnutls_datum_t *key,
                                 const char *key_src, const char *password);

/* ---- certificate details (lib/core/certinfo.c, validation issue) -------- */
/* What reports show of one certificate (SPEC.md section 5 "certificate"). */
struct mailssl_certinfo {
    char *subject;            /* RFC 4514 DN */
    char *issuer;
    char **names;             /* subjectAltName DNS names and IPs (text) */
    size_t nnames;
    int64_t not_before;       /* epoch seconds */
    int64_t not_after;
    char sha256[65];          /* hex fingerprint of the DER, lower case */
    char spki_pin[64];        /* base64 SHA-256 of the SubjectPublicKeyInfo */
    char key_type[16];        /* "RSA", "ECDSA", "Ed25519", ... */
    int key_bits;
    char sig_alg[48];         /* e.g. "ECDSA-SHA256" */
};

/* Fills ci from crt; returns 0 or a negative MAILSSL_ERR_*. */
int mailssl__certinfo_init(struct mailssl_certinfo *ci, gnutls_x509_crt_t crt);
void mailssl__certinfo_clear(struct mailssl_certinfo *ci);
/* Appends the JSON object of SPEC.md section 5 "certificate" ({"subject":
 * ..., "days_left": N, "sha256": ...}); days_left counted from now_epoch
 * (rounded down; negative once expired). */
void mailssl__certinfo_json_append(struct mailssl_buf *b,
                                   const struct mailssl_certinfo *ci,
                                   int64_t now_epoch);

/* ---- certificate dates (lib/core/certinfo.c) -------------------------- */
/* "2026-01-01T00:00:00Z" (RFC 3339, UTC) into out (>= 32 bytes). */
void mailssl__rfc3339(int64_t t, char *out, size_t n);
/* Whole days from now to not_after, rounded down (-1 as soon as passed). */
int64_t mailssl__days_left(int64_t not_after, int64_t now);
/* notAfter of crt in epoch seconds; 99991231235959Z (no expiry, RFC 5280)
 * is MAILSSL__NO_EXPIRY. */
#define MAILSSL__NO_EXPIRY ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */
int64_t mailssl__crt_not_after(gnutls_x509_crt_t crt);

/* ---- address keys and names (lib/core/addr.c) ------------------------- */
/* An address key of SPEC.md section 3: family 0 is "*" (every address);
 * family 4/6 with prefix 0 is 0.0.0.0 / ::, with the full length (32/128)
 * an exact address, in between a CIDR. Bytes past the prefix are zero. */
struct mailssl__addr {
    int family;
    int prefix;
    unsigned char b[16];
};

#define MAILSSL__NAME_EXACT 0
#define MAILSSL__NAME_WILD 1 /* name holds the suffix after "*." */
#define MAILSSL__NAME_ANY 2

/* Parsers shared by the API and the config file; on error they write a
 * message (without position) into err and return a negative code. */
int mailssl__parse_address(const char *text, int listener,
                           struct mailssl__addr *out, char *err, size_t n);
int mailssl__parse_name(const char *text, int *kind, char **out, char *err,
                        size_t n);
void mailssl__addr_text(const struct mailssl__addr *a, char *buf, size_t n);
/* Address keys (lib/core/addr.c): the bits of a family's addresses (4: 32,
 * 6: 128, else 0); zeroing the bits after a->prefix (1 when some were
 * set); an IPv4 or IPv6 literal (IPv4-mapped IPv6 as IPv4) into a with
 * prefix 0, 0 or -1. */
int mailssl__addr_bits(int family);
int mailssl__clear_host_bits(struct mailssl__addr *a);
int mailssl__parse_ip(const char *text, struct mailssl__addr *a);

/* Normalizes an SNI name into buf: NULL when absent or to be ignored. */
const char *mailssl__sni_normalize(const char *sni, char *buf, size_t n);
struct sockaddr;
int mailssl__sockaddr_addr(const struct sockaddr *sa, struct mailssl__addr *a,
                           int *port);

/* ---- robustness ---------------------------------------------------------- */

/* Reads the whole of path, a regular file of at most max bytes, into a
 * malloc'd NUL-terminated buffer (*data, *len). open() does not block on a
 * FIFO: a config or key file name pointing at one fails, never hangs.
 * Returns 0, or MAILSSL_ERR_IO ("cannot read: ...", "not a regular file",
 * "read error" in why), MAILSSL_ERR_TOO_LONG (the size in *len) or
 * MAILSSL_ERR_NOMEM. */
int mailssl__read_file(const char *path, size_t max, char **data,
                       size_t *len, char *why, size_t whylen);
/* Records "invalid argument: WHAT" as the store's message (under its lock)
 * and returns MAILSSL_ERR_INVALID; s may be NULL (then only returns). */
int mailssl__store_invalid(mailssl_store *s, const char *what);

#endif
