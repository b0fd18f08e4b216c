/*
 * buf.c - growable strings and JSON string escaping.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void mailssl__buf_init(struct mailssl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void mailssl__buf_free(struct mailssl_buf *b)
{
    free(b->data);
    mailssl__buf_init(b);
}

static int buf_reserve(struct mailssl_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return -1;
    if (extra > (size_t)-1 - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void mailssl__buf_append(struct mailssl_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mailssl__buf_puts(struct mailssl_buf *b, const char *s)
{
    mailssl__buf_append(b, s, strlen(s));
}

void mailssl__buf_printf(struct mailssl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (buf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void mailssl__buf_json_string(struct mailssl_buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n;

    if (!s) {
        mailssl__buf_puts(b, "null");
        return;
    }
    mailssl__buf_append(b, "\"", 1);
    while (*s) {
        if (*s == '"' || *s == '\\') {
            mailssl__buf_append(b, "\\", 1);
            mailssl__buf_append(b, (const char *)s, 1);
            s++;
        } else if (*s == '\n') {
            mailssl__buf_puts(b, "\\n");
            s++;
        } else if (*s == '\r') {
            mailssl__buf_puts(b, "\\r");
            s++;
        } else if (*s == '\t') {
            mailssl__buf_puts(b, "\\t");
            s++;
        } else if (*s < 0x20 || *s == 0x7f) {
            mailssl__buf_printf(b, "\\u%04x", *s);
            s++;
        } else if ((n = utf8_seq(s)) == 0) {
            /* Not UTF-8: escape the byte (it reads back as U+00XX) so the
             * output stays valid JSON and the operator still sees it. */
            mailssl__buf_printf(b, "\\u%04x", *s);
            s++;
        } else {
            mailssl__buf_append(b, (const char *)s, n);
            s += n;
        }
    }
    mailssl__buf_append(b, "\"", 1);
}

char *mailssl__buf_finish(struct mailssl_buf *b)
{
    char *out;

    if (b->oom) {
        mailssl__buf_free(b);
        return NULL;
    }
    if (!b->data) {
        out = malloc(1);
        if (out)
            out[0] = '\0';
        return out;
    }
    out = b->data;
    mailssl__buf_init(b);
    return out;
}

void mailssl__set_error(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!dst || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

char *mailssl__strdup(const char *s)
{
    size_t n;
    char *p;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}
