/*
 * addr.c - address text helpers of the ground layer, shared by the binding
 * store (lib/store.c) and the probe (lib/url.c, lib/net.c,
 * lib/probe_tls.c). The home of the address parsing and normalisation that
 * lib/store.c still holds (see lib/README).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>

#include "internal.h"

int mailssl__is_ip_literal(const char *s)
{
    unsigned char a[16];

    return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}
