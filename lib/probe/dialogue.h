/*
 * dialogue.h - the plaintext protocol dialogues of the probe (SMTP,
 * submission, LMTP, IMAP, POP3, ManageSieve), as line-driven state
 * machines with no I/O of their own. The probe engine (lib/probe/probe.c)
 * reads
 * bytes, splits lines, enforces the caps and deadlines, and feeds each
 * complete line here; the dialogue says what to send and what it
 * concluded. This keeps every parser testable and fuzzable without a
 * socket.
 *
 * How the engine drives it: init (optionally set_client_name), then
 * begin(PRE_TLS) for a STARTTLS service or begin(POST_TLS) right after the
 * handshake for an implicit-TLS one; feed every line; after each call send
 * what was appended to out, then act on the result. STARTTLS: check that
 * nothing follows the go-ahead line in the receive buffer (else
 * starttls-injection, close at once), handshake, begin(POST_TLS) (it may
 * queue EHLO/CAPABILITY/CAPA). DONE: send out (QUIT/LOGOUT), close, report
 * d->caps. FAIL: send out if not empty (only ever a polite QUIT/LOGOUT
 * before any go-ahead), close, report d->code and d->message (or
 * MAILSSL_ERR_NOMEM when d->oom). Lines fed after DONE/FAIL change nothing
 * and return the same result; a line fed after STARTTLS (before
 * begin(POST_TLS)) fails with starttls-injection.
 *
 * Policy (tested in tests/test_dialogue.c):
 *  - before TLS, capabilities only decide whether STARTTLS is offered and
 *    are never stored; after TLS they are stored (EHLO lines after the
 *    first with their parameters, IMAP capability atoms, CAPA lines after
 *    dot-unstuffing, Sieve capability names) and never acted upon;
 *  - the go-ahead is returned only on the line that carries it: the final
 *    line of an SMTP 220 reply, the tagged OK with the exact tag, POP3
 *    +OK, Sieve OK; untagged IMAP lines never count;
 *  - after TLS every failure the dialogue decides is post-tls-failed
 *    ("after TLS, ..." says what); an implicit-TLS greeting is part of that
 *    phase. The size caps the engine enforces (line, lines, bytes of a
 *    phase) stay protocol-error in both phases, as SPEC.md section 4 says;
 *  - bytes without a line end when the connection ends are a line cut
 *    off: greeting-malformed in the pre-TLS greeting (Sieve's
 *    capabilities before TLS are its greeting), protocol-error in a later
 *    pre-TLS answer, post-tls-failed after TLS, the bytes quoted
 *    (mailssl__dialogue_cut_off); an end with nothing pending is the
 *    engine's (greeting-rejected before the greeting, protocol-error in the
 *    capability/STARTTLS exchange, post-tls-failed after TLS);
 *  - a NUL byte is greeting-malformed in the greeting, protocol-error
 *    later; other control and 8-bit bytes (including non-UTF-8) are
 *    accepted and shown as \xNN in messages and capabilities;
 *  - more than MAILSSL_DIALOGUE_MAX_LINES lines in one response is
 *    protocol-error; capabilities past MAILSSL_DIALOGUE_MAX_CAPS are
 *    dropped (STARTTLS among them is still seen);
 *  - an IMAP/Sieve literal ({N} or {N+} ending a line) is protocol-error;
 *    N is never parsed, nothing is allocated for it;
 *  - SMTP: greeting 220 accepted, 421/521/554 greeting-rejected, others
 *    protocol-error; EHLO/LHLO refused with 5xx before TLS is
 *    starttls-not-offered; STARTTLS 220 go-ahead, 454/501/502
 *    starttls-refused, others (354, 530, ...) protocol-error; a line whose
 *    code differs from the first line of its reply is malformed;
 *  - IMAP: PREAUTH before TLS is starttls-preauth (after TLS, on imaps,
 *    it is fine); BYE greeting is greeting-rejected; greeting capabilities
 *    with STARTTLS let STARTTLS go at once, else CAPABILITY is asked; NO or
 *    BAD to STARTTLS is starttls-refused; "+", another tag, an unknown
 *    status or an untagged BYE is protocol-error;
 *  - POP3: -ERR to CAPA before TLS is starttls-not-offered; after TLS (a
 *    server without CAPA) the dialogue is done with no capabilities;
 *  - Sieve: NO/BYE greeting is greeting-rejected; NO to STARTTLS is
 *    starttls-refused; after TLS nothing is sent until the server's
 *    capabilities and OK arrived.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_DIALOGUE_H
#define MAILSSL_DIALOGUE_H

#include <stddef.h>

#include "internal.h"

/* Caps the engine enforces (a line longer than this, or a response with
 * more lines, is protocol-error). */
#define MAILSSL_DIALOGUE_MAX_LINE 8192
#define MAILSSL_DIALOGUE_MAX_LINES 1000
#define MAILSSL_DIALOGUE_MAX_CAPS 256

/* Phases. */
#define MAILSSL_PHASE_PRE_TLS 1  /* STARTTLS services only, before TLS */
#define MAILSSL_PHASE_POST_TLS 2 /* after the handshake (all services) */

/* Results of mailssl__dialogue_begin / mailssl__dialogue_line. */
#define MAILSSL_DLG_MORE 0     /* waiting for more lines; out may hold bytes
                                  to send first */
#define MAILSSL_DLG_STARTTLS 1 /* the server said go ahead: the engine
                                  checks that nothing follows in its buffer
                                  (else starttls-injection), then does the
                                  handshake, then begin(POST_TLS) */
#define MAILSSL_DLG_DONE 2     /* post-TLS dialogue succeeded; out may hold
                                  QUIT/LOGOUT to send before closing */
#define MAILSSL_DLG_FAIL 3     /* code and message say why; out may hold a
                                  polite QUIT/LOGOUT (never after a
                                  STARTTLS go-ahead in plaintext) */

struct mailssl_dialogue {
    int service;              /* MAILSSL_SERVICE_* (not ANY) */
    int phase;                /* MAILSSL_PHASE_*, 0 before begin() */
    int state;                /* protocol-specific, private to dialogue.c */
    int stage;                /* last MAILSSL_STAGE_* completed by the
                                 dialogue: GREETING once the greeting was
                                 accepted (pre-TLS only), STARTTLS once the
                                 go-ahead came, POST_TLS when the post-TLS
                                 dialogue is done; NONE before that. It only
                                 moves forward; the engine keeps its own
                                 stage for connect/handshake/verify. */
    size_t lines;             /* lines in the current response */
    char tag[16];             /* IMAP tag of the command in flight */
    unsigned tag_counter;
    int starttls_offered;     /* seen in the current phase's capabilities
                                 (after TLS: information only, never acted
                                 upon) */
    char **caps;              /* capabilities announced after TLS, in order,
                                 sanitised (bytes outside 0x20-0x7e written
                                 as \xNN, each cut at 512 input bytes); at
                                 most MAILSSL_DIALOGUE_MAX_CAPS, extra ones
                                 dropped. Pre-TLS capabilities are never
                                 stored (only starttls_offered is set). */
    size_t ncaps;
    int code;                 /* MAILSSL_CODE_* when FAIL */
    char message[512];        /* operator-readable reason when FAIL, with
                                 the server's words where useful */
    int oom;                  /* nonzero after an allocation failure: the
                                 call returned FAIL, report MAILSSL_ERR_NOMEM
                                 rather than code (out->oom is the engine's
                                 to check, as for any buffer) */
    char client_name[256];    /* EHLO/LHLO argument; default
                                 "mailssl-probe.invalid" */
    int reply_code;           /* private: SMTP code of the multi-line reply
                                 in progress; POP3: inside a CAPA list */
    char reply[200];          /* private: the server line messages quote,
                                 sanitised (SMTP, POP3: the first line of
                                 the response; IMAP, Sieve: the last) */
};

/* Prepares d for service; returns 0 or MAILSSL_ERR_INVALID. */
int mailssl__dialogue_init(struct mailssl_dialogue *d, int service);
/* Frees the capability list. */
void mailssl__dialogue_clear(struct mailssl_dialogue *d);
/* Frees a capability list taken over from d->caps / d->ncaps (the engine
 * keeps it as the probe's result): each string, then the array. */
void mailssl__dialogue_caps_free(char **caps, size_t n);
/* Sets the EHLO/LHLO name (a domain or an address literal such as
 * "[192.0.2.1]": letters, digits, '.', '-', ':', '[', ']', 1-255 bytes);
 * returns 0 or MAILSSL_ERR_INVALID (d unchanged). Call before begin(). */
int mailssl__dialogue_set_client_name(struct mailssl_dialogue *d,
                                      const char *name);

/* Starts a phase: PRE_TLS right after connect (STARTTLS services), POST_TLS
 * right after the handshake (all services; for sieve the server speaks
 * first again). Capabilities of an earlier phase are dropped. May append
 * bytes to send to out. Returns a MAILSSL_DLG_* value. */
int mailssl__dialogue_begin(struct mailssl_dialogue *d, int phase,
                            struct mailssl_buf *out);

/* Feeds one complete line without its CRLF (or LF). line may contain NUL
 * bytes; len excludes the terminator. Appends bytes to send to out.
 * Returns a MAILSSL_DLG_* value. */
int mailssl__dialogue_line(struct mailssl_dialogue *d, const char *line,
                           size_t len, struct mailssl_buf *out);

/* Sanitised copy of server bytes s[0..len) into dst (size n) for a
 * message: bytes outside 0x20-0x7e as \xNN, at most 160 input bytes then
 * "...", cut to n. Never fails. */
void mailssl__dialogue_quote(char *dst, size_t n, const char *s, size_t len);

/* The connection ended (FIN, RST, close_notify, a fatal alert: how says
 * which, e.g. "closed the connection") while bytes[0..len) were pending
 * without a line end: fails the dialogue with a message that quotes them
 * (escaped, at most 160 bytes) and the code of the phase:
 * greeting-malformed for the greeting before TLS, protocol-error for a
 * later answer before TLS (capabilities, the STARTTLS reply),
 * post-tls-failed for anything after TLS (the implicit-TLS greeting
 * included). Returns MAILSSL_DLG_FAIL (or the result already reached
 * after DONE/FAIL, unchanged). */
int mailssl__dialogue_cut_off(struct mailssl_dialogue *d, const char *bytes,
                              size_t len, const char *how);

/* The engine's timeout in the current state: the code it should report
 * (greeting-timeout before the greeting, starttls-timeout during the
 * capability/STARTTLS exchange, post-tls-failed after begin(POST_TLS)).
 * During the handshake itself the engine reports its own tls-timeout. */
int mailssl__dialogue_timeout_code(const struct mailssl_dialogue *d);

#endif
