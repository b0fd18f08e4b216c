/*
 * slow_resolver.c - an LD_PRELOAD module for the exporter test: a
 * getaddrinfo() of a name ending in ".slow.test" waits
 * MAILSSL_SLOW_RESOLVER_MS milliseconds (default 2000) and then answers
 * for 127.0.0.1, as a slow DNS server would; every other call goes to the
 * C library. It stands in for the slow server because glibc's resolver
 * takes its servers from /etc/resolv.conf only, which a test must not
 * change. What it slows down is the real call the library makes inside
 * mailssl_probe_start().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    static const char suffix[] = ".slow.test";
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    size_t n = node ? strlen(node) : 0;

    if (!real)
        return EAI_SYSTEM;
    if (n > sizeof(suffix) - 1 &&
        strcmp(node + n - (sizeof(suffix) - 1), suffix) == 0) {
        const char *env = getenv("MAILSSL_SLOW_RESOLVER_MS");
        long ms = env ? atol(env) : 2000;
        struct timespec ts;

        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0)
            ;
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}
