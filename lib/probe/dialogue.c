/*
 * dialogue.c - the plaintext dialogues of the probe (SMTP family, IMAP,
 * POP3, ManageSieve) as line-driven state machines: no I/O, no clock.
 * The interface and the policy (what each server answer means) are
 * written down in lib/probe/dialogue.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialogue.h"

#define DEFAULT_CLIENT_NAME "mailssl-probe.invalid"
#define QUOTE_MAX 160   /* server bytes quoted in a message */
#define CAP_MAX 512     /* server bytes kept of one capability */
#define SIEVE_STR_MAX 1024 /* RFC 5804 quoted string bound */

enum {
    ST_IDLE = 0,  /* before begin() */
    ST_GREETING,  /* waiting for (the rest of) the greeting */
    ST_CAPS,      /* EHLO / CAPABILITY / CAPA / Sieve capabilities */
    ST_STARTTLS,  /* STARTTLS / STLS sent, waiting for the answer */
    ST_WAIT_TLS,  /* go-ahead returned; only begin(POST_TLS) is valid */
    ST_DONE,
    ST_FAILED
};

enum { FAM_SMTP, FAM_IMAP, FAM_POP3, FAM_SIEVE };

static int family(int service)
{
    switch (service) {
    case MAILSSL_SERVICE_IMAP:
    case MAILSSL_SERVICE_IMAPS:
        return FAM_IMAP;
    case MAILSSL_SERVICE_POP3:
    case MAILSSL_SERVICE_POP3S:
        return FAM_POP3;
    case MAILSSL_SERVICE_SIEVE:
        return FAM_SIEVE;
    default:
        return FAM_SMTP;
    }
}

/* The services table of lib/core/base.c is the one home of this fact. */
static int implicit_tls(int service)
{
    return mailssl_service_implicit_tls(service) == 1;
}

/* ---- text helpers ------------------------------------------------------- */

/* Appends s[0..len) with bytes outside 0x20-0x7e written as \xNN, at most
 * max input bytes, then "..." when cut. */
static void escape(struct mailssl_buf *b, const char *s, size_t len,
                   size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, n = len > max ? max : len;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            mailssl__buf_append(b, (const char *)&s[i], 1);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            mailssl__buf_append(b, e, 4);
        }
    }
    if (n < len)
        mailssl__buf_puts(b, "...");
}

void mailssl__dialogue_quote(char *dst, size_t n, const char *s, size_t len)
{
    struct mailssl_buf b;

    mailssl__buf_init(&b);
    escape(&b, s, len, QUOTE_MAX);
    mailssl__set_error(dst, n, "%s", b.data && !b.oom ? b.data : "");
    mailssl__buf_free(&b);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* s[0..len) equals word, ASCII case-insensitively. */
static int word_eq(const char *s, size_t len, const char *word)
{
    size_t i;

    if (strlen(word) != len)
        return 0;
    for (i = 0; i < len; i++)
        if (lower((unsigned char)s[i]) != lower((unsigned char)word[i]))
            return 0;
    return 1;
}

/* Length of the first space-delimited token of s[0..len). */
static size_t token_len(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && s[i] != ' ')
        i++;
    return i;
}

/* The line starts with word followed by a space or its end. */
static int starts_word(const char *s, size_t len, const char *word)
{
    return word_eq(s, token_len(s, len), word);
}

/* An IMAP/Sieve literal announcement ends the line: "{digits}" or
 * "{digits+}". The number is never parsed, so nothing is allocated. */
static int ends_with_literal(const char *s, size_t len)
{
    size_t i;

    if (len < 3 || s[len - 1] != '}')
        return 0;
    i = len - 1;
    if (s[i - 1] == '+')
        i--;
    if (i == 0 || s[i - 1] < '0' || s[i - 1] > '9')
        return 0;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    return i > 0 && s[i - 1] == '{';
}

/* ---- results ------------------------------------------------------------ */

static int fail(struct mailssl_dialogue *d, int code, const char *fmt, ...)
    MAILSSL_PRINTF(3, 4);

/* Ends the dialogue with code (post-tls-failed whatever code after TLS:
 * the message keeps the reason). */
static int fail(struct mailssl_dialogue *d, int code, const char *fmt, ...)
{
    char msg[sizeof d->message];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->phase == MAILSSL_PHASE_POST_TLS) {
        d->code = MAILSSL_CODE_POST_TLS_FAILED;
        mailssl__set_error(d->message, sizeof d->message, "after TLS, %s",
                           msg);
    } else {
        d->code = code;
        mailssl__set_error(d->message, sizeof d->message, "%s", msg);
    }
    d->state = ST_FAILED;
    return MAILSSL_DLG_FAIL;
}

static int fail_oom(struct mailssl_dialogue *d)
{
    d->oom = 1;
    return fail(d, MAILSSL_CODE_PROTOCOL_ERROR, "out of memory");
}

static int done(struct mailssl_dialogue *d)
{
    d->stage = MAILSSL_STAGE_POST_TLS;
    d->state = ST_DONE;
    return MAILSSL_DLG_DONE;
}

static int go_ahead(struct mailssl_dialogue *d)
{
    d->stage = MAILSSL_STAGE_STARTTLS;
    d->state = ST_WAIT_TLS;
    return MAILSSL_DLG_STARTTLS;
}

/* Starts a new response (after a command was sent). */
static void new_response(struct mailssl_dialogue *d)
{
    d->lines = 0;
    d->reply_code = 0;
    d->reply[0] = '\0';
}

void mailssl__dialogue_caps_free(char **caps, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(caps[i]);
    free(caps);
}

static void free_caps(struct mailssl_dialogue *d)
{
    mailssl__dialogue_caps_free(d->caps, d->ncaps);
    d->caps = NULL;
    d->ncaps = 0;
}

/* Notes one capability: STARTTLS-ness always, storage only after TLS.
 * starttls is the keyword naming STARTTLS in this protocol. Returns 0 or
 * -1 on allocation failure. */
static int add_cap(struct mailssl_dialogue *d, const char *s, size_t len,
                   const char *starttls)
{
    struct mailssl_buf b;
    char *cap;

    if (word_eq(s, token_len(s, len), starttls))
        d->starttls_offered = 1;
    if (d->phase != MAILSSL_PHASE_POST_TLS || len == 0 ||
        d->ncaps >= MAILSSL_DIALOGUE_MAX_CAPS)
        return 0;
    if (!d->caps) {
        d->caps = calloc(MAILSSL_DIALOGUE_MAX_CAPS, sizeof *d->caps);
        if (!d->caps)
            return -1;
    }
    mailssl__buf_init(&b);
    escape(&b, s, len, CAP_MAX);
    cap = mailssl__buf_finish(&b);
    if (!cap)
        return -1;
    d->caps[d->ncaps++] = cap;
    return 0;
}

/* The capability list is complete. After TLS the dialogue is done (quit
 * queued); before, the STARTTLS command stls is sent when it was offered,
 * else starttls-not-offered (where says where it was looked for). */
static int caps_complete(struct mailssl_dialogue *d, struct mailssl_buf *out,
                         const char *quit, const char *stls,
                         const char *where)
{
    int r;

    if (d->phase == MAILSSL_PHASE_POST_TLS) {
        mailssl__buf_printf(out, "%s\r\n", quit);
        return done(d);
    }
    if (!d->starttls_offered) {
        r = fail(d, MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                 "the server does not offer %s (not in its %s)", stls, where);
        mailssl__buf_printf(out, "%s\r\n", quit);
        return r;
    }
    mailssl__buf_printf(out, "%s\r\n", stls);
    new_response(d);
    d->state = ST_STARTTLS;
    return MAILSSL_DLG_MORE;
}

/* The answer to STARTTLS/STLS (command cmd): the go-ahead, a refusal
 * (quit queued when not NULL), or anything else. */
enum { ANSWER_GO, ANSWER_REFUSED, ANSWER_OTHER };

static int starttls_answer(struct mailssl_dialogue *d,
                           struct mailssl_buf *out, int answer,
                           const char *quit, const char *cmd)
{
    int r;

    if (answer == ANSWER_GO)
        return go_ahead(d);
    if (answer == ANSWER_OTHER)
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "unexpected reply to %s: \"%s\"", cmd, d->reply);
    r = fail(d, MAILSSL_CODE_STARTTLS_REFUSED, "the server refused %s: %s",
             cmd, d->reply);
    if (quit)
        mailssl__buf_printf(out, "%s\r\n", quit);
    return r;
}

/* ---- SMTP, submission, LMTP, smtps (RFC 5321, 3207, 2033, 8314) --------- */

static void smtp_hello(struct mailssl_dialogue *d, struct mailssl_buf *out)
{
    mailssl__buf_printf(out, "%s %s\r\n",
                        d->service == MAILSSL_SERVICE_LMTP ? "LHLO" : "EHLO",
                        d->client_name);
    new_response(d);
    d->state = ST_CAPS;
}

/* Parses a reply line: code (200-599), whether it is the last line, and
 * its text. Returns 0, or -1 when the line is not a reply line. */
static int smtp_parse(const char *l, size_t len, int *code, int *last,
                      const char **text, size_t *tlen)
{
    if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
        l[2] < '0' || l[2] > '9')
        return -1;
    if (len > 3 && l[3] != ' ' && l[3] != '-')
        return -1;
    *code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    *last = len == 3 || l[3] == ' ';
    *text = len > 4 ? l + 4 : l + len;
    *tlen = len > 4 ? len - 4 : 0;
    return 0;
}

static int smtp_line(struct mailssl_dialogue *d, const char *l, size_t len,
                     struct mailssl_buf *out)
{
    int code, last;
    const char *text;
    size_t tlen;

    char q[sizeof d->reply];

    if (smtp_parse(l, len, &code, &last, &text, &tlen) < 0) {
        mailssl__dialogue_quote(q, sizeof q, l, len);
        if (d->state == ST_GREETING)
            return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                        "the greeting is not an SMTP reply: \"%s\"", q);
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server sent a line that is not an SMTP reply: "
                    "\"%s\"", q);
    }
    if (d->lines > 1 && code != d->reply_code) {
        mailssl__dialogue_quote(q, sizeof q, l, len);
        if (d->state == ST_GREETING)
            return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                        "the greeting changes its reply code from %d: "
                        "\"%s\"", d->reply_code, q);
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "a multi-line reply changes its code from %d: \"%s\"",
                    d->reply_code, q);
    }
    d->reply_code = code;
    if (d->lines == 1 && !last)
        d->reply[3] = ' '; /* "454-text" reads "454 text" in messages */

    switch (d->state) {
    case ST_GREETING:
        if (!last)
            return MAILSSL_DLG_MORE;
        if (code == 220) {
            if (d->phase == MAILSSL_PHASE_PRE_TLS)
                d->stage = MAILSSL_STAGE_GREETING;
            smtp_hello(d, out);
            return MAILSSL_DLG_MORE;
        }
        if (code == 421 || code == 521 || code == 554) {
            if (code != 421)
                mailssl__buf_puts(out, "QUIT\r\n");
            return fail(d, MAILSSL_CODE_GREETING_REJECTED,
                        "the server rejected the connection: %s", d->reply);
        }
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "unexpected greeting: %s", d->reply);

    case ST_CAPS:
        if (code == 250 && d->lines > 1 && add_cap(d, text, tlen, "STARTTLS"))
            return fail_oom(d);
        if (!last)
            return MAILSSL_DLG_MORE;
        if (code != 250) {
            if (d->phase == MAILSSL_PHASE_PRE_TLS && code >= 500) {
                mailssl__buf_puts(out, "QUIT\r\n");
                return fail(d, MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                            "the server does not offer STARTTLS: it refused "
                            "%s: %s",
                            d->service == MAILSSL_SERVICE_LMTP ? "LHLO"
                                                               : "EHLO",
                            d->reply);
            }
            return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                        "unexpected reply to %s: %s",
                        d->service == MAILSSL_SERVICE_LMTP ? "LHLO" : "EHLO",
                        d->reply);
        }
        return caps_complete(d, out, "QUIT", "STARTTLS",
                             d->service == MAILSSL_SERVICE_LMTP
                                 ? "LHLO reply"
                                 : "EHLO reply");

    case ST_STARTTLS:
        if (!last)
            return MAILSSL_DLG_MORE;
        return starttls_answer(d, out,
                               code == 220 ? ANSWER_GO
                               : code == 454 || code == 501 || code == 502
                                   ? ANSWER_REFUSED
                                   : ANSWER_OTHER,
                               "QUIT", "STARTTLS");
    }
    return fail(d, MAILSSL_CODE_PROTOCOL_ERROR, "unexpected line");
}

/* ---- IMAP (RFC 3501, 9051, 2595) ---------------------------------------- */

static void imap_command(struct mailssl_dialogue *d, struct mailssl_buf *out,
                         const char *command, int state)
{
    snprintf(d->tag, sizeof d->tag, "A%u", ++d->tag_counter);
    mailssl__buf_printf(out, "%s %s\r\n", d->tag, command);
    new_response(d);
    d->state = state;
}

/* Notes the capabilities of "CAPABILITY a b c" (s points at the
 * space-separated list, after the word CAPABILITY). */
static int imap_caps(struct mailssl_dialogue *d, const char *s, size_t len)
{
    size_t i = 0, n;

    while (i < len) {
        while (i < len && s[i] == ' ')
            i++;
        n = token_len(s + i, len - i);
        if (n && add_cap(d, s + i, n, "STARTTLS"))
            return -1;
        i += n;
    }
    return 0;
}

/* A response code "[CAPABILITY ...]" at s (the text after OK): notes its
 * capabilities. */
static int imap_resp_code_caps(struct mailssl_dialogue *d, const char *s,
                               size_t len)
{
    const char *end;

    if (len < 12 || s[0] != '[' || !word_eq(s + 1, 10, "CAPABILITY") ||
        (s[11] != ' ' && s[11] != ']'))
        return 0;
    end = memchr(s, ']', len);
    if (!end)
        return 0;
    return imap_caps(d, s + 11, (size_t)(end - s) - 11);
}

/* After the status word of an untagged/tagged line: its text. */
static const char *after_word(const char *s, size_t len, size_t *rest)
{
    size_t n = token_len(s, len);

    if (n < len) {
        *rest = len - n - 1;
        return s + n + 1;
    }
    *rest = 0;
    return s + len;
}

static int imap_greeting(struct mailssl_dialogue *d, const char *l,
                         size_t len, struct mailssl_buf *out)
{
    const char *w, *text;
    size_t wlen, tlen;
    int r;

    if (len < 2 || l[0] != '*' || l[1] != ' ')
        return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                    "the greeting is not an IMAP greeting: \"%s\"", d->reply);
    w = l + 2;
    wlen = len - 2;
    text = after_word(w, wlen, &tlen);
    if (starts_word(w, wlen, "BYE"))
        return fail(d, MAILSSL_CODE_GREETING_REJECTED,
                    "the server rejected the connection: %s", d->reply);
    if (starts_word(w, wlen, "PREAUTH")) {
        if (d->phase == MAILSSL_PHASE_PRE_TLS) {
            d->stage = MAILSSL_STAGE_GREETING;
            r = fail(d, MAILSSL_CODE_STARTTLS_PREAUTH,
                     "the server greeted with PREAUTH, so STARTTLS is "
                     "impossible (the session is already authenticated in "
                     "plaintext): %s", d->reply);
            imap_command(d, out, "LOGOUT", ST_FAILED);
            return r;
        }
        imap_command(d, out, "CAPABILITY", ST_CAPS);
        return MAILSSL_DLG_MORE;
    }
    if (!starts_word(w, wlen, "OK"))
        return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                    "the greeting is not an IMAP greeting: \"%s\"", d->reply);
    if (d->phase == MAILSSL_PHASE_POST_TLS) {
        imap_command(d, out, "CAPABILITY", ST_CAPS);
        return MAILSSL_DLG_MORE;
    }
    d->stage = MAILSSL_STAGE_GREETING;
    /* Capabilities in the greeting decide only whether STARTTLS can be
     * sent at once (RFC 3501 7.1); never stored. */
    if (imap_resp_code_caps(d, text, tlen))
        return fail_oom(d);
    if (d->starttls_offered)
        imap_command(d, out, "STARTTLS", ST_STARTTLS);
    else
        imap_command(d, out, "CAPABILITY", ST_CAPS);
    return MAILSSL_DLG_MORE;
}

/* A line of a command's response: untagged, continuation, ours or not. */
static int imap_response(struct mailssl_dialogue *d, const char *l,
                         size_t len, struct mailssl_buf *out)
{
    size_t taglen = strlen(d->tag), tlen;
    const char *w, *text;
    size_t wlen;
    int r;

    if (len >= 1 && l[0] == '*' && (len == 1 || l[1] == ' ')) {
        w = len > 2 ? l + 2 : l + len;
        wlen = len > 2 ? len - 2 : 0;
        if (starts_word(w, wlen, "BYE"))
            return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                        "the server ended the session: %s", d->reply);
        /* Only the CAPABILITY command's own untagged answer counts;
         * untagged lines during STARTTLS are ignored, never trusted. */
        if (d->state == ST_CAPS && starts_word(w, wlen, "CAPABILITY")) {
            text = after_word(w, wlen, &tlen);
            if (imap_caps(d, text, tlen))
                return fail_oom(d);
        }
        return MAILSSL_DLG_MORE;
    }
    if (len >= 1 && l[0] == '+')
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server asked for a continuation (\"+\") where none "
                    "was expected: %s", d->reply);
    if (len <= taglen || memcmp(l, d->tag, taglen) != 0 || l[taglen] != ' ')
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server answered with a tag other than %s: \"%s\"",
                    d->tag, d->reply);
    w = l + taglen + 1;
    wlen = len - taglen - 1;
    text = after_word(w, wlen, &tlen);
    if (d->state == ST_STARTTLS) {
        r = starttls_answer(d, out,
                            starts_word(w, wlen, "OK") ? ANSWER_GO
                            : starts_word(w, wlen, "NO") ||
                                    starts_word(w, wlen, "BAD")
                                ? ANSWER_REFUSED
                                : ANSWER_OTHER,
                            NULL, "STARTTLS");
        if (d->code == MAILSSL_CODE_STARTTLS_REFUSED)
            imap_command(d, out, "LOGOUT", ST_FAILED);
        return r;
    }
    if (starts_word(w, wlen, "OK")) {
        /* CAPABILITY done; a [CAPABILITY] response code counts too. */
        if (d->ncaps == 0 && imap_resp_code_caps(d, text, tlen))
            return fail_oom(d);
        if (d->phase == MAILSSL_PHASE_POST_TLS) {
            imap_command(d, out, "LOGOUT", ST_DONE);
            return done(d);
        }
        if (!d->starttls_offered) {
            r = fail(d, MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                     "the server does not offer STARTTLS (not in its "
                     "CAPABILITY list)");
            imap_command(d, out, "LOGOUT", ST_FAILED);
            return r;
        }
        imap_command(d, out, "STARTTLS", ST_STARTTLS);
        return MAILSSL_DLG_MORE;
    }
    if (starts_word(w, wlen, "NO") || starts_word(w, wlen, "BAD"))
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server refused CAPABILITY: %s", d->reply);
    return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                "unexpected tagged answer: \"%s\"", d->reply);
}

static int imap_line(struct mailssl_dialogue *d, const char *l, size_t len,
                     struct mailssl_buf *out)
{
    if (ends_with_literal(l, len))
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server sent a literal, which a probe never needs: "
                    "\"%s\"", d->reply);
    if (d->state == ST_GREETING)
        return imap_greeting(d, l, len, out);
    return imap_response(d, l, len, out);
}

/* ---- POP3 (RFC 1939, 2449, 2595) ---------------------------------------- */

static void pop3_capa(struct mailssl_dialogue *d, struct mailssl_buf *out)
{
    mailssl__buf_puts(out, "CAPA\r\n");
    new_response(d);
    d->state = ST_CAPS;
}

static int pop3_line(struct mailssl_dialogue *d, const char *l, size_t len,
                     struct mailssl_buf *out)
{
    int ok = starts_word(l, len, "+OK"), err = starts_word(l, len, "-ERR");

    switch (d->state) {
    case ST_GREETING:
        if (err)
            return fail(d, MAILSSL_CODE_GREETING_REJECTED,
                        "the server rejected the connection: %s", d->reply);
        if (!ok)
            return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                        "the greeting is not a POP3 greeting: \"%s\"",
                        d->reply);
        if (d->phase == MAILSSL_PHASE_PRE_TLS)
            d->stage = MAILSSL_STAGE_GREETING;
        pop3_capa(d, out);
        return MAILSSL_DLG_MORE;

    case ST_CAPS:
        if (!d->reply_code) { /* the status line */
            if (ok) {
                d->reply_code = 1;
                return MAILSSL_DLG_MORE;
            }
            if (err && d->phase == MAILSSL_PHASE_POST_TLS) {
                /* RFC 1939 servers without CAPA still answered. */
                mailssl__buf_puts(out, "QUIT\r\n");
                return done(d);
            }
            if (err) {
                mailssl__buf_puts(out, "QUIT\r\n");
                return fail(d, MAILSSL_CODE_STARTTLS_NOT_OFFERED,
                            "the server does not offer STLS (it does not "
                            "support CAPA: %s)", d->reply);
            }
            return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                        "unexpected reply to CAPA: \"%s\"", d->reply);
        }
        if (len == 1 && l[0] == '.')
            return caps_complete(d, out, "QUIT", "STLS", "CAPA list");
        if (len > 0 && l[0] == '.') { /* dot-stuffed */
            l++;
            len--;
        }
        if (add_cap(d, l, len, "STLS"))
            return fail_oom(d);
        return MAILSSL_DLG_MORE;

    case ST_STARTTLS:
        return starttls_answer(d, out,
                               ok    ? ANSWER_GO
                               : err ? ANSWER_REFUSED
                                     : ANSWER_OTHER,
                               "QUIT", "STLS");
    }
    return fail(d, MAILSSL_CODE_PROTOCOL_ERROR, "unexpected line");
}

/* ---- ManageSieve (RFC 5804) --------------------------------------------- */

/* Parses the quoted string at s[*i] ('"' ... '"', with \" and \\); copies
 * the unescaped contents to dst (NUL-terminated) when dst is not NULL.
 * Returns the content length, or -1 when malformed or over the bound. */
static long sieve_quoted(const char *s, size_t len, size_t *i, char *dst)
{
    size_t j = *i + 1;
    long n = 0;

    if (*i >= len || s[*i] != '"')
        return -1;
    while (j < len && s[j] != '"') {
        if (s[j] == '\\') {
            if (j + 1 >= len || (s[j + 1] != '"' && s[j + 1] != '\\'))
                return -1;
            j++;
        } else if (s[j] == '\r' || s[j] == '\n') {
            return -1;
        }
        if (n >= SIEVE_STR_MAX)
            return -1;
        if (dst)
            dst[n] = s[j];
        n++;
        j++;
    }
    if (j >= len)
        return -1;
    if (dst)
        dst[n] = '\0';
    *i = j + 1;
    return n;
}

/* A capability line: string [SP string]. Returns 0, 1 when malformed, -1
 * on allocation failure. */
static int sieve_cap(struct mailssl_dialogue *d, const char *l, size_t len)
{
    char name[SIEVE_STR_MAX + 1];
    size_t i = 0;
    long n = sieve_quoted(l, len, &i, name);

    if (n < 0)
        return 1;
    if (i < len) {
        if (l[i] != ' ')
            return 1;
        i++;
        if (sieve_quoted(l, len, &i, NULL) < 0 || i != len)
            return 1;
    }
    return add_cap(d, name, (size_t)n, "STARTTLS") ? -1 : 0;
}

static int sieve_line(struct mailssl_dialogue *d, const char *l, size_t len,
                      struct mailssl_buf *out)
{
    int r;

    if (ends_with_literal(l, len))
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server sent a literal, which a probe never needs: "
                    "\"%s\"", d->reply);
    if (d->state == ST_GREETING || d->state == ST_CAPS) {
        if (len > 0 && l[0] == '"') {
            r = sieve_cap(d, l, len);
            if (r < 0)
                return fail_oom(d);
            if (r > 0) {
                if (d->state == ST_GREETING)
                    return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                                "malformed capability line in the "
                                "greeting: \"%s\"", d->reply);
                return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                            "malformed capability line: \"%s\"", d->reply);
            }
            return MAILSSL_DLG_MORE;
        }
        if (starts_word(l, len, "OK")) {
            if (d->phase == MAILSSL_PHASE_PRE_TLS)
                d->stage = MAILSSL_STAGE_GREETING;
            return caps_complete(d, out, "LOGOUT", "STARTTLS",
                                 "capabilities");
        }
        if (starts_word(l, len, "NO") || starts_word(l, len, "BYE"))
            return fail(d, MAILSSL_CODE_GREETING_REJECTED,
                        "the server rejected the connection: %s", d->reply);
        return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                    "the greeting is not a ManageSieve greeting: \"%s\"",
                    d->reply);
    }
    /* ST_STARTTLS */
    return starttls_answer(d, out,
                           starts_word(l, len, "OK")   ? ANSWER_GO
                           : starts_word(l, len, "NO") ? ANSWER_REFUSED
                                                       : ANSWER_OTHER,
                           "LOGOUT", "STARTTLS");
}

/* ---- interface ---------------------------------------------------------- */

int mailssl__dialogue_init(struct mailssl_dialogue *d, int service)
{
    if (!d || service <= MAILSSL_SERVICE_ANY || service > MAILSSL_SERVICE_MAX)
        return MAILSSL_ERR_INVALID;
    memset(d, 0, sizeof *d);
    d->service = service;
    d->state = ST_IDLE;
    d->stage = MAILSSL_STAGE_NONE;
    d->code = MAILSSL_CODE_OK;
    memcpy(d->client_name, DEFAULT_CLIENT_NAME, sizeof DEFAULT_CLIENT_NAME);
    return 0;
}

void mailssl__dialogue_clear(struct mailssl_dialogue *d)
{
    if (d)
        free_caps(d);
}

int mailssl__dialogue_set_client_name(struct mailssl_dialogue *d,
                                      const char *name)
{
    size_t i, n;

    if (!d || !name)
        return MAILSSL_ERR_INVALID;
    n = strlen(name);
    if (n == 0 || n >= sizeof d->client_name)
        return MAILSSL_ERR_INVALID;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']'))
            return MAILSSL_ERR_INVALID;
    }
    memcpy(d->client_name, name, n + 1);
    return 0;
}

int mailssl__dialogue_begin(struct mailssl_dialogue *d, int phase,
                            struct mailssl_buf *out)
{
    if (!d || !out)
        return MAILSSL_DLG_FAIL;
    if (d->state == ST_FAILED || d->state == ST_DONE)
        return d->state == ST_DONE ? MAILSSL_DLG_DONE : MAILSSL_DLG_FAIL;
    if (phase == MAILSSL_PHASE_PRE_TLS) {
        if (implicit_tls(d->service) || d->state != ST_IDLE)
            return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                        "internal error: no plaintext phase here");
    } else if (phase == MAILSSL_PHASE_POST_TLS) {
        if (implicit_tls(d->service) ? d->state != ST_IDLE
                                     : d->state != ST_WAIT_TLS)
            return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                        "internal error: TLS phase without a go-ahead");
    } else {
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "internal error: unknown phase");
    }
    d->phase = phase;
    free_caps(d); /* nothing from an earlier phase survives */
    d->starttls_offered = 0;
    new_response(d);
    d->state = ST_GREETING;
    if (phase == MAILSSL_PHASE_POST_TLS && !implicit_tls(d->service)) {
        switch (family(d->service)) {
        case FAM_SMTP:
            smtp_hello(d, out);
            break;
        case FAM_IMAP:
            imap_command(d, out, "CAPABILITY", ST_CAPS);
            break;
        case FAM_POP3:
            pop3_capa(d, out);
            break;
        case FAM_SIEVE: /* the server re-sends its capabilities */
            d->state = ST_CAPS;
            break;
        }
    }
    return MAILSSL_DLG_MORE;
}

int mailssl__dialogue_line(struct mailssl_dialogue *d, const char *line,
                           size_t len, struct mailssl_buf *out)
{
    int greeting, fam;

    if (!d || !out || (!line && len))
        return MAILSSL_DLG_FAIL;
    switch (d->state) {
    case ST_DONE:
        return MAILSSL_DLG_DONE;
    case ST_FAILED:
        return MAILSSL_DLG_FAIL;
    case ST_IDLE:
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "internal error: line before begin()");
    case ST_WAIT_TLS:
        return fail(d, MAILSSL_CODE_STARTTLS_INJECTION,
                    "the server sent more after the STARTTLS go-ahead, "
                    "before TLS");
    }
    if (!line)
        line = "";
    greeting = d->state == ST_GREETING;
    fam = family(d->service);
    d->lines++;
    /* SMTP and POP3 messages quote the first line of a response (code and
     * text, status line); IMAP and Sieve ones the line at hand. */
    if (d->lines == 1 || fam == FAM_IMAP || fam == FAM_SIEVE)
        mailssl__dialogue_quote(d->reply, sizeof d->reply, line, len);
    if (d->lines > MAILSSL_DIALOGUE_MAX_LINES)
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server sent more than %d lines in one response",
                    MAILSSL_DIALOGUE_MAX_LINES);
    if (memchr(line, '\0', len)) {
        char q[sizeof d->reply];

        mailssl__dialogue_quote(q, sizeof q, line, len);
        if (greeting)
            return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                        "the greeting contains a NUL byte: \"%s\"", q);
        return fail(d, MAILSSL_CODE_PROTOCOL_ERROR,
                    "the server sent a NUL byte: \"%s\"", q);
    }
    if (len == 0 && greeting && d->lines == 1)
        return fail(d, MAILSSL_CODE_GREETING_MALFORMED,
                    "the greeting is an empty line");
    switch (fam) {
    case FAM_SMTP:
        return smtp_line(d, line, len, out);
    case FAM_IMAP:
        return imap_line(d, line, len, out);
    case FAM_POP3:
        return pop3_line(d, line, len, out);
    default:
        return sieve_line(d, line, len, out);
    }
}

/* What the server was sending in the current state, for messages. */
static const char *answer_name(const struct mailssl_dialogue *d)
{
    int fam = family(d->service);

    switch (d->state) {
    case ST_GREETING:
        return "the greeting";
    case ST_CAPS:
        return fam == FAM_SIEVE ? "the capability list"
               : fam == FAM_IMAP ? "the reply to CAPABILITY"
               : fam == FAM_POP3 ? "the reply to CAPA"
               : d->service == MAILSSL_SERVICE_LMTP ? "the reply to LHLO"
                                                    : "the reply to EHLO";
    case ST_STARTTLS:
        return fam == FAM_POP3 ? "the reply to STLS" : "the reply to STARTTLS";
    default:
        return "a line";
    }
}

int mailssl__dialogue_cut_off(struct mailssl_dialogue *d, const char *bytes,
                              size_t len, const char *how)
{
    char q[sizeof d->reply];

    if (!d || (!bytes && len))
        return MAILSSL_DLG_FAIL;
    if (d->state == ST_DONE || d->state == ST_FAILED)
        return d->state == ST_DONE ? MAILSSL_DLG_DONE : MAILSSL_DLG_FAIL;
    mailssl__dialogue_quote(q, sizeof q, bytes ? bytes : "", len);
    /* a greeting that never ended is a malformed greeting; any later
     * answer cut short is an unexpected reply (post-tls-failed after
     * TLS, which fail() sees to) */
    return fail(d,
                d->state == ST_GREETING ? MAILSSL_CODE_GREETING_MALFORMED
                                        : MAILSSL_CODE_PROTOCOL_ERROR,
                "%s was cut off: the server sent \"%s\" without a line "
                "end, then %s",
                answer_name(d), q, how ? how : "ended the connection");
}

int mailssl__dialogue_timeout_code(const struct mailssl_dialogue *d)
{
    if (d && d->phase == MAILSSL_PHASE_POST_TLS)
        return MAILSSL_CODE_POST_TLS_FAILED;
    if (!d || d->stage < MAILSSL_STAGE_GREETING)
        return MAILSSL_CODE_GREETING_TIMEOUT;
    return MAILSSL_CODE_STARTTLS_TIMEOUT;
}
