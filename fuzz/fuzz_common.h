/*
 * fuzz_common.h - what every libFuzzer target here shares: the invariant
 * check (abort() so that libFuzzer keeps the input) and the entry points'
 * prototypes. Fuzz code only.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_FUZZ_COMMON_H
#define MAILSSL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mailssl.h"

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x))                                                             \
            abort();                                                          \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_deinit(void)
{
    mailssl_deinit();
}

/* An LLVMFuzzerInitialize body for targets that need only the library:
 * initialised once, released at exit (so LeakSanitizer sees no caches). */
static inline int fuzz_init_library(void)
{
    CHECK(mailssl_init() == MAILSSL_OK);
    atexit(fuzz_deinit);
    return 0;
}

#endif
