/*
 * probe_cache.c - what probes share within a process: parsed GnuTLS
 * priority strings, and loaded trust stores (one validator per CA file,
 * or the system store). Loading the system trust store for every probe
 * costs milliseconds; an agent running thousands of probes loads it once.
 * A CA file is reloaded when its inode, size or mtime change, and any
 * trust store after an hour, so long-running agents see CA updates.
 * Everything is freed by the last mailssl_deinit(), through the hook this
 * file registers with lib/core/base.c (mailssl__at_deinit) on first use.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "probe_internal.h"

#define PRIO_SLOTS 8
#define TRUST_SLOTS 8
#define TRUST_MAX_AGE_US (3600LL * 1000000)

struct prio_slot {
    char *text;
    gnutls_priority_t prio;
};

struct trust_slot {
    char *cafile;             /* NULL: the system store */
    int used;
    struct stat st;           /* of cafile when loaded */
    int64_t loaded_at;        /* monotonic us */
    mailssl_validator *v;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prio_slot prios[PRIO_SLOTS];
static struct trust_slot trusts[TRUST_SLOTS];
static unsigned trust_victim;

static void cache_clear(void);
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
static int hook_rc;

static void hook_register(void)
{
    hook_rc = mailssl__at_deinit(cache_clear);
}

/* 0 once the last mailssl_deinit() is sure to free what is cached here.
 * Called before cache_lock is taken: the hook runs under base.c's init
 * lock and takes cache_lock, so registering must not nest the other way. */
static int cache_hooked(void)
{
    pthread_once(&hook_once, hook_register);
    return hook_rc;
}

int mailssl__probe_priority(const char *text, gnutls_priority_t *out)
{
    size_t i;
    int rc = 1;

    if (cache_hooked() != 0)
        return rc; /* the caller parses it itself */
    pthread_mutex_lock(&cache_lock);
    for (i = 0; i < PRIO_SLOTS; i++) {
        if (prios[i].text && strcmp(prios[i].text, text) == 0) {
            *out = prios[i].prio;
            rc = 0;
            break;
        }
        if (!prios[i].text) {
            /* never evicted: sessions in flight may use any of them */
            prios[i].text = mailssl__strdup(text);
            if (prios[i].text &&
                gnutls_priority_init(&prios[i].prio, text, NULL) == 0) {
                *out = prios[i].prio;
                rc = 0;
            } else {
                free(prios[i].text);
                prios[i].text = NULL;
            }
            break;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

/* Is slot t still good for cafile? */
static int trust_fresh(const struct trust_slot *t, const char *cafile,
                       int64_t now)
{
    struct stat st;

    if (!t->used || now - t->loaded_at > TRUST_MAX_AGE_US)
        return 0;
    if (!cafile)
        return t->cafile == NULL;
    if (!t->cafile || strcmp(t->cafile, cafile) != 0 || stat(cafile, &st) < 0)
        return 0;
    return st.st_ino == t->st.st_ino && st.st_dev == t->st.st_dev &&
           st.st_size == t->st.st_size &&
           st.st_mtim.tv_sec == t->st.st_mtim.tv_sec &&
           st.st_mtim.tv_nsec == t->st.st_mtim.tv_nsec;
}

static void trust_drop(struct trust_slot *t)
{
    mailssl_validator_free(t->v);
    free(t->cafile);
    memset(t, 0, sizeof *t);
}

int mailssl__probe_validate_shared(const char *cafile, const char *name,
                                   int64_t vtime, int warn_days,
                                   int crit_days,
                                   const unsigned char *const *ders,
                                   const size_t *lens, size_t n,
                                   const unsigned char *ocsp, size_t ocsp_len,
                                   mailssl_report *report, char *err,
                                   size_t errlen)
{
    return mailssl__probe_validate_shared_dane(
        cafile, name, vtime, warn_days, crit_days, ders, lens, n, ocsp,
        ocsp_len, NULL, 0, MAILSSL_SERVICE_ANY, report, NULL, err, errlen);
}

int mailssl__probe_validate_shared_dane(
    const char *cafile, const char *name, int64_t vtime, int warn_days,
    int crit_days, const unsigned char *const *ders, const size_t *lens,
    size_t n, const unsigned char *ocsp, size_t ocsp_len,
    const struct mailssl_probe_tlsa *tlsa, size_t ntlsa, int service,
    mailssl_report *report, size_t *dane_matched, char *err, size_t errlen)
{
    int64_t now = mailssl__now_us();
    struct trust_slot *t = NULL;
    size_t i;
    int rc;

    if ((rc = cache_hooked()) != 0) {
        mailssl__set_error(err, errlen, "%s", mailssl_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&cache_lock);
    for (i = 0; i < TRUST_SLOTS && !t; i++)
        if (trust_fresh(&trusts[i], cafile, now))
            t = &trusts[i];
    if (!t) {
        /* a stale slot for the same file, else a free one, else evict */
        for (i = 0; i < TRUST_SLOTS && !t; i++)
            if (trusts[i].used &&
                (cafile ? trusts[i].cafile &&
                              strcmp(trusts[i].cafile, cafile) == 0
                        : !trusts[i].cafile))
                t = &trusts[i];
        for (i = 0; i < TRUST_SLOTS && !t; i++)
            if (!trusts[i].used)
                t = &trusts[i];
        if (!t)
            t = &trusts[trust_victim++ % TRUST_SLOTS];
        if (t->used)
            trust_drop(t);
        t->v = mailssl_validator_new();
        rc = t->v ? MAILSSL_OK : MAILSSL_ERR_NOMEM;
        if (rc == MAILSSL_OK && cafile) {
            t->cafile = mailssl__strdup(cafile);
            rc = t->cafile ? mailssl_validator_set_cafile(t->v, cafile)
                           : MAILSSL_ERR_NOMEM;
            if (rc == MAILSSL_OK && stat(cafile, &t->st) < 0)
                memset(&t->st, 0, sizeof t->st);
        }
        if (rc < 0) {
            mailssl__set_error(err, errlen, "%s",
                               t->v ? mailssl_validator_error(t->v)
                                    : "out of memory");
            trust_drop(t);
            pthread_mutex_unlock(&cache_lock);
            return rc;
        }
        t->used = 1;
        t->loaded_at = now;
    }
    /* the per-probe settings, then the check, under the lock: the
     * validator is shared by every probe of the process */
    rc = mailssl_validator_set_time(t->v, vtime);
    if (rc >= 0)
        rc = mailssl_validator_set_days(t->v, warn_days, crit_days);
    if (rc >= 0)
        rc = mailssl_validator_set_name(t->v, name);
    if (rc >= 0 && ntlsa)
        rc = mailssl_validator_set_service(t->v, service);
    for (i = 0; rc >= 0 && i < ntlsa; i++)
        rc = mailssl_validator_add_tlsa(t->v, tlsa[i].usage, tlsa[i].selector,
                                        tlsa[i].matching_type, tlsa[i].data,
                                        tlsa[i].len);
    if (rc >= 0)
        rc = mailssl__validate_chain_counted(t->v, ders, lens, n, ocsp,
                                             ocsp_len, report, dane_matched);
    if (rc < 0)
        mailssl__set_error(err, errlen, "%s", mailssl_validator_error(t->v));
    if (ntlsa) /* this probe's records stay with this probe */
        mailssl__validator_drop_tlsa(t->v);
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

/* The deinit hook: no probe may exist any more when it runs. */
static void cache_clear(void)
{
    size_t i;

    pthread_mutex_lock(&cache_lock);
    for (i = 0; i < TRUST_SLOTS; i++)
        if (trusts[i].used)
            trust_drop(&trusts[i]);
    for (i = 0; i < PRIO_SLOTS; i++) {
        if (prios[i].text) {
            gnutls_priority_deinit(prios[i].prio);
            free(prios[i].text);
            prios[i].text = NULL;
        }
    }
    pthread_mutex_unlock(&cache_lock);
}
