/*
 * dane.c - TLSA records supplied by the caller. DANE-EE(3) matches the
 * leaf and nothing else is checked (RFC 7671 section 5.1); DANE-TA(2)
 * matches a certificate of the chain that must then verifiably issue the
 * chain down to the leaf (names and dates are checked by the caller as
 * usual). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672
 * section 3.1.3); for other services (RFC 7671 section 5.4) they must match
 * a certificate of the PKIX chain, which the caller validates as usual.
 *
 * The matching itself (selector and matching type) is libgnutls-dane's:
 * each record is handed to it as a DANE-EE record against one certificate
 * at a time, so that RFC 7672's choice of certificates stays ours.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/dane.h>

#include "validation.h"

/* One libgnutls-dane state for the process: dane_state_init() reads
 * /etc/resolv.conf and /etc/hosts into a resolver context that matching
 * never uses (about 0.2 ms, as much as a handshake's verification), and
 * dane_raw_tlsa() / dane_verify_crt_raw() only read the state, so it is
 * shared by every validator and probe. Freed by the last mailssl_deinit()
 * through the hook this file registers with lib/core/base.c. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static dane_state_t shared_state;

static void state_clear(void);
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static int hook_rc;

static void hook_register(void)
{
    hook_rc = mailssl__at_deinit(state_clear);
}

static void *get_state(void)
{
    /* registered before state_lock is taken: the hook runs under base.c's
     * init lock and takes state_lock, never the other way round */
    pthread_once(&hook_once, hook_register);
    if (hook_rc != 0)
        return NULL; /* nothing would free it */
    pthread_mutex_lock(&state_lock);
    if (!shared_state && dane_state_init(&shared_state, DANE_F_IGNORE_DNSSEC) < 0)
        shared_state = NULL;
    pthread_mutex_unlock(&state_lock);
    return shared_state;
}

static void state_clear(void)
{
    pthread_mutex_lock(&state_lock);
    if (shared_state)
        dane_state_deinit(shared_state);
    shared_state = NULL;
    pthread_mutex_unlock(&state_lock);
}

/* More records than this for one name are not a configuration. */
#define DANE_MAX_RECORDS 64

/* Known selector and matching type, and data of the right length. */
static int record_wellformed(int usage, int selector, int mtype, size_t len)
{
    if (usage < 0 || usage > 3)
        return 0;
    if (selector != 0 && selector != 1)
        return 0;
    switch (mtype) {
    case 0:
        return 1;
    case 1:
        return len == 32;
    case 2:
        return len == 64;
    default:
        return 0;
    }
}

int mailssl__dane_add(struct mailssl__dane *d, int usage, int selector,
                      int mtype, const unsigned char *data, size_t len,
                      char *err, size_t errlen)
{
    struct mailssl__tlsa *t, *p;
    char *entries[2];
    int lens[2];
    int rc;

    if (d->n >= DANE_MAX_RECORDS) {
        mailssl__set_error(err, errlen, "more than %d TLSA records",
                           DANE_MAX_RECORDS);
        return MAILSSL_ERR_TOO_LONG;
    }
    if (!d->state) {
        d->state = get_state();
        if (!d->state) {
            mailssl__set_error(err, errlen,
                               "libgnutls-dane cannot be initialised");
            return MAILSSL_ERR_TLS;
        }
    }
    p = realloc(d->recs, (d->n + 1) * sizeof(*p));
    if (!p)
        return MAILSSL_ERR_NOMEM;
    d->recs = p;
    t = &d->recs[d->n];
    memset(t, 0, sizeof(*t));
    t->usage = usage;
    t->selector = selector;
    t->mtype = mtype;
    t->wellformed = record_wellformed(usage, selector, mtype, len);
    t->rdata_len = len + 3;
    t->rdata = malloc(t->rdata_len);
    if (!t->rdata)
        return MAILSSL_ERR_NOMEM;
    /* As DANE-EE, so that libgnutls-dane only compares the data with the
     * one certificate it is given. */
    t->rdata[0] = 3;
    t->rdata[1] = (unsigned char)selector;
    t->rdata[2] = (unsigned char)mtype;
    memcpy(t->rdata + 3, data, len);
    if (t->wellformed) {
        dane_query_t q;
        entries[0] = (char *)t->rdata;
        entries[1] = NULL;
        lens[0] = (int)t->rdata_len;
        lens[1] = 0;
        /* The caller vouches for the records (DNSSEC-validated). */
        rc = dane_raw_tlsa((dane_state_t)d->state, &q, entries, lens, 1, 0);
        if (rc < 0) {
            free(t->rdata);
            mailssl__set_error(err, errlen, "TLSA record refused: %s",
                               dane_strerror(rc));
            return MAILSSL_ERR_SYNTAX;
        }
        t->query = q;
    }
    d->n++;
    return MAILSSL_OK;
}

size_t mailssl__dane_count(const struct mailssl__dane *d)
{
    return d ? d->n : 0;
}

void mailssl__dane_clear(struct mailssl__dane *d)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        if (d->recs[i].query)
            dane_query_deinit((dane_query_t)d->recs[i].query);
        free(d->recs[i].rdata);
    }
    free(d->recs);
    memset(d, 0, sizeof(*d)); /* the state is the process's */
}

static int matches(const struct mailssl__dane *d,
                   const struct mailssl__tlsa *t, const gnutls_datum_t *der)
{
    unsigned verify = 0;
    int rc = dane_verify_crt_raw((dane_state_t)d->state, der, 1,
                                 GNUTLS_CRT_X509, (dane_query_t)t->query, 0,
                                 DANE_VFLAG_ONLY_CHECK_EE_USAGE, &verify);
    return rc == 0 && verify == 0;
}

void mailssl__dane_check(const struct mailssl__dane *d, int smtp_rules,
                         gnutls_x509_crt_t *path, size_t npath,
                         gnutls_x509_crt_t anchor,
                         struct mailssl__dane_result *res)
{
    gnutls_datum_t der[33];
    size_t i, j, nder = npath < 32 ? npath : 32;

    memset(res, 0, sizeof(*res));
    for (j = 0; j < nder; j++)
        if (gnutls_x509_crt_export2(path[j], GNUTLS_X509_FMT_DER, &der[j]) < 0)
            der[j].data = NULL;
    /* the trust anchor from the store, for PKIX-TA(0) */
    der[nder].data = NULL;
    if (anchor &&
        gnutls_x509_crt_export2(anchor, GNUTLS_X509_FMT_DER, &der[nder]) < 0)
        der[nder].data = NULL;
    for (i = 0; i < d->n; i++) {
        const struct mailssl__tlsa *t = &d->recs[i];
        int ta_hit = 0;
        if (!t->wellformed || !t->query ||
            (smtp_rules && (t->usage == 0 || t->usage == 1))) {
            res->unusable++;
            continue;
        }
        res->usable++;
        if (t->usage == 3 || t->usage == 1) {
            if (der[0].data && matches(d, t, &der[0])) {
                if (t->usage == 3)
                    res->ee_match = 1;
                else
                    res->pkix_match = 1;
                res->matched++;
            }
            continue;
        }
        if (t->usage == 0) {
            int hit = 0;
            for (j = 0; j <= nder; j++)
                if (der[j].data && matches(d, t, &der[j]))
                    hit = res->pkix_match = 1;
            res->matched += (size_t)hit;
            continue;
        }
        for (j = 0; j < nder; j++) {
            unsigned status = 0;
            if (!der[j].data || !matches(d, t, &der[j]))
                continue;
            /* The matched certificate is the trust anchor of the chain
             * below it (RFC 7671 section 5.2.2); dates are the caller's. */
            if (j == 0 ||
                (gnutls_x509_crt_list_verify(path, (unsigned)j, &path[j], 1,
                                             NULL, 0, mailssl__verify_flags,
                                             &status) >= 0 &&
                 status == 0)) {
                res->matched += !ta_hit; /* a record counts once */
                ta_hit = res->ta_match = 1;
            } else
                res->ta_chain_error = 1;
        }
    }
    for (j = 0; j <= nder; j++)
        gnutls_free(der[j].data);
}
