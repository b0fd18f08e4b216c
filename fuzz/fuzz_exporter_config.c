/*
 * fuzz_exporter_config.c - libFuzzer entry point for the modules file of
 * mailssl-exporter (examples/exporter_config.c) and its allow-list.
 *
 * The input is the text of a modules file (inputs naming a cafile are
 * skipped: a fuzzed path such as /dev/stdin would block). Invariants,
 * checked with abort():
 *  - a file that loads has a module "default", every module name is
 *    found again by ec_find(), and crit <= warn for every module;
 *  - a file that does not load gives "fuzz.conf:LINE:COLUMN: message" or
 *    "fuzz.conf: message", with LINE within the file;
 *  - the first line, read as a host, is allowed by "*", and every allow
 *    entry that loaded is written back by ec_allow_format() as text that
 *    parses again and judges that host as before.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#include "exporter_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return fuzz_init_library();
}

static void check_error(const char *err, const char *text)
{
    size_t lines = 1;
    const char *s;
    long line;
    char *end;

    CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
    if (err[10] == ' ')
        return;
    line = strtol(err + 10, &end, 10);
    for (s = text; *s; s++)
        lines += *s == '\n';
    CHECK(line >= 1 && (size_t)line <= lines && *end == ':');
    strtol(end + 1, &end, 10);
    CHECK(*end == ':');
}

static void check_allow(const struct ec_config *c, const char *host)
{
    struct ec_allow any, again;
    char text[300], err[256];
    size_t i;

    CHECK(ec_allow_parse("*", &any, err, sizeof(err)) == 0);
    CHECK(!*host || ec_allowed(&any, 1, host) == 1);
    for (i = 0; i < c->nallow; i++) {
        ec_allow_format(&c->allow[i], text, sizeof(text));
        CHECK(ec_allow_parse(text, &again, err, sizeof(err)) == 0);
        CHECK(ec_allowed(&c->allow[i], 1, host) ==
              ec_allowed(&again, 1, host));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ec_config c;
    char err[1024], host[256], *text;
    size_t i, hl;

    if (size > 65536)
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (strstr(text, "cafile")) {
        free(text);
        return 0;
    }
    hl = strcspn(text, "\n");
    snprintf(host, sizeof(host), "%.*s", (int)(hl < 255 ? hl : 255), text);
    if (ec_load_string(&c, text, "fuzz.conf", NULL, err, sizeof(err)) == 0) {
        CHECK(ec_find(&c, "default") != NULL);
        for (i = 0; i < c.nmodules; i++) {
            CHECK(ec_find(&c, c.modules[i].name) == &c.modules[i]);
            CHECK(c.modules[i].crit_days <= c.modules[i].warn_days);
        }
        check_allow(&c, host);
        ec_free(&c);
    } else {
        check_error(err, text);
    }
    free(text);
    return 0;
}
