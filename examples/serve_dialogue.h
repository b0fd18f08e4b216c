/*
 * serve_dialogue.h - the server side of the mail dialogues of
 * mailssl-serve: just enough of SMTP, submission, LMTP, IMAP, POP3 and
 * ManageSieve for a client to see the greeting, the capabilities, go
 * through STARTTLS/STLS, see the capabilities again over TLS, and leave
 * with QUIT/LOGOUT.
 *
 * No I/O: the event loop feeds complete lines (without CRLF) and sends
 * what each call wrote to out, then acts on the return value. This is the
 * part of a mail server that the probe's dialogues (lib/probe/dialogue.c) talk
 * to, so that every service can be probed end to end.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_SERVE_DIALOGUE_H
#define MAILSSL_SERVE_DIALOGUE_H

#include <stddef.h>

/* What the event loop does after sending out. */
#define SD_CONTINUE 0 /* read the next line */
#define SD_STARTTLS 1 /* discard any input already received (RFC 3207
                         section 4.2: nothing sent before TLS counts),
                         then run the TLS handshake and call
                         sd_tls_started() */
#define SD_CLOSE 2    /* close the connection */

/* Replies are short: one call never writes more than this. */
#define SD_OUT_MAX 1024
/* Longest command line accepted (SMTP's 512 with room to spare). */
#define SD_LINE_MAX 2048

struct serve_dialogue {
    int service; /* MAILSSL_SERVICE_* (not ANY) */
    int tls;     /* 1 once TLS is up */
    int greeted; /* SMTP: EHLO/HELO/LHLO seen in this TLS state */
};

/* Starts the dialogue of a new connection. For a STARTTLS service the
 * greeting goes to out at once; for an implicit-TLS service out stays
 * empty until sd_tls_started(). Returns the number of bytes written. */
size_t sd_begin(struct serve_dialogue *d, int service, char *out,
                size_t outlen);

/* TLS is up (implicit, or after STARTTLS): writes what the server says
 * first over TLS (the greeting on smtps/imaps/pop3s; ManageSieve's
 * capabilities again after STARTTLS; nothing for the others). Returns the
 * number of bytes written. */
size_t sd_tls_started(struct serve_dialogue *d, char *out, size_t outlen);

/* One command line (without its line end). Writes the reply to out
 * (*outn bytes) and returns SD_CONTINUE, SD_STARTTLS or SD_CLOSE. */
int sd_line(struct serve_dialogue *d, const char *line, size_t len,
            char *out, size_t outlen, size_t *outn);

/* A line longer than SD_LINE_MAX: writes the service's error and returns
 * SD_CLOSE. */
int sd_line_too_long(struct serve_dialogue *d, char *out, size_t outlen,
                     size_t *outn);

/* A client idle for too long: writes the service's goodbye (nothing for
 * TLS that never started) and returns SD_CLOSE. */
int sd_timeout(struct serve_dialogue *d, char *out, size_t outlen,
               size_t *outn);

#endif
