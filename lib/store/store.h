/*
 * store.h - the internals of the binding store (lib/store/): bindings,
 * listeners, tables (lib/store/table.c), the store object's lock-free
 * reads and swap (lib/store/store.c), the config parser
 * (lib/store/config.c), for the store's files and lib/live.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_STORE_H
#define MAILSSL_STORE_H

#include "internal.h"

struct mailssl__table; /* immutable once published (lib/store/table.c) */

struct mailssl__binding {
    int service;              /* MAILSSL_SERVICE_* (ANY = "*") */
    int port;                 /* MAILSSL_PORT_ANY or 1-65535 */
    int name_kind;            /* MAILSSL__NAME_* */
    char *name;               /* normalized; NULL for ANY */
    struct mailssl__addr addr;
    mailssl_credential *cred; /* one reference held */
    char *origin;             /* "FILE:LINE", or NULL when added by API */
    uint64_t hash;
    void *group;              /* lib/store/store.c's index entry */
};

struct mailssl__listener {
    int service;
    int port;
    struct mailssl__addr addr; /* exact or family default */
    char *origin;
};

struct mailssl__table; /* immutable once published (lib/store/table.c) */

struct mailssl__table *mailssl__table_new(void);
void mailssl__table_free(struct mailssl__table *t);
/* Adds a binding (the table takes a new reference on cred, copies the
 * rest). Duplicates: MAILSSL_ERR_DUPLICATE with *dup the binding there. */
int mailssl__table_add(struct mailssl__table *t, int service,
                       const struct mailssl__addr *a, int port, int name_kind,
                       const char *name, mailssl_credential *cred,
                       const char *origin,
                       const struct mailssl__binding **dup);
int mailssl__table_add_listener(struct mailssl__table *t, int service,
                                const struct mailssl__addr *a, int port,
                                const char *origin,
                                const struct mailssl__listener **dup);
/* Removes the binding with this normalized key: MAILSSL_OK, or
 * MAILSSL_ERR_NOT_FOUND. */
int mailssl__table_remove(struct mailssl__table *t, int service,
                          const struct mailssl__addr *a, int port, int kind,
                          const char *name);
/* A new table with the bindings and listeners of from (NULL: empty), or
 * NULL when out of memory. */
struct mailssl__table *mailssl__table_copy(const struct mailssl__table *from);
size_t mailssl__table_count(const struct mailssl__table *t);
const struct mailssl__binding *
mailssl__table_binding(const struct mailssl__table *t, size_t i);
size_t mailssl__table_listener_count(const struct mailssl__table *t);
const struct mailssl__listener *
mailssl__table_listener(const struct mailssl__table *t, size_t i);

/* Why a lookup missed. */
#define MAILSSL__MISS_NONE 0
#define MAILSSL__MISS_NO_BINDING 1
#define MAILSSL__MISS_UNKNOWN_NAME 2 /* strict mode, SNI not bound */
/* Lookup in one table. addr is an exact address, or a family default
 * (prefix 0) to ask "what covers every address of that family". sni is
 * normalized or NULL. Returns the winner (and, when cred is not NULL, its
 * credential, without a new reference) or NULL with *miss set. */
const struct mailssl__binding *
mailssl__table_lookup(const struct mailssl__table *t, int service,
                      const struct mailssl__addr *addr, int port,
                      const char *sni, int strict, int *miss,
                      mailssl_credential **cred);

/* Takes a reference on the store's current table for reading without
 * locks; release it with mailssl__store_read_end(store, token). */
const struct mailssl__table *mailssl__store_read_begin(mailssl_store *s,
                                                       int *token);
void mailssl__store_read_end(mailssl_store *s, int token);
int mailssl__store_strict(const mailssl_store *s);
/* Swaps t in (the store owns it from now on) and frees the old table once
 * no lookup uses it. */
void mailssl__store_swap(mailssl_store *s, struct mailssl__table *t);
char *mailssl__store_errbuf(mailssl_store *s); /* MAILSSL_ERRLEN bytes */
void mailssl__store_lock(mailssl_store *s);
void mailssl__store_unlock(mailssl_store *s);
/* The "imaps 192.0.2.10 993" text of a listener. */
void mailssl__listener_text(const struct mailssl__listener *l, char *buf,
                            size_t n);
/* Parses config text into a new table; errors as FILE:LINE:COLUMN. */
int mailssl__config_parse(const char *text, size_t len, const char *name,
                          const char *basedir, struct mailssl__table **out,
                          char *err, size_t errlen);
void mailssl__binding_text(const struct mailssl__binding *b, char *buf,
                           size_t n);
/* mailssl_store_lookup that also says why it missed (MAILSSL__MISS_*). */
int mailssl__store_lookup_sa(mailssl_store *s, const struct sockaddr *local,
                             int service, const char *sni,
                             mailssl_credential **out, char *why,
                             size_t whylen, int *miss);
/* Registers the function mailssl_store_free() calls first with the store
 * being freed, so that what a higher file keeps per store goes with it
 * (lib/store/glue_gnutls.c: its credentials of the store). One hook, set
 * once (setting the same one again is a no-op); MAILSSL_ERR_STATE when
 * another is set. */
int mailssl__store_on_free(void (*hook)(mailssl_store *s));

#endif
