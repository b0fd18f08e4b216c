/*
 * fuzz_dialogue.c - libFuzzer entry point for the probe dialogues
 * (lib/probe/dialogue.c). The input is split into lines at LF (a CR before it
 * is
 * dropped, as the engine does) and fed to every service: STARTTLS services
 * start in the plaintext phase and go on after TLS with the remaining lines
 * once the dialogue gives the go-ahead; implicit-TLS services start after
 * TLS. Lines keep their NUL bytes. Invariants that must hold whatever the
 * server says are checked with abort().
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "dialogue.h"

static int implicit(int service)
{
    return service == MAILSSL_SERVICE_SMTPS ||
           service == MAILSSL_SERVICE_IMAPS || service == MAILSSL_SERVICE_POP3S;
}

static void check_state(const struct mailssl_dialogue *d, int r)
{
    size_t i;

    CHECK(r >= MAILSSL_DLG_MORE && r <= MAILSSL_DLG_FAIL);
    CHECK(memchr(d->message, '\0', sizeof d->message) != NULL);
    CHECK(d->ncaps <= MAILSSL_DIALOGUE_MAX_CAPS);
    /* pre-TLS capabilities are never kept */
    CHECK(d->phase == MAILSSL_PHASE_POST_TLS || d->ncaps == 0);
    for (i = 0; i < d->ncaps; i++) {
        const unsigned char *c = (const unsigned char *)d->caps[i];
        for (; *c; c++)
            CHECK(*c >= 0x20 && *c < 0x7f); /* sanitised */
    }
    if (r == MAILSSL_DLG_FAIL)
        CHECK(d->code != MAILSSL_CODE_OK && d->message[0] != '\0');
    if (r == MAILSSL_DLG_FAIL && d->phase == MAILSSL_PHASE_POST_TLS)
        CHECK(d->code == MAILSSL_CODE_POST_TLS_FAILED);
    if (r == MAILSSL_DLG_STARTTLS)
        CHECK(d->phase == MAILSSL_PHASE_PRE_TLS &&
              d->stage == MAILSSL_STAGE_STARTTLS);
    if (r == MAILSSL_DLG_DONE)
        CHECK(d->stage == MAILSSL_STAGE_POST_TLS);
}

static void run(int service, const uint8_t *data, size_t size)
{
    struct mailssl_dialogue d;
    struct mailssl_buf out;
    size_t pos = 0;
    int r;

    CHECK(mailssl__dialogue_init(&d, service) == 0);
    mailssl__buf_init(&out);
    r = mailssl__dialogue_begin(&d, implicit(service) ? MAILSSL_PHASE_POST_TLS
                                                      : MAILSSL_PHASE_PRE_TLS,
                                &out);
    check_state(&d, r);
    while (pos < size && r == MAILSSL_DLG_MORE) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size, len = end - pos;
        size_t mark = out.len;

        if (len > 0 && data[pos + len - 1] == '\r')
            len--;
        if (len > MAILSSL_DIALOGUE_MAX_LINE)
            len = MAILSSL_DIALOGUE_MAX_LINE; /* the engine's cap */
        /* the input ends like a connection: bytes without a line end
         * are a line cut off, as the engine reports them */
        r = nl ? mailssl__dialogue_line(&d, (const char *)data + pos, len,
                                        &out)
               : mailssl__dialogue_cut_off(&d, (const char *)data + pos, len,
                                           "closed the connection");
        check_state(&d, r);
        if (!nl)
            CHECK(r == MAILSSL_DLG_FAIL);
        pos = nl ? end + 1 : size;
        if (r == MAILSSL_DLG_STARTTLS) {
            /* nothing is queued by the go-ahead line itself */
            CHECK(out.len == mark);
            out.len = 0;
            r = mailssl__dialogue_begin(&d, MAILSSL_PHASE_POST_TLS, &out);
            check_state(&d, r);
            CHECK(d.ncaps == 0 && d.starttls_offered == 0);
        }
    }
    /* terminal states are stable */
    if (r != MAILSSL_DLG_MORE) {
        int again = mailssl__dialogue_line(&d, "x", 1, &out);
        if (r == MAILSSL_DLG_STARTTLS)
            CHECK(again == MAILSSL_DLG_FAIL &&
                  d.code == MAILSSL_CODE_STARTTLS_INJECTION);
        else
            CHECK(again == r);
    }
    (void)mailssl__dialogue_timeout_code(&d);
    mailssl__dialogue_clear(&d);
    mailssl__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int s;

    for (s = 1; s <= MAILSSL_SERVICE_MAX; s++)
        run(s, data, size);
    return 0;
}
