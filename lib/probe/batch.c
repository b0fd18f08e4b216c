/*
 * batch.c - many probes in the caller's thread: one poll() loop with a
 * bounded number of probes in flight (mailssl-probe --concurrency).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "probe_internal.h"

struct mailssl_batch {
    int concurrency;
    mailssl_probe **probes;
    size_t n, cap;
};

MAILSSL_EXPORT mailssl_batch *mailssl_batch_new(int concurrency)
{
    mailssl_batch *b;

    if (concurrency < 1)
        return NULL;
    b = calloc(1, sizeof *b);
    if (b)
        b->concurrency = concurrency;
    return b;
}

MAILSSL_EXPORT void mailssl_batch_free(mailssl_batch *b)
{
    if (!b)
        return;
    free(b->probes);
    free(b);
}

MAILSSL_EXPORT int mailssl_batch_add(mailssl_batch *b, mailssl_probe *p)
{
    size_t i;

    if (!b || !p)
        return MAILSSL_ERR_INVALID;
    if (p->started)
        return MAILSSL_ERR_STATE; /* as the setters of a started probe */
    for (i = 0; i < b->n; i++)
        if (b->probes[i] == p)
            return MAILSSL_ERR_DUPLICATE;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16;
        mailssl_probe **np = realloc(b->probes, nc * sizeof *np);

        if (!np)
            return MAILSSL_ERR_NOMEM;
        b->probes = np;
        b->cap = nc;
    }
    b->probes[b->n++] = p;
    return MAILSSL_OK;
}

/* Probes with DANE on and the same DNS settings share one libunbound
 * context: one cache (warm answers for the same names) and one worker
 * thread for the whole batch, which runs in one thread. A context that
 * cannot be made is left to each probe's start, which reports why. */
static void share_dns(mailssl_batch *b)
{
    size_t i, j;

    for (i = 0; i < b->n; i++) {
        mailssl_probe *p = b->probes[i];

        if (p->started || (p->dane_mode == MAILSSL_DANE_OFF && !p->mx_mode) ||
            p->dns)
            continue;
        for (j = 0; j < i && !p->dns; j++)
            if (mailssl__dns_matches(b->probes[j]->dns, p->dns_anchor,
                                     p->dns_resolver))
                p->dns = mailssl__dns_ref(b->probes[j]->dns);
        if (!p->dns)
            (void)mailssl__dns_new(p->dns_anchor, p->dns_resolver, &p->dns,
                                   p->err, sizeof p->err);
    }
}

MAILSSL_EXPORT int mailssl_batch_run(mailssl_batch *b,
                                     void (*progress)(size_t done,
                                                      size_t total,
                                                      void *user),
                                     void *user)
{
    mailssl_probe **act;
    struct pollfd *pfd;
    size_t next = 0, done = 0, nact = 0, i, k, slots;
    int rc = MAILSSL_OK;

    if (!b)
        return MAILSSL_ERR_INVALID;
    share_dns(b);
    /* never more slots than probes: a concurrency of INT_MAX is fine */
    slots = (size_t)b->concurrency < b->n ? (size_t)b->concurrency : b->n;
    act = calloc(slots ? slots : 1, sizeof *act);
    pfd = calloc(slots ? slots : 1, sizeof *pfd);
    if (!act || !pfd) {
        free(act);
        free(pfd);
        return MAILSSL_ERR_NOMEM;
    }
    while (done < b->n) {
        int timeout = -1;

        while (nact < slots && next < b->n) {
            mailssl_probe *p = b->probes[next++];

            if (p->started) {   /* started behind our back: skip it */
                done++;
                continue;
            }
            (void)mailssl_probe_start(p);
            if (mailssl_probe_done(p)) {
                done++;
                if (progress)
                    progress(done, b->n, user);
            } else {
                act[nact++] = p;
            }
        }
        if (nact == 0)
            continue;
        for (i = 0; i < nact; i++) {
            int32_t left = mailssl_probe_timeout_left_ms(act[i]);

            pfd[i].fd = mailssl_probe_fd(act[i]);
            pfd[i].events =
                act[i]->want == MAILSSL_WANT_POLLOUT ? POLLOUT : POLLIN;
            pfd[i].revents = 0;
            if (left >= 0 && (timeout < 0 || left < timeout))
                timeout = left;
        }
        if (poll(pfd, (nfds_t)nact, timeout) < 0 && errno != EINTR) {
            rc = MAILSSL_ERR_IO;
            break;
        }
        for (i = 0, k = 0; i < nact; i++) {
            mailssl_probe *p = act[i];

            if (pfd[i].revents || mailssl_probe_timeout_left_ms(p) == 0)
                (void)mailssl_probe_step(p);
            if (mailssl_probe_done(p)) {
                done++;
                if (progress)
                    progress(done, b->n, user);
            } else {
                act[k++] = p;
            }
        }
        nact = k;
    }
    free(act);
    free(pfd);
    return rc;
}
