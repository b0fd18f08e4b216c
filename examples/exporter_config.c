/*
 * exporter_config.c - the modules file of mailssl-exporter (all or
 * nothing, errors as FILE:LINE:COLUMN) and its target allow-list.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "exporter_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 80

struct field {
    char *s;
    int col; /* 1-based */
};

struct parser {
    const char *name;
    const char *basedir;
    int line;
    mailssl_probe *scratch; /* takes every setting, so the library checks */
    struct ec_config c;
    char *err;
    size_t errlen;
};

static void set_err(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!err || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static int fail(struct parser *p, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, int col, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set_err(p->err, p->errlen, "%s:%d:%d: %s", p->name, p->line, col, msg);
    return -1;
}

static void module_clear(struct ec_module *m)
{
    size_t i;

    free(m->cafile);
    free(m->servername);
    free(m->connect_to);
    free(m->min_version);
    free(m->priority);
    for (i = 0; i < m->ntlsa; i++)
        free(m->tlsa[i].data);
    free(m->tlsa);
    memset(m, 0, sizeof(*m));
}

void ec_free(struct ec_config *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->nmodules; i++)
        module_clear(&c->modules[i]);
    free(c->modules);
    free(c->allow);
    memset(c, 0, sizeof(*c));
}

static void module_defaults(struct ec_module *m, const char *name)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->timeout_ms = 10000;
    m->warn_days = 30;
    m->crit_days = 7;
}

static struct ec_module *add_module(struct ec_config *c)
{
    struct ec_module *m =
        realloc(c->modules, (c->nmodules + 1) * sizeof(*c->modules));
    if (!m)
        return NULL;
    c->modules = m;
    return &c->modules[c->nmodules++];
}

int ec_init_default(struct ec_config *c)
{
    struct ec_module *m;

    memset(c, 0, sizeof(*c));
    m = add_module(c);
    if (!m)
        return -1;
    module_defaults(m, "default");
    return 0;
}

const struct ec_module *ec_find(const struct ec_config *c, const char *name)
{
    size_t i;

    for (i = 0; c && name && i < c->nmodules; i++)
        if (strcmp(c->modules[i].name, name) == 0)
            return &c->modules[i];
    return NULL;
}

/* ---- applying a module ------------------------------------------------ */

static int checked(int rc, const mailssl_probe *p, const char *what,
                   char *err, size_t n)
{
    if (rc >= 0)
        return 0;
    set_err(err, n, "%s: %s", what,
            mailssl_probe_error(p)[0] ? mailssl_probe_error(p)
                                      : mailssl_strerror(rc));
    return -1;
}

int ec_apply(const struct ec_module *m, mailssl_probe *p, char *err,
             size_t n)
{
    size_t i;

    if (m->cafile &&
        checked(mailssl_probe_set_cafile(p, m->cafile), p, "cafile", err, n))
        return -1;
    if (m->servername &&
        checked(mailssl_probe_set_servername(p, m->servername), p,
                "servername", err, n))
        return -1;
    if (m->connect_to &&
        checked(mailssl_probe_set_connect_to(p, m->connect_to), p,
                "connect-to", err, n))
        return -1;
    if (m->min_version &&
        checked(mailssl_probe_set_min_version(p, m->min_version), p,
                "min-version", err, n))
        return -1;
    if (m->priority &&
        checked(mailssl_probe_set_priority(p, m->priority), p, "priority",
                err, n))
        return -1;
    if (checked(mailssl_probe_set_family(p, m->family), p, "family", err,
                n) ||
        checked(mailssl_probe_set_timeout_ms(p, m->timeout_ms), p,
                "timeout", err, n) ||
        checked(mailssl_probe_set_days(p, m->warn_days, m->crit_days), p,
                "warn/crit", err, n))
        return -1;
    for (i = 0; i < m->ntlsa; i++) {
        const struct ec_tlsa *t = &m->tlsa[i];
        if (checked(mailssl_probe_add_tlsa(p, t->usage, t->selector,
                                           t->matching_type, t->data,
                                           t->len),
                    p, "tlsa", err, n))
            return -1;
    }
    return 0;
}

/* ---- option values ---------------------------------------------------- */

static int dup_value(struct parser *p, int col, char **dst, const char *v)
{
    if (*dst)
        return fail(p, col, "option given twice");
    *dst = strdup(v);
    if (!*dst)
        return fail(p, col, "out of memory");
    return 0;
}

/* The library's verdict on a setting just stored in m. */
static int library_check(struct parser *p, int col, int rc)
{
    if (rc >= 0)
        return 0;
    return fail(p, col, "%s",
                mailssl_probe_error(p->scratch)[0]
                    ? mailssl_probe_error(p->scratch)
                    : mailssl_strerror(rc));
}

/* A string option: stored once, then handed to the library's setter on
 * the scratch probe. */
static int set_checked(struct parser *p, int col, int vcol, char **dst,
                       const char *v,
                       int (*setter)(mailssl_probe *, const char *))
{
    if (dup_value(p, col, dst, v) < 0)
        return -1;
    return library_check(p, vcol, setter(p->scratch, v));
}

static int parse_days(struct parser *p, int col, const char *opt,
                      const char *v, int *out)
{
    char *end;
    long d;

    errno = 0;
    d = strtol(v, &end, 10);
    if (!*v || *end || errno || d < 0 || d > 36500)
        return fail(p, col, "%s: '%s' is not a whole number of days from 0 "
                            "to 36500", opt, v);
    *out = (int)d;
    return 0;
}

static int parse_timeout(struct parser *p, int col, const char *v,
                         int32_t *out)
{
    char *end;
    double s;

    errno = 0;
    s = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(s) || s <= 0 ||
        s > EC_MAX_TIMEOUT_S)
        return fail(p, col, "timeout: '%s' is not a number of seconds above "
                            "0 and at most %d", v, EC_MAX_TIMEOUT_S);
    *out = (int32_t)ceil(s * 1000.0);
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* tlsa=USAGE:SELECTOR:MTYPE:HEX */
static int parse_tlsa(struct parser *p, int col, const char *v,
                      struct ec_module *m)
{
    struct ec_tlsa t, *grown;
    const char *hex;
    char *end;
    long f[3];
    size_t len, i;
    int k;

    hex = v;
    for (k = 0; k < 3; k++) {
        errno = 0;
        f[k] = strtol(hex, &end, 10);
        if (end == hex || *end != ':' || errno || f[k] < 0 || f[k] > 255 ||
            !isdigit((unsigned char)*hex))
            return fail(p, col, "tlsa: '%s' is not USAGE:SELECTOR:MTYPE:HEX "
                                "(three numbers 0-255, then hex data)", v);
        hex = end + 1;
    }
    len = strlen(hex);
    if (len == 0 || len % 2)
        return fail(p, col + (int)(hex - v),
                    "tlsa: the data must be an even, non-zero number of hex "
                    "digits");
    memset(&t, 0, sizeof(t));
    t.usage = (int)f[0];
    t.selector = (int)f[1];
    t.matching_type = (int)f[2];
    t.len = len / 2;
    t.data = malloc(t.len);
    if (!t.data)
        return fail(p, col, "out of memory");
    for (i = 0; i < t.len; i++) {
        int hi = hexval((unsigned char)hex[2 * i]);
        int lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(t.data);
            return fail(p, col + (int)(hex - v) + (int)(2 * i) +
                               (hi < 0 ? 0 : 1),
                        "tlsa: not a hex digit");
        }
        t.data[i] = (unsigned char)(hi << 4 | lo);
    }
    if (library_check(p, col, mailssl_probe_add_tlsa(
                                  p->scratch, t.usage, t.selector,
                                  t.matching_type, t.data, t.len)) < 0) {
        free(t.data);
        return -1;
    }
    grown = realloc(m->tlsa, (m->ntlsa + 1) * sizeof(*m->tlsa));
    if (!grown) {
        free(t.data);
        return fail(p, col, "out of memory");
    }
    m->tlsa = grown;
    m->tlsa[m->ntlsa++] = t;
    return 0;
}

/* A relative cafile is relative to the directory of the modules file. */
static int parse_cafile(struct parser *p, int col, const char *v,
                        struct ec_module *m)
{
    mailssl_validator *val;
    char path[4096];
    int rc;

    if (v[0] != '/' && p->basedir)
        snprintf(path, sizeof(path), "%s/%s", p->basedir, v);
    else
        snprintf(path, sizeof(path), "%s", v);
    if (dup_value(p, col, &m->cafile, path) < 0)
        return -1;
    /* loaded once now, so that a bad file is a load error, not a failed
     * probe later */
    val = mailssl_validator_new();
    if (!val)
        return fail(p, col, "out of memory");
    rc = mailssl_validator_set_cafile(val, path);
    if (rc < 0) {
        fail(p, col, "cafile: %s",
             mailssl_validator_error(val)[0] ? mailssl_validator_error(val)
                                             : mailssl_strerror(rc));
        mailssl_validator_free(val);
        return -1;
    }
    mailssl_validator_free(val);
    return library_check(p, col, mailssl_probe_set_cafile(p->scratch, path));
}

static int parse_option(struct parser *p, const struct field *f,
                        struct ec_module *m, int *days_col)
{
    char *eq = strchr(f->s, '=');
    const char *v;
    int vcol;

    if (!eq || eq == f->s)
        return fail(p, f->col, "'%s' is not OPTION=VALUE", f->s);
    *eq = '\0';
    v = eq + 1;
    vcol = f->col + (int)(v - f->s);
    if (!*v)
        return fail(p, vcol, "%s: empty value", f->s);
    if (strcmp(f->s, "cafile") == 0)
        return parse_cafile(p, vcol, v, m);
    if (strcmp(f->s, "servername") == 0)
        return set_checked(p, f->col, vcol, &m->servername, v,
                           mailssl_probe_set_servername);
    if (strcmp(f->s, "connect-to") == 0)
        return set_checked(p, f->col, vcol, &m->connect_to, v,
                           mailssl_probe_set_connect_to);
    if (strcmp(f->s, "min-version") == 0)
        return set_checked(p, f->col, vcol, &m->min_version, v,
                           mailssl_probe_set_min_version);
    if (strcmp(f->s, "priority") == 0)
        return set_checked(p, f->col, vcol, &m->priority, v,
                           mailssl_probe_set_priority);
    if (strcmp(f->s, "timeout") == 0)
        return parse_timeout(p, vcol, v, &m->timeout_ms);
    if (strcmp(f->s, "warn") == 0 || strcmp(f->s, "crit") == 0) {
        /* crit > warn is reported at the later of the two */
        *days_col = f->col;
        return parse_days(p, vcol, f->s, v,
                          f->s[0] == 'w' ? &m->warn_days : &m->crit_days);
    }
    if (strcmp(f->s, "family") == 0) {
        if (strcmp(v, "any") == 0)
            m->family = 0;
        else if (strcmp(v, "4") == 0 || strcmp(v, "6") == 0)
            m->family = v[0] - '0';
        else
            return fail(p, vcol, "family: '%s' is not one of any, 4, 6", v);
        return 0;
    }
    if (strcmp(f->s, "tlsa") == 0)
        return parse_tlsa(p, vcol, v, m);
    return fail(p, f->col,
                "unknown option '%s' (cafile, servername, connect-to, "
                "timeout, warn, crit, min-version, priority, family, tlsa)",
                f->s);
}

static int valid_module_name(const char *s)
{
    size_t n = 0;

    for (; *s; s++, n++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' &&
            *s != '.')
            return 0;
    return n >= 1 && n <= EC_MAX_NAME;
}

static int parse_module(struct parser *p, struct field *f, int nf)
{
    struct ec_module *m;
    int i, days_col = 0;

    if (nf < 2)
        return fail(p, f[0].col + (int)strlen(f[0].s) + 1,
                    "module: a name is needed");
    if (!valid_module_name(f[1].s))
        return fail(p, f[1].col,
                    "module name '%s': 1 to %d letters, digits, '_', '-' or "
                    "'.'", f[1].s, EC_MAX_NAME);
    for (i = 0; i < (int)p->c.nmodules; i++)
        if (strcmp(p->c.modules[i].name, f[1].s) == 0)
            return fail(p, f[1].col, "module '%s' already defined at line %d",
                        f[1].s, p->c.modules[i].line);
    if (p->c.nmodules >= EC_MAX_MODULES)
        return fail(p, f[1].col, "more than %d modules", EC_MAX_MODULES);
    m = add_module(&p->c);
    if (!m)
        return fail(p, f[1].col, "out of memory");
    module_defaults(m, f[1].s);
    m->line = p->line;
    mailssl_probe_free(p->scratch);
    p->scratch = mailssl_probe_new("imaps://127.0.0.1");
    if (!p->scratch)
        return fail(p, f[1].col, "out of memory");
    for (i = 2; i < nf; i++)
        if (parse_option(p, &f[i], m, &days_col) < 0)
            return -1;
    if (m->crit_days > m->warn_days)
        return fail(p, days_col ? days_col : f[1].col,
                    "crit (%d days) must not exceed warn (%d days)",
                    m->crit_days, m->warn_days);
    return 0;
}

static int parse_allow(struct parser *p, struct field *f, int nf)
{
    struct ec_allow *grown;
    char msg[512];

    if (nf != 2)
        return fail(p, nf < 2 ? f[0].col + (int)strlen(f[0].s) + 1 : f[2].col,
                    "allow: exactly one address, CIDR block, host name, "
                    "*.domain or *");
    if (p->c.nallow >= EC_MAX_ALLOW)
        return fail(p, f[1].col, "more than %d allow lines", EC_MAX_ALLOW);
    grown = realloc(p->c.allow, (p->c.nallow + 1) * sizeof(*p->c.allow));
    if (!grown)
        return fail(p, f[1].col, "out of memory");
    p->c.allow = grown;
    if (ec_allow_parse(f[1].s, &p->c.allow[p->c.nallow], msg,
                       sizeof(msg)) < 0)
        return fail(p, f[1].col, "%s", msg);
    p->c.nallow++;
    return 0;
}

/* Splits a line in place at blanks; stops at a field starting with '#'. */
static int split(char *line, struct field *f, int max)
{
    char *s = line;
    int n = 0;

    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == max)
            return -1;
        f[n].s = s;
        f[n].col = (int)(s - line) + 1;
        n++;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

static int parse_line(struct parser *p, char *line)
{
    struct field f[MAX_FIELDS];
    int nf;
    const unsigned char *c;

    for (c = (const unsigned char *)line; *c; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return fail(p, (int)(c - (const unsigned char *)line) + 1,
                        "control character 0x%02x", *c);
    nf = split(line, f, MAX_FIELDS);
    if (nf < 0)
        return fail(p, 1, "more than %d fields", MAX_FIELDS);
    if (nf == 0)
        return 0;
    if (strcmp(f[0].s, "module") == 0)
        return parse_module(p, f, nf);
    if (strcmp(f[0].s, "allow") == 0)
        return parse_allow(p, f, nf);
    return fail(p, f[0].col, "unknown directive '%s' (module, allow)",
                f[0].s);
}

int ec_load_string(struct ec_config *c, const char *text, const char *name,
                   const char *basedir, char *err, size_t errlen)
{
    struct parser p;
    char line[EC_MAX_LINE + 1];
    const char *s = text;
    int rc = 0;

    memset(&p, 0, sizeof(p));
    p.name = name ? name : "(string)";
    p.basedir = basedir;
    p.err = err;
    p.errlen = errlen;
    if (!text) {
        set_err(err, errlen, "%s: no text", p.name);
        return -1;
    }
    while (*s && rc == 0) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);

        p.line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (len > EC_MAX_LINE) {
            rc = fail(&p, EC_MAX_LINE + 1, "line longer than %d bytes",
                      EC_MAX_LINE);
            break;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        rc = parse_line(&p, line);
        s = nl ? nl + 1 : s + strlen(s);
    }
    mailssl_probe_free(p.scratch);
    if (rc == 0 && !ec_find(&p.c, "default")) {
        struct ec_module *m = add_module(&p.c);
        if (!m) {
            set_err(err, errlen, "%s: out of memory", p.name);
            rc = -1;
        } else {
            module_defaults(m, "default");
        }
    }
    if (rc < 0) {
        ec_free(&p.c);
        return -1;
    }
    *c = p.c;
    return 0;
}

int ec_load_file(struct ec_config *c, const char *path, char *err,
                 size_t errlen)
{
    char *text = NULL, *dir = NULL, *slash;
    size_t len = 0;
    FILE *f;
    int rc;

    f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(EC_MAX_FILE + 1);
    if (text)
        len = fread(text, 1, EC_MAX_FILE + 1, f);
    if (!text || ferror(f) || len > EC_MAX_FILE) {
        set_err(err, errlen, "%s: %s", path,
                !text ? "out of memory"
                : len > EC_MAX_FILE ? "larger than 1 MiB"
                                    : "read error");
        fclose(f);
        free(text);
        return -1;
    }
    fclose(f);
    text[len] = '\0';
    if (strlen(text) != len) {
        size_t i, line = 1, col = 1;
        for (i = 0; text[i]; i++) {
            col++;
            if (text[i] == '\n') {
                line++;
                col = 1;
            }
        }
        set_err(err, errlen, "%s:%zu:%zu: NUL byte", path, line, col);
        free(text);
        return -1;
    }
    dir = strdup(path);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    rc = ec_load_string(c, text, path, slash ? (dir[0] ? dir : "/") : NULL,
                        err, errlen);
    free(dir);
    free(text);
    return rc;
}

/* ---- allow-list ------------------------------------------------------- */

/* Addresses as 16 bytes; IPv4 and IPv4-mapped IPv6 as family 4 in the
 * first 4 bytes. Returns 4, 6 or 0 when text is no address. */
static int parse_address(const char *text, unsigned char out[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0xff, 0xff};
    unsigned char a6[16];

    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, a6) == 1) {
        if (memcmp(a6, mapped, 12) == 0) {
            memcpy(out, a6 + 12, 4);
            return 4;
        }
        memcpy(out, a6, 16);
        return 6;
    }
    return 0;
}

int ec_address_family(const char *text)
{
    unsigned char addr[16];

    return parse_address(text, addr);
}

static int valid_host_name(const char *s)
{
    size_t label = 0, total = 0;
    char prev = '.';

    for (; *s; s++, total++) {
        unsigned char c = (unsigned char)*s;
        if (c == '.') {
            if (label == 0 || prev == '-')
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (label == 0 && c == '-')
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
        prev = (char)c;
    }
    return total > 0 && total <= 253 && prev != '-' && prev != '.';
}

/* Lower case, without one trailing dot; 0 when it does not fit. */
static int normalize_name(const char *in, char *out, size_t n)
{
    size_t len = strlen(in), i;

    if (len && in[len - 1] == '.')
        len--;
    if (len >= n)
        return 0;
    for (i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[len] = '\0';
    return 1;
}

int ec_allow_parse(const char *text, struct ec_allow *a, char *err,
                   size_t errlen)
{
    char addr[64];
    const char *slash;

    memset(a, 0, sizeof(*a));
    if (!text || !*text) {
        set_err(err, errlen, "empty allow-list entry");
        return -1;
    }
    if (strcmp(text, "*") == 0) {
        a->kind = EC_ALLOW_ANY;
        return 0;
    }
    slash = strchr(text, '/');
    if (slash || parse_address(text, a->addr)) {
        size_t alen = slash ? (size_t)(slash - text) : strlen(text);
        int bits, i;
        char *end;
        long prefix;

        if (alen >= sizeof(addr)) {
            set_err(err, errlen, "'%s' is not an address", text);
            return -1;
        }
        memcpy(addr, text, alen);
        addr[alen] = '\0';
        a->family = parse_address(addr, a->addr);
        if (!a->family) {
            set_err(err, errlen, "'%s' is not an IPv4 or IPv6 address", addr);
            return -1;
        }
        bits = a->family == 4 ? 32 : 128;
        prefix = bits;
        if (slash) {
            errno = 0;
            prefix = strtol(slash + 1, &end, 10);
            int written = strchr(addr, ':') ? 128 : 32;
            if (!slash[1] || *end || errno || prefix < 0 ||
                prefix > written || !isdigit((unsigned char)slash[1])) {
                set_err(err, errlen, "'%s': the prefix length must be 0 to %d",
                        text, written);
                return -1;
            }
            /* an IPv4-mapped block counts in IPv4 bits */
            if (a->family == 4 && strchr(addr, ':')) {
                if (prefix < 96) {
                    set_err(err, errlen, "'%s': an IPv4-mapped block needs a "
                                         "prefix of 96 or more", text);
                    return -1;
                }
                prefix -= 96;
            }
        }
        for (i = (int)prefix; i < bits; i++)
            if (a->addr[i / 8] & (0x80 >> (i % 8))) {
                set_err(err, errlen, "'%s' has host bits set", text);
                return -1;
            }
        a->kind = EC_ALLOW_NET;
        a->prefix = (int)prefix;
        return 0;
    }
    if (!normalize_name(text, a->name, sizeof(a->name)) ||
        !valid_host_name(strncmp(a->name, "*.", 2) == 0 ? a->name + 2
                                                        : a->name)) {
        set_err(err, errlen, "'%s' is not an address, CIDR block, host name, "
                             "*.domain or *", text);
        return -1;
    }
    a->kind = EC_ALLOW_NAME;
    return 0;
}

static int net_match(const struct ec_allow *a, int family,
                     const unsigned char *addr)
{
    int full = a->prefix / 8, rest = a->prefix % 8;

    if (a->family != family)
        return 0;
    if (memcmp(a->addr, addr, (size_t)full) != 0)
        return 0;
    return rest == 0 ||
           ((a->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int name_match(const char *pattern, const char *name)
{
    if (strncmp(pattern, "*.", 2) == 0) {
        size_t pl = strlen(pattern) - 1, nl = strlen(name); /* ".domain" */
        return nl > pl && strcmp(name + nl - pl, pattern + 1) == 0;
    }
    return strcmp(pattern, name) == 0;
}

int ec_allowed(const struct ec_allow *list, size_t n, const char *host)
{
    static const struct ec_allow loopback[] = {
        {EC_ALLOW_NET, 4, {127}, 8, ""},
        {EC_ALLOW_NET, 6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
         128, ""},
        {EC_ALLOW_NAME, 0, {0}, 0, "localhost"},
    };
    unsigned char addr[16];
    char name[256];
    int family;
    size_t i;

    if (!host || !*host)
        return 0;
    if (n == 0) {
        list = loopback;
        n = sizeof(loopback) / sizeof(loopback[0]);
    }
    family = parse_address(host, addr);
    if (!family && !normalize_name(host, name, sizeof(name)))
        return 0;
    for (i = 0; i < n; i++) {
        if (list[i].kind == EC_ALLOW_ANY)
            return 1;
        if (family && list[i].kind == EC_ALLOW_NET &&
            net_match(&list[i], family, addr))
            return 1;
        if (!family && list[i].kind == EC_ALLOW_NAME &&
            name_match(list[i].name, name))
            return 1;
    }
    return 0;
}

void ec_allow_format(const struct ec_allow *a, char *dst, size_t n)
{
    char text[INET6_ADDRSTRLEN];

    switch (a->kind) {
    case EC_ALLOW_ANY:
        snprintf(dst, n, "*");
        return;
    case EC_ALLOW_NAME:
        snprintf(dst, n, "%s", a->name);
        return;
    }
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, text,
                   sizeof(text)))
        snprintf(text, sizeof(text), "?");
    snprintf(dst, n, "%s/%d", text, a->prefix);
}
