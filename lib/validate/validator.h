/*
 * validator.h - the validator object, shared by the files of lib/validate/
 * (validator.c: the object and its settings; validate.c: the checks of one
 * validation run). Private to this layer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_VALIDATOR_H
#define MAILSSL_VALIDATOR_H

#include <pthread.h>

#include "validation.h"

struct mailssl_validator {
    char *cafile; /* NULL: system trust store */
    /* Trust list: built by set_cafile, or for the system store on first
     * use (under lock, since validation takes a const validator). */
    gnutls_x509_trust_list_t trust;
    int trust_loaded; /* 1 loaded, 0 not yet, < 0 failed (code) */
    int shares_system; /* trust is the shared system store */
    pthread_mutex_t lock;
    int64_t time;   /* 0: now */
    int warn_days;
    int crit_days;
    char *name;              /* DNS reference identifier: A-labels, lower */
    unsigned char ip[16];    /* IP reference identifier */
    size_t iplen;            /* 0: name is a DNS name (or none) */
    int service;             /* MAILSSL_SERVICE_*: picks the DANE rules */
    struct mailssl__dane dane;
    char err[MAILSSL_ERRLEN];
};

/* The system trust store, loaded on first use and shared by the validators
 * that use it (each holds a reference, dropped by mailssl_validator_free
 * or a set_cafile): the list, or NULL with *rc_out the GnuTLS error. */
gnutls_x509_trust_list_t mailssl__system_trust_acquire(int *rc_out);

#endif
