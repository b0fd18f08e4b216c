/*
 * fuzz_url.c - libFuzzer entry point for probe URLs and the other text a
 * probe takes (lib/probe/url.c, the setters of lib/probe/probe.c). No network:
 * a probe
 * is created and configured, never started unless its URL was refused (a
 * refused URL fails the start before any name resolution).
 *
 * The input is split at LF into up to four fields: the URL, a connect-to
 * override ("HOST[:PORT]"), a server name, a minimum TLS version.
 * Invariants, checked with abort():
 *  - a URL that parses gives a service 1-9, a port 1-65535 and a non-empty
 *    host, and writing it back as NAME://HOST:PORT (brackets around IPv6)
 *    parses to the same three;
 *  - a URL that does not parse leaves a message, and the start fails with
 *    MAILSSL_ERR_SYNTAX;
 *  - setters return MAILSSL_OK or a negative code with a message;
 *  - an unfinished probe has no JSON and no results.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "mailssl.h"

#define NFIELDS 4

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return fuzz_init_library();
}

static void check_setter(const mailssl_probe *p, int rc)
{
    CHECK(rc == MAILSSL_OK || rc < 0);
    if (rc < 0)
        CHECK(mailssl_probe_error(p)[0] != '\0');
}

static void round_trip(const mailssl_probe *p)
{
    const char *host = mailssl_probe_host(p);
    int service = mailssl_probe_service(p), port = mailssl_probe_port(p);
    size_t n = strlen(host) + 64;
    char *url = malloc(n);
    mailssl_probe *q;

    CHECK(url != NULL);
    snprintf(url, n, strchr(host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
             mailssl_service_name(service), host, port);
    CHECK((q = mailssl_probe_new(url)) != NULL);
    if (mailssl_probe_error(q)[0] != '\0') {
        fprintf(stderr, "\"%s\" does not parse again: %s\n", url,
                mailssl_probe_error(q));
        abort();
    }
    CHECK(mailssl_probe_service(q) == service);
    CHECK(mailssl_probe_port(q) == port);
    CHECK(strcmp(mailssl_probe_host(q), host) == 0);
    mailssl_probe_free(q);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy, *field[NFIELDS] = {NULL, NULL, NULL, NULL};
    mailssl_probe *p;
    size_t i;
    int nf = 0;

    /* NUL-terminated copy, cut into fields at LF */
    CHECK((copy = malloc(size + 1)) != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    field[nf++] = copy;
    for (i = 0; i < size && nf < NFIELDS; i++)
        if (copy[i] == '\n') {
            copy[i] = '\0';
            field[nf++] = copy + i + 1;
        }

    CHECK((p = mailssl_probe_new(field[0])) != NULL);
    if (mailssl_probe_error(p)[0] == '\0') {
        const char *host = mailssl_probe_host(p);
        CHECK(mailssl_probe_service(p) >= 1 &&
              mailssl_probe_service(p) <= MAILSSL_SERVICE_MAX);
        CHECK(mailssl_probe_port(p) >= 1 && mailssl_probe_port(p) <= 65535);
        CHECK(host != NULL && host[0] != '\0');
        round_trip(p);
    }
    if (field[1])
        check_setter(p, mailssl_probe_set_connect_to(p, field[1]));
    if (field[2])
        check_setter(p, mailssl_probe_set_servername(p, field[2]));
    if (field[3])
        check_setter(p, mailssl_probe_set_min_version(p, field[3]));

    CHECK(mailssl_probe_done(p) == 0);
    CHECK(mailssl_probe_json(p) == NULL);
    CHECK(mailssl_probe_tls_version(p) == NULL);
    CHECK(mailssl_probe_chain_length(p) == 0);
    CHECK(mailssl_probe_cert_sha256(p) == NULL);
    (void)mailssl_probe_address(p);
    (void)mailssl_probe_message(p);

    /* a refused URL fails at start, before any resolution */
    {
        mailssl_probe *q = mailssl_probe_new(field[0]);
        CHECK(q != NULL);
        if (mailssl_probe_error(q)[0] != '\0') {
            CHECK(mailssl_probe_start(q) == MAILSSL_ERR_SYNTAX);
            CHECK(mailssl_probe_error(q)[0] != '\0');
        }
        mailssl_probe_free(q);
    }
    mailssl_probe_free(p);
    free(copy);
    return 0;
}
