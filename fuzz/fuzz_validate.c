/*
 * fuzz_validate.c - libFuzzer entry point for certificate validation
 * (lib/validate/validate.c, lib/core/certinfo.c, lib/validate/dane.c): what a
 * hostile server can
 * send, a chain of DER certificates and a stapled OCSP response, goes
 * through mailssl_validate_chain() and the certificate details.
 *
 * Input: one flags byte, then blocks of a 2-byte big-endian length and
 * that many bytes. With flag bit 0 the last block is the OCSP staple; the
 * others are the certificates (at most 8). Flag bit 1 adds a DANE-EE
 * record made of the first block's 32 bytes. Invariants are checked with
 * abort().
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "mailssl.h"

static mailssl_validator *plain, *with_tlsa;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const unsigned char zeros[32];

    (void)argc;
    (void)argv;
    if (mailssl_init() != MAILSSL_OK)
        abort();
    plain = mailssl_validator_new();
    with_tlsa = mailssl_validator_new();
    CHECK(plain && with_tlsa);
    CHECK(mailssl_validator_set_time(plain, 1800000000) == MAILSSL_OK);
    CHECK(mailssl_validator_set_name(plain, "mail.example.com") == MAILSSL_OK);
    CHECK(mailssl_validator_set_time(with_tlsa, 1800000000) == MAILSSL_OK);
    CHECK(mailssl_validator_add_tlsa(with_tlsa, 3, 1, 1, zeros, 32) ==
          MAILSSL_OK);
    CHECK(mailssl_validator_add_tlsa(with_tlsa, 2, 0, 1, zeros, 32) ==
          MAILSSL_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *blocks[9];
    size_t lens[9], n = 0, i, ncerts;
    const unsigned char *ocsp = NULL;
    size_t ocsp_len = 0;
    mailssl_report *r;
    char *json;
    int flags, rc;

    if (size < 1)
        return 0;
    flags = data[0];
    data++;
    size--;
    while (size >= 2 && n < 9) {
        size_t len = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        blocks[n] = data;
        lens[n++] = len;
        data += len;
        size -= len;
    }
    if ((flags & 1) && n > 1) {
        ocsp = blocks[n - 1];
        ocsp_len = lens[n - 1];
        n--;
    }
    ncerts = n > 8 ? 8 : n;
    if (ncerts == 0)
        return 0;
    /* a zero length means "no certificate": keep the pointer non-NULL */
    for (i = 0; i < ncerts; i++)
        if (!blocks[i])
            return 0;
    r = mailssl_report_new();
    CHECK(r);
    rc = mailssl_validate_chain((flags & 2) ? with_tlsa : plain, blocks, lens,
                                ncerts, ocsp_len ? ocsp : NULL, ocsp_len, r);
    CHECK(rc == MAILSSL_ERR_NOMEM || (rc >= 0 && rc <= 3));
    if (rc >= 0) {
        CHECK(rc == mailssl_report_status(r));
        for (i = 0; i < mailssl_report_count(r); i++) {
            const char *m = mailssl_report_message(r, i);
            int ci = mailssl_report_cert_index(r, i);
            CHECK(m && *m);
            CHECK(ci == MAILSSL_NO_CERT || (ci >= 0 && (size_t)ci < ncerts));
        }
        /* a leaf that parses gets details; one that does not, a finding */
        json = mailssl_certificate_json(blocks[0], lens[0], 1800000000);
        if (!json)
            CHECK(mailssl_report_find(r, MAILSSL_CODE_CERT_PARSE_ERROR, 0) ==
                  0);
        mailssl_free(json);
        json = mailssl_report_json(r);
        CHECK(json && json[0] == '[');
        mailssl_free(json);
    }
    mailssl_report_free(r);
    return 0;
}
