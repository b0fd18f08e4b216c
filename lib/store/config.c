/*
 * config.c - the binding config file of SPEC.md section 3: parser (all or
 * nothing, errors as FILE:LINE:COLUMN) and writer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define CONFIG_MAX_LINE 4096
#define CONFIG_MAX_FIELDS 16
#define CONFIG_MAX_FILE (64u * 1024u * 1024u)

struct field {
    const char *s; /* NUL-terminated copy inside the line buffer */
    int col;       /* 1-based column */
};

/* Credentials loaded by one parse, shared by the lines that name the same
 * files and password. */
struct cred_cache {
    char *key;
    mailssl_credential *cred;
    struct cred_cache *next;
};

struct parser {
    const char *name;    /* FILE in messages */
    const char *basedir; /* for relative file names, NULL: as given */
    int line;
    struct mailssl__table *t;
    struct cred_cache *creds;
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, int col, int rc, const char *fmt, ...)
    MAILSSL_PRINTF(4, 5);

static int fail(struct parser *p, int col, int rc, const char *fmt, ...)
{
    char msg[MAILSSL_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mailssl__set_error(p->err, p->errlen, "%s:%d:%d: %s", p->name, p->line,
                       col, msg);
    return rc;
}

/* Splits a line in place; stops at a field that starts with '#'.
 * Returns the number of fields; *end_col is the column after the last. */
static int split(char *line, struct field *f, int max, int *end_col)
{
    int n = 0;
    char *s = line;
    *end_col = 1;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            break;
        if (n == max)
            return -1;
        f[n].s = s;
        f[n].col = (int)(s - line) + 1;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        *end_col = (int)(s - line) + 2;
        n++;
        if (*s)
            *s++ = '\0';
    }
    return n;
}

static int parse_port(const char *s, int any_ok)
{
    int v = 0;
    if (any_ok && strcmp(s, "*") == 0)
        return MAILSSL_PORT_ANY;
    if (!*s || strlen(s) > 5)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v <= 65535 ? v : 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* basedir + "/" + path for a relative path; a copy otherwise. */
static char *resolve(const struct parser *p, const char *path)
{
    struct mailssl_buf b;
    if (path[0] == '/' || !p->basedir || strncmp(path, "pkcs11:", 7) == 0)
        return mailssl__strdup(path);
    mailssl__buf_init(&b);
    mailssl__buf_printf(&b, "%s/%s", p->basedir, path);
    return mailssl__buf_finish(&b);
}

#define OPT_CERT 0
#define OPT_KEY 1
#define OPT_PASSWORD 2
#define OPT_PASSWORD_FILE 3
#define OPT_FORMAT 4
#define NOPTS 5
static const char *const opt_names[NOPTS] = {"cert", "key", "password",
                                             "password-file", "format"};

#define FMT_PEM 0
#define FMT_PKCS12 1
#define FMT_PKCS11 2

static int load_credential(struct parser *p, const struct field *opt[NOPTS],
                           int format, mailssl_credential **out)
{
    char *cert = resolve(p, opt[OPT_CERT]->s);
    char *key = opt[OPT_KEY] ? resolve(p, opt[OPT_KEY]->s) : NULL;
    char *pwfile =
        opt[OPT_PASSWORD_FILE] ? resolve(p, opt[OPT_PASSWORD_FILE]->s) : NULL;
    const char *pw = opt[OPT_PASSWORD] ? opt[OPT_PASSWORD]->s : NULL;
    struct mailssl_buf kb;
    struct cred_cache *c;
    char *ck = NULL;
    int rc = MAILSSL_ERR_NOMEM;
    mailssl_credential *cred = NULL;

    if (!cert || (opt[OPT_KEY] && !key) || (opt[OPT_PASSWORD_FILE] && !pwfile))
        goto done;
    mailssl__buf_init(&kb);
    mailssl__buf_printf(&kb, "%d\n%s\n%s\n%s\n%s", format, cert,
                        key ? key : "", pw ? pw : "", pwfile ? pwfile : "");
    if (!(ck = mailssl__buf_finish(&kb)))
        goto done;
    for (c = p->creds; c; c = c->next)
        if (strcmp(c->key, ck) == 0) {
            *out = c->cred;
            rc = MAILSSL_OK;
            goto done;
        }
    if (!(cred = mailssl_credential_new()))
        goto done;
    if (format == FMT_PKCS12)
        rc = mailssl_credential_load_pkcs12_file(cred, cert, pw, pwfile);
    else if (format == FMT_PKCS11)
        rc = mailssl_credential_load_pkcs11(cred, cert, key, pw);
    else
        rc = mailssl_credential_load_pem_files(cred, cert, key, pw);
    if (rc < 0) {
        rc = fail(p, opt[OPT_CERT]->col, rc, "%s",
                  mailssl_credential_error(cred));
        goto done;
    }
    if (!(c = calloc(1, sizeof *c))) {
        rc = MAILSSL_ERR_NOMEM;
        goto done;
    }
    c->key = ck;
    c->cred = cred;
    c->next = p->creds;
    p->creds = c;
    *out = cred;
    ck = NULL;
    cred = NULL;
    rc = MAILSSL_OK;
done:
    if (rc == MAILSSL_ERR_NOMEM)
        fail(p, opt[OPT_CERT]->col, rc, "out of memory");
    mailssl_credential_free(cred);
    if (ck) {
        memset(ck, 0, strlen(ck));
        free(ck);
    }
    free(cert);
    free(key);
    free(pwfile);
    return rc;
}

/* The key fields shared by bind and listen: service, address, port. */
static int parse_key(struct parser *p, const struct field *f, int listener,
                     int *service, struct mailssl__addr *a, int *port)
{
    char msg[MAILSSL_ERRLEN];
    int rc;

    *service = mailssl_service_from_name(f[1].s);
    if (*service < 0)
        return fail(p, f[1].col, MAILSSL_ERR_SYNTAX,
                    "unknown service \"%s\": expected smtp, submission, "
                    "smtps, submissions, lmtp, imap, imaps, pop3, pop3s, "
                    "sieve or *",
                    f[1].s);
    if (listener && *service == MAILSSL_SERVICE_ANY)
        return fail(p, f[1].col, MAILSSL_ERR_SYNTAX,
                    "a listener serves one service, not *");
    rc = mailssl__parse_address(f[2].s, listener, a, msg, sizeof msg);
    if (rc < 0)
        return fail(p, f[2].col, MAILSSL_ERR_SYNTAX, "%s", msg);
    *port = parse_port(f[3].s, !listener);
    if (*port == 0)
        return fail(p, f[3].col, MAILSSL_ERR_SYNTAX,
                    "invalid port \"%s\": a number from 1 to 65535%s",
                    f[3].s, listener ? "" : " or *");
    return MAILSSL_OK;
}

static int origin_line(const char *origin)
{
    const char *c = origin ? strrchr(origin, ':') : NULL;
    return c ? atoi(c + 1) : 0;
}

static int parse_bind(struct parser *p, const struct field *f, int n,
                      int end_col, const char *origin)
{
    const struct field *opt[NOPTS] = {NULL, NULL, NULL, NULL, NULL};
    struct mailssl__addr a;
    const struct mailssl__binding *dup;
    mailssl_credential *cred = NULL;
    char msg[MAILSSL_ERRLEN], *name = NULL;
    int service, port, kind, format = FMT_PEM, i, rc;

    if (n < 5)
        return fail(p, end_col, MAILSSL_ERR_SYNTAX,
                    "missing fields: bind SERVICE ADDRESS PORT NAME "
                    "cert=FILE [key=FILE] [password=TEXT | "
                    "password-file=FILE]");
    if ((rc = parse_key(p, f, 0, &service, &a, &port)) < 0)
        return rc;
    rc = mailssl__parse_name(f[4].s, &kind, &name, msg, sizeof msg);
    if (rc < 0)
        return fail(p, f[4].col, rc == MAILSSL_ERR_NOMEM ? rc
                                                         : MAILSSL_ERR_SYNTAX,
                    "%s", msg);
    for (i = 5; i < n; i++) {
        const char *eq = strchr(f[i].s, '=');
        int k;
        if (!eq) {
            rc = fail(p, f[i].col, MAILSSL_ERR_SYNTAX,
                      "\"%s\" is not an option: options are NAME=VALUE",
                      f[i].s);
            goto done;
        }
        for (k = 0; k < NOPTS; k++)
            if (strlen(opt_names[k]) == (size_t)(eq - f[i].s) &&
                strncmp(opt_names[k], f[i].s, (size_t)(eq - f[i].s)) == 0)
                break;
        if (k == NOPTS) {
            rc = fail(p, f[i].col, MAILSSL_ERR_SYNTAX,
                      "unknown option \"%.*s\": expected cert, key, "
                      "password, password-file or format",
                      (int)(eq - f[i].s), f[i].s);
            goto done;
        }
        if (opt[k]) {
            rc = fail(p, f[i].col, MAILSSL_ERR_SYNTAX,
                      "option %s is given twice (first at column %d)",
                      opt_names[k], opt[k]->col);
            goto done;
        }
        if (!eq[1]) {
            rc = fail(p, f[i].col, MAILSSL_ERR_SYNTAX,
                      "option %s has no value", opt_names[k]);
            goto done;
        }
        opt[k] = &f[i];
    }
    if (!opt[OPT_CERT]) {
        rc = fail(p, end_col, MAILSSL_ERR_SYNTAX,
                  "missing cert=FILE: a binding needs a certificate");
        goto done;
    }
    if (opt[OPT_PASSWORD] && opt[OPT_PASSWORD_FILE]) {
        const struct field *later =
            opt[OPT_PASSWORD]->col > opt[OPT_PASSWORD_FILE]->col
                ? opt[OPT_PASSWORD]
                : opt[OPT_PASSWORD_FILE];
        rc = fail(p, later->col, MAILSSL_ERR_SYNTAX,
                  "give password= or password-file=, not both");
        goto done;
    }
    {
        const char *cert = strchr(opt[OPT_CERT]->s, '=') + 1;
        if (opt[OPT_FORMAT]) {
            const char *v = strchr(opt[OPT_FORMAT]->s, '=') + 1;
            if (strcmp(v, "pem") == 0)
                format = FMT_PEM;
            else if (strcmp(v, "pkcs12") == 0)
                format = FMT_PKCS12;
            else {
                rc = fail(p, opt[OPT_FORMAT]->col, MAILSSL_ERR_SYNTAX,
                          "unknown format \"%s\": expected pem or pkcs12",
                          v);
                goto done;
            }
        } else if (ends_with(cert, ".p12") || ends_with(cert, ".pfx")) {
            format = FMT_PKCS12;
        }
        if (strncmp(cert, "pkcs11:", 7) == 0)
            format = FMT_PKCS11;
    }
    if (format == FMT_PKCS12 && opt[OPT_KEY]) {
        rc = fail(p, opt[OPT_KEY]->col, MAILSSL_ERR_SYNTAX,
                  "key= does not go with a PKCS#12 file, which holds the "
                  "key itself");
        goto done;
    }
    if (format != FMT_PKCS12 && opt[OPT_PASSWORD_FILE]) {
        rc = fail(p, opt[OPT_PASSWORD_FILE]->col, MAILSSL_ERR_SYNTAX,
                  "password-file= is for PKCS#12 files; a PEM key takes "
                  "password=");
        goto done;
    }
    {
        /* hand the loader the values, keeping the option columns */
        struct field vals[NOPTS];
        const struct field *vp[NOPTS];
        for (i = 0; i < NOPTS; i++) {
            vp[i] = NULL;
            if (opt[i]) {
                vals[i].s = strchr(opt[i]->s, '=') + 1;
                vals[i].col = opt[i]->col;
                vp[i] = &vals[i];
            }
        }
        rc = load_credential(p, vp, format, &cred);
        if (rc < 0)
            goto done;
    }
    rc = mailssl__table_add(p->t, service, &a, port, kind, name, cred, origin,
                            &dup);
    if (rc == MAILSSL_ERR_DUPLICATE)
        rc = fail(p, f[1].col, rc,
                  "duplicate binding: line %d binds the same service, "
                  "address, port and name",
                  origin_line(dup->origin));
    else if (rc < 0)
        rc = fail(p, f[1].col, rc, "out of memory");
done:
    free(name);
    return rc;
}

static int parse_listen(struct parser *p, const struct field *f, int n,
                        int end_col, const char *origin)
{
    struct mailssl__addr a;
    const struct mailssl__listener *dup;
    int service, port, rc;

    if (n < 4)
        return fail(p, end_col, MAILSSL_ERR_SYNTAX,
                    "missing fields: listen SERVICE ADDRESS PORT");
    if (n > 4)
        return fail(p, f[4].col, MAILSSL_ERR_SYNTAX,
                    "too many fields: listen SERVICE ADDRESS PORT");
    if ((rc = parse_key(p, f, 1, &service, &a, &port)) < 0)
        return rc;
    rc = mailssl__table_add_listener(p->t, service, &a, port, origin, &dup);
    if (rc == MAILSSL_ERR_DUPLICATE)
        return fail(p, f[1].col, rc,
                    "duplicate listener: line %d declares the same service, "
                    "address and port",
                    origin_line(dup->origin));
    if (rc < 0)
        return fail(p, f[1].col, rc, "out of memory");
    return MAILSSL_OK;
}

static int parse_line(struct parser *p, char *line)
{
    struct field f[CONFIG_MAX_FIELDS];
    char origin[PATH_MAX + 16];
    int end_col, n = split(line, f, CONFIG_MAX_FIELDS, &end_col);

    if (n < 0)
        return fail(p, 1, MAILSSL_ERR_SYNTAX,
                    "more than %d fields on one line", CONFIG_MAX_FIELDS);
    if (n == 0)
        return MAILSSL_OK;
    snprintf(origin, sizeof origin, "%s:%d", p->name, p->line);
    if (strcmp(f[0].s, "bind") == 0)
        return parse_bind(p, f, n, end_col, origin);
    if (strcmp(f[0].s, "listen") == 0)
        return parse_listen(p, f, n, end_col, origin);
    return fail(p, f[0].col, MAILSSL_ERR_SYNTAX,
                "unknown directive \"%s\": expected bind or listen", f[0].s);
}

int mailssl__config_parse(const char *text, size_t len, const char *name,
                          const char *basedir, struct mailssl__table **out,
                          char *err, size_t errlen)
{
    struct parser p;
    char line[CONFIG_MAX_LINE + 2];
    size_t pos = 0;
    int rc = MAILSSL_OK;

    memset(&p, 0, sizeof p);
    p.name = name ? name : "config";
    p.basedir = basedir;
    p.err = err;
    p.errlen = errlen;
    *out = NULL;
    if (!(p.t = mailssl__table_new())) {
        mailssl__set_error(err, errlen, "out of memory");
        return MAILSSL_ERR_NOMEM;
    }
    while (pos < len && rc == MAILSSL_OK) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p.line++;
        if (n && text[pos + n - 1] == '\r')
            n--;
        if (n > CONFIG_MAX_LINE)
            rc = fail(&p, CONFIG_MAX_LINE + 1, MAILSSL_ERR_TOO_LONG,
                      "line longer than %d characters", CONFIG_MAX_LINE);
        else if (memchr(text + pos, '\0', n))
            rc = fail(&p,
                      (int)((const char *)memchr(text + pos, '\0', n) -
                            (text + pos)) + 1,
                      MAILSSL_ERR_SYNTAX, "NUL byte in a config line");
        else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            rc = parse_line(&p, line);
        }
        pos += (nl ? (size_t)(nl - (text + pos)) + 1 : len - pos);
    }
    while (p.creds) {
        struct cred_cache *c = p.creds;
        p.creds = c->next;
        mailssl_credential_free(c->cred); /* the table keeps its refs */
        memset(c->key, 0, strlen(c->key));
        free(c->key);
        free(c);
    }
    if (rc < 0) {
        mailssl__table_free(p.t);
        return rc;
    }
    *out = p.t;
    return MAILSSL_OK;
}

/* ---- loading into a store -------------------------------------------- */

static int load_text(mailssl_store *s, const char *text, size_t len,
                     const char *name, const char *basedir)
{
    struct mailssl__table *t;
    char err[MAILSSL_ERRLEN];
    int rc = mailssl__config_parse(text, len, name, basedir, &t, err,
                                   sizeof err);
    mailssl__store_lock(s);
    if (rc < 0)
        snprintf(mailssl__store_errbuf(s), MAILSSL_ERRLEN, "%s", err);
    else {
        mailssl__store_swap(s, t);
        mailssl__store_errbuf(s)[0] = '\0';
    }
    mailssl__store_unlock(s);
    return rc;
}

static void store_fail(mailssl_store *s, const char *fmt, const char *a,
                       const char *b)
{
    mailssl__store_lock(s);
    mailssl__set_error(mailssl__store_errbuf(s), MAILSSL_ERRLEN, fmt, a, b);
    mailssl__store_unlock(s);
}

/* The directory part of path, absolute when it can be made so. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d, *real;
    if (!slash)
        d = mailssl__strdup(".");
    else if (slash == path)
        d = mailssl__strdup("/");
    else {
        d = malloc((size_t)(slash - path) + 1);
        if (d) {
            memcpy(d, path, (size_t)(slash - path));
            d[slash - path] = '\0';
        }
    }
    if (d && (real = realpath(d, NULL))) {
        free(d);
        d = real;
    }
    return d;
}

MAILSSL_EXPORT int mailssl_store_load_file(mailssl_store *s, const char *path)
{
    char *buf, *dir, why[256];
    size_t n;
    int rc;

    if (!s || !path)
        return mailssl__store_invalid(s, "no file name (NULL)");
    rc = mailssl__read_file(path, CONFIG_MAX_FILE, &buf, &n, why,
                            sizeof why);
    if (rc == MAILSSL_ERR_NOMEM)
        return rc;
    if (rc == MAILSSL_ERR_TOO_LONG ||
        (rc < 0 && strcmp(why, "not a regular file") == 0)) {
        store_fail(s, "%s: %s", path,
                   "not a regular file of at most 64 MiB");
        return MAILSSL_ERR_IO;
    }
    if (rc < 0) {
        store_fail(s, "%s: %s", path, why);
        return rc;
    }
    dir = dir_of(path);
    if (!dir) {
        free(buf);
        return MAILSSL_ERR_NOMEM;
    }
    rc = load_text(s, buf, n, path, dir);
    free(dir);
    free(buf);
    return rc;
}

MAILSSL_EXPORT int mailssl_store_load_string(mailssl_store *s,
                                             const char *text, size_t len,
                                             const char *name)
{
    char *dir = NULL;
    int rc;

    if (!s || (!text && len))
        return mailssl__store_invalid(s, "NULL text of non-zero length");
    if (name && strchr(name, '/') && !(dir = dir_of(name)))
        return MAILSSL_ERR_NOMEM;
    rc = load_text(s, text ? text : "", len, name ? name : "config", dir);
    free(dir);
    return rc;
}

/* ---- writing ------------------------------------------------------------ */

/* Can this value be one blank-separated field? */
static int writable(const char *v)
{
    return v && *v && !strpbrk(v, " \t\r\n") && v[0] != '#';
}

static int write_binding(struct mailssl_buf *b,
                         const struct mailssl__binding *bd, char *err,
                         size_t errlen)
{
    const mailssl_credential *c = bd->cred;
    char key[400];

    mailssl__binding_text(bd, key, sizeof key);
    if (c->format == MAILSSL__CRED_MEMORY || c->format == MAILSSL__CRED_NONE) {
        mailssl__set_error(err, errlen,
                           "binding \"%s\": its credential was loaded from "
                           "memory, a config file cannot name it",
                           key);
        return MAILSSL_ERR_STATE;
    }
    if (!writable(c->cert_source) ||
        (c->key_source && !writable(c->key_source)) ||
        (c->password && !writable(c->password)) ||
        (c->password_file && !writable(c->password_file))) {
        mailssl__set_error(err, errlen,
                           "binding \"%s\": a file name or password holds a "
                           "blank or starts with #, which a config line "
                           "cannot hold",
                           key);
        return MAILSSL_ERR_STATE;
    }
    mailssl__buf_printf(b, "bind %s cert=%s", key, c->cert_source);
    if (c->format != MAILSSL__CRED_PKCS12 && c->key_source &&
        strcmp(c->key_source, c->cert_source) != 0)
        mailssl__buf_printf(b, " key=%s", c->key_source);
    if (c->password)
        mailssl__buf_printf(b, " password=%s", c->password);
    if (c->password_file)
        mailssl__buf_printf(b, " password-file=%s", c->password_file);
    if (c->format == MAILSSL__CRED_PKCS12)
        mailssl__buf_puts(b, " format=pkcs12");
    else if (c->format == MAILSSL__CRED_PEM &&
             (ends_with(c->cert_source, ".p12") ||
              ends_with(c->cert_source, ".pfx")))
        mailssl__buf_puts(b, " format=pem");
    mailssl__buf_puts(b, "\n");
    return MAILSSL_OK;
}

MAILSSL_EXPORT char *mailssl_store_to_string(mailssl_store *s)
{
    const struct mailssl__table *t;
    struct mailssl_buf b;
    char err[MAILSSL_ERRLEN], lt[128];
    size_t i;
    int tok, rc = MAILSSL_OK;
    char *out;

    if (!s)
        return NULL;
    err[0] = '\0';
    mailssl__buf_init(&b);
    mailssl__buf_puts(&b, "# binding store written by libmailssl\n"
                          "# protocol address port name credential\n");
    t = mailssl__store_read_begin(s, &tok);
    for (i = 0; i < mailssl__table_count(t) && rc == MAILSSL_OK; i++)
        rc = write_binding(&b, mailssl__table_binding(t, i), err, sizeof err);
    for (i = 0; i < mailssl__table_listener_count(t) && rc == MAILSSL_OK;
         i++) {
        mailssl__listener_text(mailssl__table_listener(t, i), lt, sizeof lt);
        mailssl__buf_printf(&b, "listen %s\n", lt);
    }
    mailssl__store_read_end(s, tok);
    out = mailssl__buf_finish(&b);
    if (rc < 0 || !out) {
        if (out) {
            memset(out, 0, strlen(out));
            free(out);
        }
        store_fail(s, "%s%s", rc < 0 ? err : "out of memory", "");
        return NULL;
    }
    return out;
}

MAILSSL_EXPORT int mailssl_store_save_file(mailssl_store *s, const char *path)
{
    char *text, tmp[PATH_MAX];
    size_t len;
    int fd, ok;

    if (!s || !path)
        return mailssl__store_invalid(s, "no file name (NULL)");
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp) {
        store_fail(s, "%s: %s", path, "file name too long");
        return MAILSSL_ERR_TOO_LONG;
    }
    if (!(text = mailssl_store_to_string(s)))
        return MAILSSL_ERR_STATE;
    len = strlen(text);
    fd = mkstemp(tmp); /* mode 0600 */
    ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    memset(text, 0, len);
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        if (fd >= 0)
            unlink(tmp);
        store_fail(s, "%s: cannot write: %s", path, strerror(e));
        return MAILSSL_ERR_IO;
    }
    return MAILSSL_OK;
}
