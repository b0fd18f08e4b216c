/*
 * fuzz_config.c - libFuzzer entry point for the binding config parser
 * (mailssl_store_load_string, lib/store/config.c). The input is the config
 * text.
 * At start a temporary directory gets a real certificate and key
 * ("a.pem", "a.key", and "both.pem" holding both), and the text is loaded
 * under the name TMPDIR/fuzz.conf, so relative file names in the config
 * resolve there: seeds that name these files drive the success path too.
 * Invariants, checked with abort():
 *  - a failed load leaves the store as it was and says where:
 *    "TMPDIR/fuzz.conf:LINE:COLUMN: message";
 *  - a successful load can be written back (mailssl_store_to_string) and
 *    read again into the same number of bindings and listeners;
 *  - lookups and the audit of whatever loaded never fail with an error
 *    other than a miss.
 * Inputs that name a "pkcs11:" URI are skipped: they go to the PKCS#11
 * modules of the machine (p11-kit), outside this parser.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "certgen.h"
#include "mailssl.h"

static char *tmpdir;
static char conf_name[4096];
/* one validator (and one load of the system trust) for every input */
static mailssl_validator *validator;

static void cleanup(void)
{
    if (tmpdir) {
        certgen_rmdir(tmpdir);
        free(tmpdir);
        tmpdir = NULL;
    }
    mailssl_validator_free(validator);
    mailssl_deinit();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;
    const struct certgen_cert *chain[1] = {&leaf};
    char path[4200];

    (void)argc;
    (void)argv;
    CHECK(mailssl_init() == MAILSSL_OK);
    CHECK((tmpdir = certgen_tmpdir()) != NULL);
    atexit(cleanup);
    o.dns = names;
    CHECK(certgen_make(&leaf, &o, NULL) == 0);
    snprintf(path, sizeof path, "%s/a.pem", tmpdir);
    CHECK(certgen_write_pem(path, chain, 1, NULL) == 0);
    snprintf(path, sizeof path, "%s/a.key", tmpdir);
    CHECK(certgen_write_key(path, &leaf) == 0);
    snprintf(path, sizeof path, "%s/both.pem", tmpdir);
    CHECK(certgen_write_pem(path, chain, 1, &leaf) == 0);
    certgen_free(&leaf);
    snprintf(conf_name, sizeof conf_name, "%s/fuzz.conf", tmpdir);
    CHECK((validator = mailssl_validator_new()) != NULL);
    CHECK(mailssl_validator_set_time(validator, 1800000000) == MAILSSL_OK);
    return 0;
}

static int has(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Lookups that must give a credential or a miss, nothing else. */
static void probe_lookups(mailssl_store *s)
{
    static const char *const addrs[] = {"192.0.2.10", "2001:db8::1",
                                        "::ffff:192.0.2.10", "127.0.0.1"};
    static const char *const snis[] = {NULL, "mail.example.com",
                                       "x.example.net", "MAIL.EXAMPLE.COM."};
    static const int ports[] = {25, 465, 993, 995, 4190};
    size_t a, n, pt;
    char why[256];

    for (a = 0; a < sizeof addrs / sizeof *addrs; a++)
        for (n = 0; n < sizeof snis / sizeof *snis; n++)
            for (pt = 0; pt < sizeof ports / sizeof *ports; pt++) {
                mailssl_credential *c = NULL;
                int rc = mailssl_store_lookup_text(
                    s, addrs[a], ports[pt], MAILSSL_SERVICE_IMAPS, snis[n],
                    &c, why, sizeof why);
                CHECK(rc == MAILSSL_OK || rc == MAILSSL_ERR_NOT_FOUND);
                CHECK((rc == MAILSSL_OK) == (c != NULL));
                if (rc == MAILSSL_OK)
                    CHECK(mailssl_credential_usable(c) == 1);
                else
                    CHECK(why[0] != '\0');
                mailssl_credential_free(c);
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mailssl_store *s, *again;
    size_t count, listeners;
    char *text;
    int rc;

    if (has(data, size, "pkcs11:"))
        return 0;
    CHECK((s = mailssl_store_new()) != NULL);
    rc = mailssl_store_load_string(s, (const char *)data, size, conf_name);
    if (rc < 0) {
        const char *e = mailssl_store_error(s);
        size_t n = strlen(conf_name);
        int line, col;
        char colon;

        CHECK(rc != MAILSSL_ERR_INVALID);
        CHECK(mailssl_store_count(s) == 0);
        CHECK(mailssl_store_listener_count(s) == 0);
        /* NOMEM may come without a place; everything else has one */
        if (rc != MAILSSL_ERR_NOMEM) {
            CHECK(strncmp(e, conf_name, n) == 0);
            CHECK(sscanf(e + n, ":%d:%d%c", &line, &col, &colon) == 3);
            CHECK(line >= 1 && col >= 1 && colon == ':');
        }
        mailssl_store_free(s);
        return 0;
    }
    CHECK(rc == MAILSSL_OK);
    count = mailssl_store_count(s);
    listeners = mailssl_store_listener_count(s);
    probe_lookups(s);
    {
        mailssl_report *r = mailssl_report_new();
        CHECK(r != NULL);
        rc = mailssl_store_audit(s, validator, r);
        CHECK(rc >= MAILSSL_SEVERITY_OK && rc <= MAILSSL_SEVERITY_UNKNOWN);
        mailssl_report_free(r);
    }
    text = mailssl_store_to_string(s);
    if (text) {
        CHECK((again = mailssl_store_new()) != NULL);
        rc = mailssl_store_load_string(again, text, strlen(text), conf_name);
        if (rc != MAILSSL_OK) {
            fprintf(stderr, "round trip failed: %s\n--- written:\n%s",
                    mailssl_store_error(again), text);
            abort();
        }
        CHECK(mailssl_store_count(again) == count);
        CHECK(mailssl_store_listener_count(again) == listeners);
        mailssl_store_free(again);
        mailssl_free(text);
    } else {
        CHECK(mailssl_store_error(s)[0] != '\0');
    }
    mailssl_store_free(s);
    return 0;
}
