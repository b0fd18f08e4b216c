/*
 * fuzz_credential.c - libFuzzer entry point for credential loading from
 * memory (mailssl_credential_load_pem_memory, lib/core/credential.c).
 *
 * The first input byte chooses how the rest is used:
 *  - bit 0 clear ("raw"): the rest is the PEM text; when it holds the
 *    separator line "%%KEY%%\n", what follows is the key text apart.
 *  - bit 0 set ("patched"): a real certificate and key made at start
 *    (nothing secret is kept in the tree) are patched by the rest, read as
 *    4-byte edits (offset high, offset low, byte, operation: replace,
 *    insert, delete, or truncate there), so the success path and near
 *    misses of it are fuzzed.
 *  - bit 1: the key comes apart (else the key follows the chain in one
 *    text); bit 2: a password "secret" is given.
 * Invariants, checked with abort(): a load returns MAILSSL_OK or a
 * negative code with a non-empty message; a loaded credential is usable
 * exactly when the load returned MAILSSL_OK; a second load is refused;
 * a usable credential describes its leaf as JSON.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "certgen.h"
#include "mailssl.h"

#define SEPARATOR "%%KEY%%\n"
#define MAX_EDITS 64

static char *good_cert, *good_key;

static void cleanup(void)
{
    free(good_cert);
    free(good_key);
    mailssl_deinit();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = {"mail.example.com", NULL};
    struct certgen_opts o = {0};
    struct certgen_cert leaf;

    (void)argc;
    (void)argv;
    CHECK(mailssl_init() == MAILSSL_OK);
    atexit(cleanup);
    o.dns = names;
    CHECK(certgen_make(&leaf, &o, NULL) == 0);
    CHECK((good_cert = certgen_cert_pem(&leaf)) != NULL);
    CHECK((good_key = certgen_key_pem(&leaf)) != NULL);
    certgen_free(&leaf);
    return 0;
}

/* Applies the 4-byte edits of e[0..n) to a copy of s. */
static char *patch(const char *s, const uint8_t *e, size_t n, size_t *outlen)
{
    size_t len = strlen(s), cap = len + MAX_EDITS + 1, i;
    char *b = malloc(cap);

    CHECK(b != NULL);
    memcpy(b, s, len);
    for (i = 0; i + 4 <= n && i / 4 < MAX_EDITS; i += 4) {
        size_t off = ((size_t)e[i] << 8 | e[i + 1]);
        if (len == 0)
            break;
        off %= len;
        switch (e[i + 3] & 3) {
        case 0:
            b[off] = (char)e[i + 2];
            break;
        case 1:
            memmove(b + off + 1, b + off, len - off);
            b[off] = (char)e[i + 2];
            len++;
            break;
        case 2:
            memmove(b + off, b + off + 1, len - off - 1);
            len--;
            break;
        default:
            len = off;
            break;
        }
    }
    *outlen = len;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mailssl_credential *c;
    const char *cert, *key = NULL, *pw;
    size_t cert_len, key_len = 0;
    char *own_cert = NULL, *own_key = NULL;
    int mode, rc, rc2;

    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    pw = (mode & 4) ? "secret" : NULL;
    if (mode & 1) {
        /* byte 1: odd splits the edits half to the certificate, half to
         * the key; even gives them all to the certificate */
        const uint8_t *e = size ? data + 1 : data;
        size_t ne = size ? size - 1 : 0;
        size_t to_cert = (size && data[0] % 2) ? ne / 2 : ne;
        size_t cl, kl;
        char *kc = patch(good_key, e + to_cert, ne - to_cert, &kl);
        own_cert = patch(good_cert, e, to_cert, &cl);
        if (mode & 2) {
            own_key = kc;
            key_len = kl;
        } else {
            own_cert = realloc(own_cert, cl + kl + 1);
            CHECK(own_cert != NULL);
            memcpy(own_cert + cl, kc, kl);
            cl += kl;
            free(kc);
        }
        cert = own_cert;
        cert_len = cl;
        key = own_key;
    } else {
        const uint8_t *sep = NULL;
        size_t i, n = strlen(SEPARATOR);
        for (i = 0; i + n <= size; i++)
            if (memcmp(data + i, SEPARATOR, n) == 0) {
                sep = data + i;
                break;
            }
        cert = (const char *)data;
        cert_len = sep ? (size_t)(sep - data) : size;
        if (sep && (mode & 2)) {
            key = (const char *)sep + n;
            key_len = size - cert_len - n;
        }
    }

    CHECK((c = mailssl_credential_new()) != NULL);
    rc = mailssl_credential_load_pem_memory(c, cert, cert_len, key, key_len,
                                            pw);
    if (rc == MAILSSL_OK) {
        char *json;
        CHECK(mailssl_credential_usable(c) == 1);
        json = mailssl_credential_certificate_json(c, 0, 1800000000);
        CHECK(json != NULL && json[0] == '{');
        mailssl_free(json);
        /* a credential is loaded once */
        rc2 = mailssl_credential_load_pem_memory(c, good_cert,
                                                 strlen(good_cert), good_key,
                                                 strlen(good_key), NULL);
        CHECK(rc2 == MAILSSL_ERR_STATE);
        CHECK(mailssl_credential_usable(c) == 1);
    } else {
        CHECK(rc < 0);
        CHECK(mailssl_credential_error(c)[0] != '\0');
        if (mailssl_credential_usable(c) != 0) {
            fprintf(stderr, "load failed (%d: %s) but the credential is usable\n", rc, mailssl_credential_error(c));
            abort();
        }
    }
    mailssl_credential_free(c);
    free(own_cert);
    free(own_key);
    return 0;
}
