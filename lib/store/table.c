/*
 * table.c - the binding store's tables: the bindings of one generation
 * (immutable once published), their hashes and the lookup by precedence
 * (SPEC.md section 3). lib/store/store.c publishes and swaps them.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A table holds the bindings in insertion order (for saving and
 * auditing) and in three hashes: whole keys (duplicates, removal); name
 * keys (exact name, "*.suffix", "*"), each with the set of address prefix
 * lengths bound under it; and groups (a name key and an address key) with
 * the forms of port and service bound there. A lookup walks the names in
 * precedence order, and for each only the prefix lengths that exist, one
 * group probe each: its cost depends on how many prefix lengths a name
 * uses, not on how many bindings there are.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store.h"

/* An open-addressing hash (linear probing, power-of-two size, at most
 * half full). Slots keep the hash next to the pointer, so that a probe
 * that does not match costs one cache line, not two. */
struct hslot {
    uint64_t hash;
    void *p;
};

struct hash {
    struct hslot *s;
    size_t cap, n;
};

struct nameinfo {
    int kind;
    int any;            /* an address "*" key */
    uint64_t hash;
    size_t count;       /* bindings under this name */
    uint64_t mask4;     /* bit p: an IPv4 key with prefix p (0-32) */
    uint64_t mask6[3];  /* bit p: an IPv6 key with prefix p (0-128) */
    char name[];        /* inline, one cache miss less; "" for "*" */
};

/* What is bound under one name key and one address key, by the forms of
 * port and service (index: port "*" * 2 + service "*"), so that a lookup
 * probes the whole keys only where a binding exists. */
struct group {
    /* first cache line: what a probe compares */
    const struct nameinfo *ni;
    struct mailssl__addr addr;
    uint32_t count[4];
    /* A form that holds exactly one binding keeps what a lookup needs of
     * it here (one[] NULL otherwise): the common case reads neither the
     * binding nor the whole-key hash. Port and service are compared only
     * in the forms where they are not "*". */
    uint16_t one_port[4];
    uint8_t one_service[4];
    /* second cache line */
    mailssl_credential *one_cred[4];
    struct mailssl__binding *one[4];
};

/* Groups start on a cache line: a probe then reads one line, a hit two
 * adjacent ones. */
#define GROUP_ALIGN 64
#define GROUP_SIZE                                                         \
    ((sizeof(struct group) + GROUP_ALIGN - 1) / GROUP_ALIGN * GROUP_ALIGN)

static int form_of(int port, int service)
{
    return (port == MAILSSL_PORT_ANY) * 2 + (service == MAILSSL_SERVICE_ANY);
}

/* Groups come from chunks of huge-page-backed memory (a lookup reads one
 * at random), removed ones go to a free list. */
struct chunk {
    struct chunk *next;
};

struct mailssl__table {
    struct mailssl__binding **list; /* insertion order */
    size_t n, cap;
    struct chunk *chunks;       /* group memory */
    char *chunk_next, *chunk_end;
    size_t chunk_size;          /* of the last chunk; doubles to 2 MiB */
    void *free_groups;          /* removed groups, linked through ni */
    struct hash keys;   /* whole key -> binding (duplicates, removal) */
    struct hash groups; /* name and address -> group (lookups) */
    struct hash names;  /* name key -> nameinfo */
    struct mailssl__listener *listeners;
    size_t nl, capl;
};

/* ---- hashing ---------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static uint64_t name_hash(int kind, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    if (name)
        for (; *name; name++)
            h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return mix(h, (uint64_t)kind);
}

static uint64_t group_hash(uint64_t nh, const struct mailssl__addr *a)
{
    uint64_t h = mix(nh, (uint64_t)(a->family * 256 + a->prefix));
    uint64_t w[2];
    memcpy(w, a->b, 16);
    h = mix(h, w[0]);
    return mix(h, w[1]);
}

static uint64_t key_hash(uint64_t gh, int port, int service)
{
    return mix(gh, ((uint64_t)(uint32_t)port << 8) | (uint64_t)service);
}

static int addr_eq(const struct mailssl__addr *a, const struct mailssl__addr *b)
{
    return a->family == b->family && a->prefix == b->prefix &&
           memcmp(a->b, b->b, 16) == 0;
}

static int name_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}


/* ---- hashes ------------------------------------------------------------ */

/* Zeroed slots. Large arrays ask for huge pages: a lookup reads a few
 * random slots of each hash, and with 4 KiB pages every one of them would
 * also miss the TLB. */
#define HUGE_PAGE (2u * 1024u * 1024u)
static struct hslot *slots_alloc(size_t n)
{
    size_t bytes = n * sizeof(struct hslot);
    void *p;
    if (bytes < HUGE_PAGE)
        return calloc(n, sizeof(struct hslot));
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: failure is fine */
    memset(p, 0, bytes);
    return p;
}

static int hash_init(struct hash *h)
{
    h->cap = 16;
    h->n = 0;
    h->s = slots_alloc(h->cap);
    return h->s ? 0 : MAILSSL_ERR_NOMEM;
}

/* Makes room for one more entry. */
static int hash_reserve(struct hash *h)
{
    size_t ncap, i, m;
    struct hslot *ns;

    if ((h->n + 1) * 2 <= h->cap)
        return 0;
    ncap = h->cap * 2;
    m = ncap - 1;
    if (!(ns = slots_alloc(ncap)))
        return MAILSSL_ERR_NOMEM;
    for (i = 0; i < h->cap; i++)
        if (h->s[i].p) {
            size_t j = (size_t)h->s[i].hash & m;
            while (ns[j].p)
                j = (j + 1) & m;
            ns[j] = h->s[i];
        }
    free(h->s);
    h->s = ns;
    h->cap = ncap;
    return 0;
}

/* Puts p in the empty slot i (found by a failed lookup). */
static void hash_put(struct hash *h, size_t i, uint64_t hash, void *p)
{
    h->s[i].hash = hash;
    h->s[i].p = p;
    h->n++;
}

/* Backward-shift deletion keeps linear probing free of tombstones. */
static void hash_delete(struct hash *h, size_t i)
{
    size_t m = h->cap - 1, j = i;
    for (;;) {
        size_t home;
        j = (j + 1) & m;
        if (!h->s[j].p)
            break;
        home = (size_t)h->s[j].hash & m;
        /* move slot j into the hole at i unless its home lies in (i, j] */
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            h->s[i] = h->s[j];
            i = j;
        }
    }
    h->s[i].p = NULL;
    h->s[i].hash = 0;
    h->n--;
}

static size_t find_name_slot(const struct mailssl__table *t, int kind,
                             const char *name, uint64_t h)
{
    const struct hash *hs = &t->names;
    size_t m = hs->cap - 1, i = (size_t)h & m;
    for (; hs->s[i].p; i = (i + 1) & m) {
        const struct nameinfo *ni = hs->s[i].p;
        if (hs->s[i].hash == h && ni->kind == kind &&
            (kind == MAILSSL__NAME_ANY || strcmp(ni->name, name) == 0))
            break;
    }
    return i;
}

static size_t find_group_slot(const struct mailssl__table *t,
                              const struct nameinfo *ni,
                              const struct mailssl__addr *a, uint64_t h)
{
    const struct hash *hs = &t->groups;
    size_t m = hs->cap - 1, i = (size_t)h & m;
    for (; hs->s[i].p; i = (i + 1) & m) {
        const struct group *g = hs->s[i].p;
        if (hs->s[i].hash == h && g->ni == ni && addr_eq(&g->addr, a))
            break;
    }
    return i;
}

static size_t find_key_slot(const struct mailssl__table *t, int kind,
                            const char *name, const struct mailssl__addr *a,
                            int port, int service, uint64_t h)
{
    const struct hash *hs = &t->keys;
    size_t m = hs->cap - 1, i = (size_t)h & m;
    for (; hs->s[i].p; i = (i + 1) & m) {
        const struct mailssl__binding *b = hs->s[i].p;
        if (hs->s[i].hash == h && b->port == port && b->service == service &&
            b->name_kind == kind && addr_eq(&b->addr, a) &&
            name_eq(b->name, name))
            break;
    }
    return i;
}

/* ---- tables ------------------------------------------------------------ */

struct mailssl__table *mailssl__table_new(void)
{
    struct mailssl__table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (hash_init(&t->keys) < 0 || hash_init(&t->groups) < 0 ||
        hash_init(&t->names) < 0) {
        mailssl__table_free(t);
        return NULL;
    }
    return t;
}

static void binding_free(struct mailssl__binding *b)
{
    if (!b)
        return;
    mailssl_credential_free(b->cred);
    free(b->name);
    free(b->origin);
    free(b);
}

#define CHUNK_SIZE HUGE_PAGE

static struct group *group_alloc(struct mailssl__table *t)
{
    struct group *g;
    if (t->free_groups) {
        g = t->free_groups;
        t->free_groups = *(void **)g;
    } else {
        if (!t->chunks || t->chunk_next + GROUP_SIZE > t->chunk_end) {
            /* small tables stay small: 8 KiB first, doubling */
            size_t size = t->chunk_size ? t->chunk_size * 2 : 8192;
            void *p;
            if (size > CHUNK_SIZE)
                size = CHUNK_SIZE;
            if (posix_memalign(&p, size, size) != 0)
                return NULL;
            if (size == CHUNK_SIZE)
                madvise(p, size, MADV_HUGEPAGE); /* advice only */
            ((struct chunk *)p)->next = t->chunks;
            t->chunks = p;
            t->chunk_size = size;
            /* the chunk header takes the first group's place */
            t->chunk_next = (char *)p + GROUP_SIZE;
            t->chunk_end = (char *)p + size;
        }
        g = (struct group *)t->chunk_next;
        t->chunk_next += GROUP_SIZE;
    }
    memset(g, 0, sizeof *g);
    return g;
}

static void group_free(struct mailssl__table *t, struct group *g)
{
    *(void **)g = t->free_groups;
    t->free_groups = g;
}

static void nameinfo_free(struct nameinfo *ni)
{
    free(ni);
}

void mailssl__table_free(struct mailssl__table *t)
{
    size_t i;
    if (!t)
        return;
    for (i = 0; i < t->n; i++)
        binding_free(t->list[i]);
    while (t->chunks) {
        struct chunk *c = t->chunks;
        t->chunks = c->next;
        free(c);
    }
    for (i = 0; t->names.s && i < t->names.cap; i++)
        if (t->names.s[i].p)
            nameinfo_free(t->names.s[i].p);
    for (i = 0; i < t->nl; i++)
        free(t->listeners[i].origin);
    free(t->listeners);
    free(t->list);
    free(t->keys.s);
    free(t->groups.s);
    free(t->names.s);
    free(t);
}

size_t mailssl__table_count(const struct mailssl__table *t)
{
    return t ? t->n : 0;
}

const struct mailssl__binding *
mailssl__table_binding(const struct mailssl__table *t, size_t i)
{
    return t && i < t->n ? t->list[i] : NULL;
}

size_t mailssl__table_listener_count(const struct mailssl__table *t)
{
    return t ? t->nl : 0;
}

const struct mailssl__listener *
mailssl__table_listener(const struct mailssl__table *t, size_t i)
{
    return t && i < t->nl ? &t->listeners[i] : NULL;
}

static void mask_set(struct nameinfo *ni, const struct mailssl__addr *a)
{
    if (a->family == 0)
        ni->any = 1;
    else if (a->family == 4)
        ni->mask4 |= 1ull << a->prefix;
    else
        ni->mask6[a->prefix / 64] |= 1ull << (a->prefix % 64);
}

/* The name entry of a key, made when absent. */
static struct nameinfo *name_get(struct mailssl__table *t, int kind,
                                 const char *name, uint64_t nh)
{
    size_t i = find_name_slot(t, kind, name, nh);
    struct nameinfo *ni = t->names.s[i].p;
    if (ni)
        return ni;
    if (hash_reserve(&t->names) < 0)
        return NULL;
    ni = calloc(1, sizeof *ni + (name ? strlen(name) : 0) + 1);
    if (!ni)
        return NULL;
    if (name)
        memcpy(ni->name, name, strlen(name) + 1);
    ni->kind = kind;
    ni->hash = nh;
    hash_put(&t->names, find_name_slot(t, kind, name, nh), nh, ni);
    return ni;
}

/* Counts binding b of a form into g (added non-NULL) or out of it (NULL,
 * b already out of the list), and keeps g->one[form] right. */
static void group_count(const struct mailssl__table *t, struct group *g,
                        int form, struct mailssl__binding *added)
{
    size_t i;
    struct mailssl__binding *one = NULL;

    g->count[form] = added ? g->count[form] + 1 : g->count[form] - 1;
    if (g->count[form] == 1 && added)
        one = added;
    /* a removal that left one: find it (removals are O(n) anyway) */
    for (i = t->n; g->count[form] == 1 && !one && i-- > 0;)
        if (t->list[i]->group == g &&
            form_of(t->list[i]->port, t->list[i]->service) == form)
            one = t->list[i];
    g->one[form] = one;
    g->one_port[form] = (uint16_t)(one && one->port > 0 ? one->port : 0);
    g->one_service[form] = (uint8_t)(one ? one->service : 0);
    g->one_cred[form] = one ? one->cred : NULL;
}

/* The group of a name and address, made when absent. */
static struct group *group_get(struct mailssl__table *t,
                               const struct nameinfo *ni,
                               const struct mailssl__addr *a, uint64_t gh)
{
    size_t i = find_group_slot(t, ni, a, gh);
    struct group *g = t->groups.s[i].p;
    if (g)
        return g;
    if (hash_reserve(&t->groups) < 0 ||
        !(g = group_alloc(t)))
        return NULL;
    g->ni = ni;
    g->addr = *a;
    hash_put(&t->groups, find_group_slot(t, ni, a, gh), gh, g);
    return g;
}

int mailssl__table_add(struct mailssl__table *t, int service,
                       const struct mailssl__addr *a, int port, int name_kind,
                       const char *name, mailssl_credential *cred,
                       const char *origin,
                       const struct mailssl__binding **dup)
{
    uint64_t nh = name_hash(name_kind, name);
    uint64_t gh = group_hash(nh, a);
    uint64_t h = key_hash(gh, port, service);
    struct mailssl__binding *b;
    struct nameinfo *ni;
    struct group *g;
    size_t i;

    if (dup)
        *dup = NULL;
    i = find_key_slot(t, name_kind, name, a, port, service, h);
    if (t->keys.s[i].p) {
        if (dup)
            *dup = t->keys.s[i].p;
        return MAILSSL_ERR_DUPLICATE;
    }
    if (hash_reserve(&t->keys) < 0)
        return MAILSSL_ERR_NOMEM;
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        void *p = realloc(t->list, ncap * sizeof *t->list);
        if (!p)
            return MAILSSL_ERR_NOMEM;
        t->list = p;
        t->cap = ncap;
    }
    /* an empty name or group left behind by a failure here is harmless:
     * lookups skip it and the table frees it */
    if (!(ni = name_get(t, name_kind, name, nh)) ||
        !(g = group_get(t, ni, a, gh)))
        return MAILSSL_ERR_NOMEM;
    b = calloc(1, sizeof *b);
    if (!b)
        return MAILSSL_ERR_NOMEM;
    b->service = service;
    b->port = port;
    b->name_kind = name_kind;
    b->addr = *a;
    b->hash = h;
    b->name = mailssl__strdup(name);
    b->origin = mailssl__strdup(origin);
    if ((name && !b->name) || (origin && !b->origin)) {
        binding_free(b);
        return MAILSSL_ERR_NOMEM;
    }
    b->cred = mailssl__credential_ref(cred);
    b->group = g;
    ni->count++;
    mask_set(ni, a);
    t->list[t->n++] = b;
    group_count(t, g, form_of(port, service), b);
    hash_put(&t->keys, find_key_slot(t, name_kind, name, a, port, service, h),
             h, b);
    return MAILSSL_OK;
}

int mailssl__table_remove(struct mailssl__table *t, int service,
                          const struct mailssl__addr *a, int port, int kind,
                          const char *name)
{
    uint64_t nh = name_hash(kind, name);
    uint64_t gh = group_hash(nh, a);
    uint64_t h = key_hash(gh, port, service);
    size_t i = find_key_slot(t, kind, name, a, port, service, h), k;
    struct mailssl__binding *b = t->keys.s[i].p;
    struct nameinfo *ni;
    struct group *g;

    if (!b)
        return MAILSSL_ERR_NOT_FOUND;
    hash_delete(&t->keys, i);
    for (k = 0; k < t->n && t->list[k] != b; k++)
        ;
    memmove(&t->list[k], &t->list[k + 1], (t->n - k - 1) * sizeof *t->list);
    t->n--;
    i = find_name_slot(t, kind, name, nh);
    ni = t->names.s[i].p;
    k = find_group_slot(t, ni, a, gh);
    g = t->groups.s[k].p;
    if (g) {
        group_count(t, g, form_of(port, service), NULL);
        if (!g->count[0] && !g->count[1] && !g->count[2] && !g->count[3]) {
            hash_delete(&t->groups, k);
            group_free(t, g);
        }
    }
    /* a stale prefix bit only costs one probe; the count frees the name */
    if (ni && --ni->count == 0) {
        hash_delete(&t->names, find_name_slot(t, kind, name, nh));
        nameinfo_free(ni);
    }
    binding_free(b);
    return MAILSSL_OK;
}

int mailssl__table_add_listener(struct mailssl__table *t, int service,
                                const struct mailssl__addr *a, int port,
                                const char *origin,
                                const struct mailssl__listener **dup)
{
    size_t i;
    struct mailssl__listener *l;

    if (dup)
        *dup = NULL;
    for (i = 0; i < t->nl; i++)
        if (t->listeners[i].service == service &&
            t->listeners[i].port == port && addr_eq(&t->listeners[i].addr, a)) {
            if (dup)
                *dup = &t->listeners[i];
            return MAILSSL_ERR_DUPLICATE;
        }
    if (t->nl == t->capl) {
        size_t ncap = t->capl ? t->capl * 2 : 8;
        void *p = realloc(t->listeners, ncap * sizeof *t->listeners);
        if (!p)
            return MAILSSL_ERR_NOMEM;
        t->listeners = p;
        t->capl = ncap;
    }
    l = &t->listeners[t->nl];
    memset(l, 0, sizeof *l);
    l->service = service;
    l->port = port;
    l->addr = *a;
    if (origin && !(l->origin = mailssl__strdup(origin)))
        return MAILSSL_ERR_NOMEM;
    t->nl++;
    return MAILSSL_OK;
}

struct mailssl__table *mailssl__table_copy(const struct mailssl__table *from)
{
    struct mailssl__table *t = mailssl__table_new();
    size_t i;
    if (!t)
        return NULL;
    for (i = 0; from && i < from->n; i++) {
        const struct mailssl__binding *b = from->list[i];
        if (mailssl__table_add(t, b->service, &b->addr, b->port, b->name_kind,
                               b->name, b->cred, b->origin, NULL) < 0)
            goto fail;
    }
    for (i = 0; from && i < from->nl; i++) {
        const struct mailssl__listener *l = &from->listeners[i];
        if (mailssl__table_add_listener(t, l->service, &l->addr, l->port,
                                        l->origin, NULL) < 0)
            goto fail;
    }
    return t;
fail:
    mailssl__table_free(t);
    return NULL;
}

static void prefetch_slot(const struct hash *h, uint64_t hash)
{
    __builtin_prefetch(&h->s[(size_t)hash & (h->cap - 1)]);
}

/* Second wave: what the home slot points to (most keys sit in their home
 * slot). */
static void prefetch_entry(const struct hash *h, uint64_t hash)
{
    const struct hslot *sl = &h->s[(size_t)hash & (h->cap - 1)];
    if (sl->p && sl->hash == hash)
        __builtin_prefetch(sl->p);
}

/* ---- lookup ------------------------------------------------------------ */

/* The best binding of a group for a port and service: port first, then
 * service (SPEC.md section 3); whole-key probes only for the forms that
 * the group holds. */
static const struct mailssl__binding *
best_in_group(const struct mailssl__table *t, const struct group *g,
              uint64_t gh, int port, int service, mailssl_credential **credp)
{
    int form;
    for (form = 0; form < 4; form++) {
        int p = form & 2 ? MAILSSL_PORT_ANY : port;
        int sv = form & 1 ? MAILSSL_SERVICE_ANY : service;
        const struct hash *hs = &t->keys;
        uint64_t h;
        size_t m, i;
        if (!g->count[form])
            continue;
        if (g->one[form]) {
            if (((form & 2) || g->one_port[form] == p) &&
                ((form & 1) || g->one_service[form] == sv)) {
                *credp = g->one_cred[form];
                return g->one[form];
            }
            continue;
        }
        /* the group already matched the name and address */
        h = key_hash(gh, p, sv);
        m = hs->cap - 1;
        for (i = (size_t)h & m; hs->s[i].p; i = (i + 1) & m) {
            const struct mailssl__binding *b = hs->s[i].p;
            if (hs->s[i].hash == h && b->group == g && b->port == p &&
                b->service == sv) {
                *credp = b->cred;
                return b;
            }
        }
    }
    return NULL;
}

/* Highest set bit of the prefix mask below 'below', or -1. */
static int next_prefix(const struct nameinfo *ni, int family, int below)
{
    if (family == 4) {
        uint64_t m = ni->mask4 & (below >= 64 ? ~0ull : ((1ull << below) - 1));
        return m ? 63 - __builtin_clzll(m) : -1;
    }
    while (below > 0) {
        int w = (below - 1) / 64, top = (below - 1) % 64;
        uint64_t m = ni->mask6[w] & (top == 63 ? ~0ull : ((2ull << top) - 1));
        if (m)
            return w * 64 + 63 - __builtin_clzll(m);
        below = w * 64;
    }
    return -1;
}

static const struct mailssl__binding *
probe_group(const struct mailssl__table *t, const struct nameinfo *ni,
            const struct mailssl__addr *a, uint64_t gh, int port,
            int service, mailssl_credential **credp)
{
    const struct group *g = t->groups.s[find_group_slot(t, ni, a, gh)].p;
    return g ? best_in_group(t, g, gh, port, service, credp) : NULL;
}

static const struct mailssl__binding *
probe_name(const struct mailssl__table *t, const struct nameinfo *ni,
           const struct mailssl__addr *addr, int port, int service,
           mailssl_credential **credp)
{
    const struct mailssl__binding *b;
    struct mailssl__addr cand[130];
    uint64_t gh[130];
    int p = addr->prefix + 1, n = 0, i;

    /* An exact address walks every prefix present, longest first, then
     * "*"; a family default (listener audit) only matches the family
     * default and "*". The candidates' group slots are all requested
     * before the first is read. */
    while ((p = next_prefix(ni, addr->family, p)) >= 0) {
        cand[n] = *addr;
        cand[n].prefix = p;
        mailssl__clear_host_bits(&cand[n]);
        n++;
    }
    if (ni->any)
        memset(&cand[n++], 0, sizeof cand[0]);
    for (i = 0; i < n; i++) {
        gh[i] = group_hash(ni->hash, &cand[i]);
        prefetch_slot(&t->groups, gh[i]);
    }
    for (i = 0; i < n; i++)
        if ((b = probe_group(t, ni, &cand[i], gh[i], port, service, credp)))
            return b;
    return NULL;
}

static const struct nameinfo *find_name_h(const struct mailssl__table *t,
                                          int kind, const char *name,
                                          uint64_t h)
{
    return t->names.s[find_name_slot(t, kind, name, h)].p;
}


const struct mailssl__binding *
mailssl__table_lookup(const struct mailssl__table *t, int service,
                      const struct mailssl__addr *addr, int port,
                      const char *sni, int strict, int *miss,
                      mailssl_credential **cred)
{
    mailssl_credential *dummy;
    mailssl_credential **credp = cred ? cred : &dummy;
    const struct nameinfo *ni;
    const struct mailssl__binding *b;
    const char *dot = sni ? strchr(sni, '.') : NULL;
    uint64_t hexact = 0, hwild = 0, hany = name_hash(MAILSSL__NAME_ANY, NULL);
    static const struct mailssl__addr star;

    *miss = MAILSSL__MISS_NONE;
    /* Start the likely memory reads together rather than one after the
     * other: the name slots, and the group slots of the exact address and
     * of "*". In a large table each is a cache miss. */
    prefetch_slot(&t->names, hany);
    prefetch_slot(&t->groups, group_hash(hany, addr));
    if (sni) {
        hexact = name_hash(MAILSSL__NAME_EXACT, sni);
        prefetch_slot(&t->names, hexact);
        prefetch_slot(&t->groups, group_hash(hexact, addr));
        if (dot) {
            hwild = name_hash(MAILSSL__NAME_WILD, dot + 1);
            prefetch_slot(&t->names, hwild);
            prefetch_slot(&t->groups, group_hash(hwild, &star));
        }
    }
    prefetch_entry(&t->names, hany);
    if (sni) {
        prefetch_entry(&t->names, hexact);
        prefetch_entry(&t->groups, group_hash(hexact, addr));
        if (dot) {
            prefetch_entry(&t->names, hwild);
            prefetch_entry(&t->groups, group_hash(hwild, &star));
        }
    }
    if (sni) {
        /* the most specific key there can be, exact name and exact
         * address, straight from the group table: the name's entry is
         * needed only when this misses */
        uint64_t gh = group_hash(hexact, addr);
        const struct hash *hs = &t->groups;
        size_t m = hs->cap - 1, i;
        for (i = (size_t)gh & m; hs->s[i].p; i = (i + 1) & m) {
            const struct group *g = hs->s[i].p;
            if (hs->s[i].hash == gh && g->ni->kind == MAILSSL__NAME_EXACT &&
                addr_eq(&g->addr, addr) && strcmp(g->ni->name, sni) == 0) {
                if ((b = best_in_group(t, g, gh, port, service, credp)))
                    return b;
                break;
            }
        }
        if ((ni = find_name_h(t, MAILSSL__NAME_EXACT, sni, hexact)) &&
            (b = probe_name(t, ni, addr, port, service, credp)))
            return b;
        if (dot && (ni = find_name_h(t, MAILSSL__NAME_WILD, dot + 1, hwild)) &&
            (b = probe_name(t, ni, addr, port, service, credp)))
            return b;
        if (strict) {
            *miss = MAILSSL__MISS_UNKNOWN_NAME;
            return NULL;
        }
    }
    if ((ni = find_name_h(t, MAILSSL__NAME_ANY, NULL, hany)) &&
        (b = probe_name(t, ni, addr, port, service, credp)))
        return b;
    *miss = MAILSSL__MISS_NO_BINDING;
    return NULL;
}
