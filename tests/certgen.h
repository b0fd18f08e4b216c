/*
 * certgen.h - test helper: certificates made at run time with GnuTLS, so
 * nothing in the repository ever expires. Test code only.
 */
#ifndef MAILSSL_TEST_CERTGEN_H
#define MAILSSL_TEST_CERTGEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define CERTGEN_ECDSA_P256 0 /* default */
#define CERTGEN_RSA 1        /* rsa_bits, default 2048 */
#define CERTGEN_ED25519 2
#define CERTGEN_ECDSA_P384 3
#define CERTGEN_DSA 4        /* 1024 bits (quick to make) */

#define CERTGEN_EKU_SERVER 0 /* default: TLS server auth */
#define CERTGEN_EKU_CLIENT 1 /* client auth only */
#define CERTGEN_EKU_NONE 2   /* no EKU extension */

struct certgen_opts {
    const char *cn;              /* subject CN (default "test") */
    const char *const *dns;      /* NULL-terminated subjectAltName DNS */
    const char *const *ips;      /* NULL-terminated subjectAltName IPs */
    int64_t not_before;          /* 0: now - 1 day */
    int64_t not_after;           /* 0: now + 365 days */
    int key_type;                /* CERTGEN_* */
    int rsa_bits;                /* 0: 2048 */
    int is_ca;                   /* CA:TRUE, keyCertSign */
    int eku;                     /* CERTGEN_EKU_* (a CA: only _CLIENT) */
    int sha1;                    /* sign with SHA-1 instead of SHA-256 */
    int must_staple;             /* TLS feature status_request */
    unsigned serial;             /* 0: a counter */
    unsigned key_usage;          /* GNUTLS_KEY_* of a leaf; 0: default */
    size_t extra_bytes;          /* > 0: adds a private non-critical
                                    extension holding an OCTET STRING of
                                    that many bytes (oversized
                                    certificates, e.g. 1 MB) */
};

struct certgen_cert {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
};

/* Makes a certificate signed by issuer (NULL: self-signed). Returns 0 or a
 * GnuTLS error code. */
int certgen_make(struct certgen_cert *out, const struct certgen_opts *opts,
                 const struct certgen_cert *issuer);
void certgen_free(struct certgen_cert *c);

/* Writes the certificates of chain[0..n-1] as PEM, then, when key is not
 * NULL, that key. Returns 0 or -1. */
int certgen_write_pem(const char *path, const struct certgen_cert *const *chain,
                      size_t n, const struct certgen_cert *key);
/* Writes only the private key of c as PEM (mode 0600). */
int certgen_write_key(const char *path, const struct certgen_cert *c);
/* PEM of the certificate / key into a malloc'd NUL-terminated string. */
char *certgen_cert_pem(const struct certgen_cert *c);
char *certgen_key_pem(const struct certgen_cert *c);

/* OCSP responses (RFC 6960) made at run time, signed by signer. */
#define CERTGEN_OCSP_GOOD 0
#define CERTGEN_OCSP_REVOKED 1
#define CERTGEN_OCSP_UNKNOWN 2

struct certgen_ocsp_opts {
    int status;                  /* CERTGEN_OCSP_* */
    int64_t this_update;         /* also producedAt */
    int64_t next_update;         /* 0: no nextUpdate */
    int64_t revoked_at;          /* for CERTGEN_OCSP_REVOKED */
    const struct certgen_cert *signer; /* NULL: the issuer */
};

/* The DER OCSPResponse about cert (issued by issuer) into *der (malloc'd,
 * free with free()). Returns 0 or -1. */
int certgen_ocsp_response(unsigned char **der, size_t *len,
                          const struct certgen_cert *cert,
                          const struct certgen_cert *issuer,
                          const struct certgen_ocsp_opts *opts);

/* Writes the private key of c as encrypted PKCS#8 PEM (mode 0600). */
int certgen_write_key_encrypted(const char *path, const struct certgen_cert *c,
                                const char *password);
/* Writes a PKCS#12 file (DER, mode 0600) holding chain[0..n-1] and the
 * key of key in plain bags, MACed with password (NULL: ""). Returns 0 or
 * -1. */
int certgen_write_p12(const char *path, const struct certgen_cert *const *chain,
                      size_t n, const struct certgen_cert *key,
                      const char *password);

/* 0 when the tests run under valgrind, where one PKCS#12 or PKCS#8 key
 * derivation (600,000 iterations) takes about ten seconds: tests skip
 * those cases and shrink their loops there. 1 otherwise. */
int certgen_full_speed(void);

/* A fresh temporary directory (malloc'd path) and its recursive removal. */
char *certgen_tmpdir(void);
void certgen_rmdir(const char *dir);
/* dir/name in one of 8 static buffers used in turn (so that up to 8 paths
 * can be held at once); truncated past 511 bytes. Test code only. */
const char *certgen_path(const char *dir, const char *name);

/* A CA (ca_opts) and a leaf it issues (leaf_opts), with the CA written as
 * a PEM trust file at cafile. Returns 0, or -1 (nothing to free). */
int certgen_ca_and_leaf(struct certgen_cert *ca, const struct certgen_opts *ca_opts,
                        struct certgen_cert *leaf,
                        const struct certgen_opts *leaf_opts, const char *cafile);
/* Two self-signed leaves for one host name (a certificate and a second
 * key that does not match it). Returns 0, or -1 (nothing to free). */
int certgen_two_leaves(struct certgen_cert *leaf, struct certgen_cert *other,
                       const char *name);

#endif
