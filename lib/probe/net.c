/*
 * net.c - the probe's network helpers: monotonic clock, resolution,
 * non-blocking connect, address text.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

int64_t mailssl__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int mailssl__resolve(const char *host, int port, int family,
                     struct addrinfo **res)
{
    struct addrinfo hints;
    char service[8];

    memset(&hints, 0, sizeof hints);
    hints.ai_family =
        family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    if (mailssl__is_ip_literal(host))
        hints.ai_flags |= AI_NUMERICHOST;
    snprintf(service, sizeof service, "%d", port);
    *res = NULL;
    return getaddrinfo(host, service, &hints, res);
}

/* One node of a list made by mailssl__addrinfo_add: the address lives in
 * the same allocation. */
struct own_addrinfo {
    struct addrinfo ai;
    struct sockaddr_in6 sa; /* large enough for a sockaddr_in too */
};

int mailssl__addrinfo_add(struct addrinfo **list, int family,
                          const void *raw, int port)
{
    struct own_addrinfo *n = calloc(1, sizeof *n);

    if (!n)
        return MAILSSL_ERR_NOMEM;
    n->ai.ai_family = family;
    n->ai.ai_socktype = SOCK_STREAM;
    n->ai.ai_protocol = IPPROTO_TCP;
    n->ai.ai_addr = (struct sockaddr *)&n->sa;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&n->sa;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        memcpy(&s4->sin_addr, raw, 4);
        n->ai.ai_addrlen = sizeof *s4;
    } else {
        n->sa.sin6_family = AF_INET6;
        n->sa.sin6_port = htons((uint16_t)port);
        memcpy(&n->sa.sin6_addr, raw, 16);
        n->ai.ai_addrlen = sizeof n->sa;
    }
    while (*list)
        list = &(*list)->ai_next;
    *list = &n->ai;
    return MAILSSL_OK;
}

void mailssl__addrinfo_free(struct addrinfo *list)
{
    while (list) {
        struct addrinfo *next = list->ai_next;

        free(list); /* the node is the first member of its allocation */
        list = next;
    }
}

int mailssl__connect_start(const struct addrinfo *ai)
{
    int fd, one = 1;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0)
        return -errno;
    /* the dialogues write whole commands: no reason to wait for Nagle */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

int mailssl__connect_result(int fd)
{
    int e = 0;
    socklen_t len = sizeof e;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        return errno;
    return e;
}

void mailssl__sockaddr_text(const struct sockaddr *sa, char *dst, size_t n)
{
    dst[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, dst,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  dst, (socklen_t)n);
}

int mailssl__bytes_waiting(int fd)
{
    char c;

    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}
