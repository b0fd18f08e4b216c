/*
 * validation.h - the internals of the validation layer (lib/validate/)
 * that the layers above it use: TLSA records and their matching
 * (lib/validate/dane.c), a chain validation that counts the TLSA records
 * that matched, the probes' shared validators (lib/probe/probe_cache.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_VALIDATION_H
#define MAILSSL_VALIDATION_H

#include "internal.h"

/* The GnuTLS verification flags of validation (also used by the bench). */
extern const unsigned mailssl__verify_flags;

/* TLSA records given to a validator, matched with libgnutls-dane. */
struct mailssl__tlsa {
    int usage, selector, mtype;
    int wellformed;        /* usage 0-3, known selector and type, length */
    unsigned char *rdata;  /* usage, selector, type, data (RFC 6698) */
    size_t rdata_len;
    void *query;           /* dane_query_t matching rdata as DANE-EE */
};
struct mailssl__dane {
    struct mailssl__tlsa *recs;
    size_t n;
    void *state;           /* the process's dane_state_t (dane.c) */
};
struct mailssl__dane_result {
    int ee_match;          /* a DANE-EE record matches the leaf */
    int ta_match;          /* a DANE-TA record matches a chain cert that
                              verifiably issued the leaf's chain */
    int ta_chain_error;    /* a DANE-TA record matched, chain did not verify */
    int pkix_match;        /* a PKIX-TA/PKIX-EE record matches (not SMTP) */
    size_t usable, unusable;
    size_t matched;        /* records that matched (each counted once) */
};
int mailssl__dane_add(struct mailssl__dane *d, int usage, int selector,
                      int mtype, const unsigned char *data, size_t len,
                      char *err, size_t errlen);
size_t mailssl__dane_count(const struct mailssl__dane *d);
/* smtp_rules: RFC 7672 (usages 0/1 unusable); anchor: the trust-store
 * certificate that issued the top of path, or NULL (for PKIX-TA). */
void mailssl__dane_check(const struct mailssl__dane *d, int smtp_rules,
                         gnutls_x509_crt_t *path, size_t npath,
                         gnutls_x509_crt_t anchor,
                         struct mailssl__dane_result *res);
void mailssl__dane_clear(struct mailssl__dane *d);
/* mailssl_validate_chain() that also says how many TLSA records matched
 * (dane_matched may be NULL). */
int mailssl__validate_chain_counted(const mailssl_validator *v,
                                    const unsigned char *const *der_certs,
                                    const size_t *der_lens, size_t ncerts,
                                    const unsigned char *ocsp_der,
                                    size_t ocsp_len, mailssl_report *report,
                                    size_t *dane_matched);
/* Takes every TLSA record off a validator and restores the default
 * service (the probes' shared validators, lib/probe/probe_cache.c). */
void mailssl__validator_drop_tlsa(mailssl_validator *v);

#endif
