/*
 * mkcerts - writes the certificates the program tests serve, made at run
 * time with tests/certgen.h. Test code only.
 *
 * usage: mkcerts DIR
 * DIR/ca.pem                    the test CA (pass it as --cafile)
 * DIR/NAME.pem, DIR/NAME.key    leaf (then the CA) and its key, for NAME:
 *   good      valid for 200 days and a half more
 *   good2     the same dates, another key (a second certificate to swap in)
 *   expiring  valid for 10 days and a half more (inside a 30-day window)
 *   expired   expired 2 days and a half ago
 * Every leaf names mail.test, localhost and 127.0.0.1. The half days keep
 * days_left exact (rounded down) however long the tests take.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certgen.h"

static int write_leaf(const char *dir, const char *name,
                      const struct certgen_cert *ca, int64_t not_before,
                      int64_t not_after)
{
    static const char *const dns[] = {"mail.test", "localhost", NULL};
    static const char *const ips[] = {"127.0.0.1", NULL};
    struct certgen_opts o;
    struct certgen_cert leaf;
    const struct certgen_cert *chain[2];
    char path[4096];
    int rc;

    memset(&o, 0, sizeof(o));
    o.cn = "mail.test";
    o.dns = dns;
    o.ips = ips;
    o.not_before = not_before;
    o.not_after = not_after;
    if (certgen_make(&leaf, &o, ca) < 0)
        return -1;
    chain[0] = &leaf;
    chain[1] = ca;
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    rc = certgen_write_pem(path, chain, 2, NULL);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    if (rc == 0)
        rc = certgen_write_key(path, &leaf);
    certgen_free(&leaf);
    return rc;
}

int main(int argc, char **argv)
{
    const int64_t day = 86400, half = 43200;
    int64_t now = (int64_t)time(NULL);
    struct certgen_opts o;
    struct certgen_cert ca;
    const struct certgen_cert *chain[1];
    char path[4096];
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: mkcerts DIR\n");
        return 2;
    }
    gnutls_global_init();
    memset(&o, 0, sizeof(o));
    o.cn = "libmailssl program tests CA";
    o.is_ca = 1;
    o.not_before = now - 30 * day;
    o.not_after = now + 3650 * day;
    if (certgen_make(&ca, &o, NULL) < 0) {
        fprintf(stderr, "mkcerts: cannot make the CA\n");
        return 1;
    }
    chain[0] = &ca;
    snprintf(path, sizeof(path), "%s/ca.pem", argv[1]);
    rc = certgen_write_pem(path, chain, 1, NULL);
    if (rc == 0)
        rc = write_leaf(argv[1], "good", &ca, now - day,
                        now + 200 * day + half);
    if (rc == 0)
        rc = write_leaf(argv[1], "good2", &ca, now - day,
                        now + 200 * day + half);
    if (rc == 0)
        rc = write_leaf(argv[1], "expiring", &ca, now - day,
                        now + 10 * day + half);
    if (rc == 0)
        rc = write_leaf(argv[1], "expired", &ca, now - 30 * day,
                        now - 2 * day - half);
    certgen_free(&ca);
    gnutls_global_deinit();
    if (rc != 0)
        fprintf(stderr, "mkcerts: cannot write the certificates in %s\n",
                argv[1]);
    return rc == 0 ? 0 : 1;
}
