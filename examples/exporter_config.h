/*
 * exporter_config.h - the modules file of mailssl-exporter and its
 * target allow-list.
 *
 *   # NAME and OPTION=VALUE fields, separated by blanks; '#' at the start
 *   # of a field starts a comment
 *   module default
 *   module internal cafile=ca.pem timeout=5 warn=21 crit=7
 *   module mx servername=mx.example.com min-version=TLS1.3 tlsa=3:1:1:HEX
 *   allow 127.0.0.0/8
 *   allow *.example.com
 *
 * Options of a module: cafile (relative to the file's directory),
 * servername, connect-to, timeout (seconds, decimals allowed), warn, crit
 * (days), min-version (TLS floor: TLS1.0 .. TLS1.3), priority (a GnuTLS
 * priority string), family (any, 4, 6), tlsa=USAGE:SELECTOR:MTYPE:HEX
 * (repeatable). Every value is checked at load time by the library itself
 * (a scratch probe takes each setting), so a file that loads never makes a
 * request fail for its settings. Loading is all or nothing; errors are
 * "FILE:LINE:COLUMN: message".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_EXPORTER_CONFIG_H
#define MAILSSL_EXPORTER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mailssl.h"

#define EC_MAX_FILE (1024 * 1024)
#define EC_MAX_LINE 4096
#define EC_MAX_MODULES 1000
#define EC_MAX_ALLOW 1000
#define EC_MAX_NAME 64
#define EC_MAX_TIMEOUT_S 300

struct ec_tlsa {
    int usage, selector, matching_type;
    unsigned char *data;
    size_t len;
};

struct ec_module {
    char name[EC_MAX_NAME + 1];
    char *cafile;      /* NULL: the system trust store */
    char *servername;  /* NULL: the URL host */
    char *connect_to;  /* NULL: the URL host */
    char *min_version; /* NULL: the library's floor (TLS1.2) */
    char *priority;    /* NULL: the library's default */
    int family;        /* 0 any, 4, 6 */
    int32_t timeout_ms;
    int warn_days, crit_days;
    struct ec_tlsa *tlsa;
    size_t ntlsa;
    int line; /* where it was defined; 0 for the built-in default */
};

#define EC_ALLOW_ANY 0
#define EC_ALLOW_NET 1  /* an address or a CIDR block */
#define EC_ALLOW_NAME 2 /* a host name, or *.domain for any name below */

struct ec_allow {
    int kind;
    int family; /* 4 or 6 (EC_ALLOW_NET) */
    unsigned char addr[16];
    int prefix;
    char name[256]; /* lower case, no trailing dot; "*.x" for patterns */
};

struct ec_config {
    struct ec_module *modules;
    size_t nmodules;
    struct ec_allow *allow;
    size_t nallow;
};

/* The config without a file: the module "default" with the library's
 * defaults and an empty allow-list (loopback only, see ec_allowed).
 * Returns 0 or -1 when out of memory. */
int ec_init_default(struct ec_config *c);

/* Loads path (at most EC_MAX_FILE bytes) into *c, which is set only on
 * success. The module "default" is added with the library's defaults
 * unless the file defines it. Returns 0, or -1 with
 * "FILE:LINE:COLUMN: message" (or "FILE: message") in err.
 * mailssl_init() must have been called. */
int ec_load_file(struct ec_config *c, const char *path, char *err,
                 size_t errlen);

/* The same for text; name stands for FILE in messages and basedir (NULL:
 * none) is prefixed to relative cafile names. */
int ec_load_string(struct ec_config *c, const char *text, const char *name,
                   const char *basedir, char *err, size_t errlen);

void ec_free(struct ec_config *c);

/* The module called name, NULL when there is none. */
const struct ec_module *ec_find(const struct ec_config *c, const char *name);

/* Applies the module's settings to a probe that has not started. Returns
 * 0, or -1 with the library's message in err. */
int ec_apply(const struct ec_module *m, mailssl_probe *p, char *err,
             size_t errlen);

/* Parses one allow-list entry: "*", an IPv4 or IPv6 address, a CIDR block
 * (no host bits set), a host name, or "*.domain". Returns 0 or -1 with a
 * message in err. */
int ec_allow_parse(const char *text, struct ec_allow *a, char *err,
                   size_t errlen);

/* 1 when host (a URL host: an IP literal without brackets, or a name) is
 * allowed by one of the n entries. With n == 0 the default applies:
 * loopback only (127.0.0.0/8, ::1 and the name localhost). IPv4-mapped
 * IPv6 addresses count as IPv4; names are compared in lower case without
 * a trailing dot. A name is matched as written, not by what it resolves
 * to. */
int ec_allowed(const struct ec_allow *list, size_t n, const char *host);

/* 4 or 6 when text is an IP address (IPv4-mapped IPv6 counts as 4), 0
 * otherwise: a host name, which a probe must resolve. */
int ec_address_family(const char *text);

/* The entry written back as text ("127.0.0.0/8", "*.example.com"). */
void ec_allow_format(const struct ec_allow *a, char *dst, size_t n);

#endif
