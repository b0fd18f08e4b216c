/*
 * addr.c - address text helpers of the ground layer, shared by the binding
 * store (lib/store/store.c) and the probe (lib/probe/url.c, lib/probe/net.c,
 * lib/probe/probe_tls.c). The home of the address parsing and normalisation
 * that
 * lib/store/store.c still holds (see lib/README).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>

#include "internal.h"

int mailssl__is_ip_literal(const char *s)
{
    unsigned char a[16];

    return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}
