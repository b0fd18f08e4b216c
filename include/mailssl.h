/*
 * mailssl.h - libmailssl public API
 *
 * libmailssl binds TLS certificates to (protocol, address, port, server
 * name) for mail servers, validates them, audits that every listener
 * resolves, and probes mail services over implicit TLS and STARTTLS.
 *
 * ABI rules (see README.md, "Stable ABI"): every type here is opaque; the
 * signatures use only int, int32_t, int64_t, uint32_t, size_t, pointers to
 * char and to opaque handles. Constants have explicit values that are never
 * reused. This header includes only system headers and compiles as C89 and
 * as C++.
 *
 * Copyright (C) 2026 the libmailssl authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_H
#define MAILSSL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/* ------------------------------------------------------------------ */
/* Version                                                             */
/* ------------------------------------------------------------------ */

#define MAILSSL_VERSION_MAJOR 1
#define MAILSSL_VERSION_MINOR 1
#define MAILSSL_VERSION_PATCH 0
/* 0xMMmmpp: 1.0.0 is 0x010000 */
#define MAILSSL_VERSION_NUM                                                   \
    ((MAILSSL_VERSION_MAJOR << 16) | (MAILSSL_VERSION_MINOR << 8) |           \
     MAILSSL_VERSION_PATCH)

/*
 * mailssl_version - the version of the library actually loaded, as
 * "MAJOR.MINOR.PATCH". The string is static; never free it. Compare with
 * MAILSSL_VERSION_* to detect a header/library mismatch.
 */
const char *mailssl_version(void);

/*
 * mailssl_version_num - the loaded library's version in the format of
 * MAILSSL_VERSION_NUM.
 */
uint32_t mailssl_version_num(void);

/* ------------------------------------------------------------------ */
/* Initialisation                                                      */
/* ------------------------------------------------------------------ */

/*
 * mailssl_init - initialise the library (and GnuTLS's global state).
 * Reference counted and thread-safe: every successful call must be paired
 * with one mailssl_deinit(); only the first initialises and the last
 * releases. Call it before any other function that creates an object.
 * Returns MAILSSL_OK or MAILSSL_ERR_TLS when GnuTLS cannot initialise.
 */
int mailssl_init(void);

/*
 * mailssl_deinit - release one reference taken by mailssl_init(). Objects
 * must all be freed before the last reference is released. Calling it more
 * often than mailssl_init() succeeded is harmless (it does nothing).
 */
void mailssl_deinit(void);

/*
 * mailssl_free - free memory that the library returned to the caller
 * (JSON strings and other "char *" results). NULL is fine.
 */
void mailssl_free(void *ptr);

/* ------------------------------------------------------------------ */
/* Return codes                                                        */
/* ------------------------------------------------------------------ */

/* Success. Functions that return a count or a status return >= 0. */
#define MAILSSL_OK 0
/* Non-blocking calls: poll the descriptor for reading/writing, call again. */
#define MAILSSL_WANT_POLLIN (-2)
#define MAILSSL_WANT_POLLOUT (-3)
/* Errors: negative, explicit, never reused. The object that failed keeps a
 * message with the details (e.g. mailssl_store_error()). */
#define MAILSSL_ERR_INVALID (-10)       /* bad argument: NULL, range, enum */
#define MAILSSL_ERR_NOMEM (-11)         /* allocation failed */
#define MAILSSL_ERR_IO (-12)            /* file or socket I/O failed */
#define MAILSSL_ERR_SYNTAX (-13)        /* config/URL/text could not parse */
#define MAILSSL_ERR_CREDENTIAL (-14)    /* certificate/key cannot be used */
#define MAILSSL_ERR_DUPLICATE (-15)     /* same key added twice */
#define MAILSSL_ERR_NOT_FOUND (-16)     /* lookup miss, unknown name */
#define MAILSSL_ERR_TLS (-17)           /* GnuTLS reported an error */
#define MAILSSL_ERR_STATE (-18)         /* call not valid in this state */
#define MAILSSL_ERR_UNSUPPORTED (-19)   /* not available in this build */
#define MAILSSL_ERR_NOT_INITIALIZED (-20) /* mailssl_init() not called */
#define MAILSSL_ERR_TOO_LONG (-21)      /* input over a documented bound */

/*
 * mailssl_strerror - a static English description of a return code; an
 * unknown code gives "unknown error". Never NULL.
 */
const char *mailssl_strerror(int code);

/* ------------------------------------------------------------------ */
/* Services (SPEC.md section 2)                                        */
/* ------------------------------------------------------------------ */

#define MAILSSL_SERVICE_ANY 0 /* "*" in a binding: every service */
#define MAILSSL_SERVICE_SMTP 1
#define MAILSSL_SERVICE_SUBMISSION 2
#define MAILSSL_SERVICE_SMTPS 3 /* alias name: "submissions" */
#define MAILSSL_SERVICE_LMTP 4
#define MAILSSL_SERVICE_IMAP 5
#define MAILSSL_SERVICE_IMAPS 6
#define MAILSSL_SERVICE_POP3 7
#define MAILSSL_SERVICE_POP3S 8
#define MAILSSL_SERVICE_SIEVE 9
#define MAILSSL_SERVICE_MAX 9

/*
 * mailssl_service_from_name - the constant for a service name of SPEC.md
 * section 2 ("smtp", "submission", "smtps", "submissions", "lmtp", "imap",
 * "imaps", "pop3", "pop3s", "sieve"; case-insensitive) or "*" (ANY).
 * Returns the constant (>= 0), MAILSSL_ERR_NOT_FOUND for an unknown name,
 * MAILSSL_ERR_INVALID for NULL.
 */
int mailssl_service_from_name(const char *name);

/*
 * mailssl_service_name - the canonical name of a service constant ("*" for
 * MAILSSL_SERVICE_ANY; "smtps", never "submissions"), or NULL when the
 * constant is unknown. Static string.
 */
const char *mailssl_service_name(int service);

/*
 * mailssl_service_default_port - the IANA port of a service (25, 587, 465,
 * 24, 143, 993, 110, 995, 4190). MAILSSL_ERR_INVALID for ANY or unknown.
 */
int mailssl_service_default_port(int service);

/*
 * mailssl_service_implicit_tls - 1 when the service starts TLS at once
 * (smtps, imaps, pop3s), 0 when it negotiates STARTTLS/STLS,
 * MAILSSL_ERR_INVALID for ANY or unknown.
 */
int mailssl_service_implicit_tls(int service);

/* ------------------------------------------------------------------ */
/* Severities and diagnosis codes (SPEC.md section 4)                  */
/* ------------------------------------------------------------------ */

/* The monitoring-plugin levels; also the exit codes of the programs. */
#define MAILSSL_SEVERITY_OK 0
#define MAILSSL_SEVERITY_WARNING 1
#define MAILSSL_SEVERITY_CRITICAL 2
#define MAILSSL_SEVERITY_UNKNOWN 3

/*
 * mailssl_severity_name - "ok", "warning", "critical", "unknown"; NULL for
 * any other value.
 */
const char *mailssl_severity_name(int severity);

/* Diagnosis and finding codes. The strings (mailssl_code_name) are the
 * stable identifiers of SPEC.md section 4; the numbers are stable too. */
#define MAILSSL_CODE_OK 0
#define MAILSSL_CODE_RESOLVE_FAILED 1
#define MAILSSL_CODE_CONNECT_REFUSED 2
#define MAILSSL_CODE_CONNECT_TIMEOUT 3
#define MAILSSL_CODE_CONNECT_FAILED 4
#define MAILSSL_CODE_GREETING_TIMEOUT 5
#define MAILSSL_CODE_GREETING_REJECTED 6
#define MAILSSL_CODE_GREETING_MALFORMED 7
#define MAILSSL_CODE_STARTTLS_TIMEOUT 8
#define MAILSSL_CODE_STARTTLS_NOT_OFFERED 9
#define MAILSSL_CODE_STARTTLS_REFUSED 10
#define MAILSSL_CODE_STARTTLS_PREAUTH 11
#define MAILSSL_CODE_STARTTLS_INJECTION 12
#define MAILSSL_CODE_PROTOCOL_ERROR 13
#define MAILSSL_CODE_TLS_CLOSED_DURING_HANDSHAKE 14
#define MAILSSL_CODE_TLS_ALERT 15
#define MAILSSL_CODE_TLS_NO_COMMON_PARAMETERS 16
#define MAILSSL_CODE_TLS_TIMEOUT 17
#define MAILSSL_CODE_TLS_ERROR 18
#define MAILSSL_CODE_CERT_UNTRUSTED 19
#define MAILSSL_CODE_CERT_EXPIRED 20
#define MAILSSL_CODE_CERT_NOT_YET_VALID 21
#define MAILSSL_CODE_CERT_NAME_MISMATCH 22
#define MAILSSL_CODE_CERT_REVOKED 23
#define MAILSSL_CODE_CERT_EXPIRING 24
#define MAILSSL_CODE_POST_TLS_FAILED 25
/* findings */
#define MAILSSL_CODE_CERT_WEAK_KEY 40
#define MAILSSL_CODE_CERT_WEAK_SIGNATURE 41
#define MAILSSL_CODE_CERT_BAD_USAGE 42
#define MAILSSL_CODE_CERT_CHAIN_INCOMPLETE 43
#define MAILSSL_CODE_CERT_CHAIN_ORDER 44
#define MAILSSL_CODE_CERT_SELF_SIGNED 45
#define MAILSSL_CODE_KEY_CERT_MISMATCH 46
#define MAILSSL_CODE_OCSP_STAPLE_MISSING 47
#define MAILSSL_CODE_DANE_MISMATCH 48
#define MAILSSL_CODE_NO_BINDING 49
#define MAILSSL_CODE_CERT_PARSE_ERROR 50
#define MAILSSL_CODE_KEY_FILE_PERMISSIONS 51
#define MAILSSL_CODE_OCSP_STAPLE_INVALID 52
#define MAILSSL_CODE_DANE_UNUSABLE 53
/* live audit findings (1.1, SPEC.md section 7; mailssl_live_report) */
#define MAILSSL_CODE_NO_BINDING_LIVE 60 /* "no-binding-live" */
#define MAILSSL_CODE_CERT_DRIFT 61      /* "cert-drift" */
/* DANE from DNS (1.1; mailssl_probe_set_dane) */
#define MAILSSL_CODE_DANE_OK 62            /* a TLSA record matched */
#define MAILSSL_CODE_DANE_NO_RECORDS 63    /* secure denial of TLSA */
#define MAILSSL_CODE_DANE_INSECURE 64      /* TLSA name not DNSSEC-signed */
#define MAILSSL_CODE_DANE_BOGUS 65         /* DNSSEC validation failed */
#define MAILSSL_CODE_DANE_LOOKUP_FAILED 66 /* no answer, SERVFAIL, error */
#define MAILSSL_CODE_MAX 66

/*
 * mailssl_code_name - the stable string of a code ("ok", "cert-expired",
 * "no-binding", ...), or NULL for a number that is not a code. Static.
 */
const char *mailssl_code_name(int code);

/*
 * mailssl_code_from_name - the number of a code string, or
 * MAILSSL_ERR_NOT_FOUND / MAILSSL_ERR_INVALID (NULL).
 */
int mailssl_code_from_name(const char *name);

/* ------------------------------------------------------------------ */
/* Reports: ordered lists of findings                                  */
/* ------------------------------------------------------------------ */

typedef struct mailssl_report mailssl_report;

/* "no certificate index": the finding is not about one certificate. */
#define MAILSSL_NO_CERT (-1)

/*
 * mailssl_report_new - an empty report (status ok). Free it with
 * mailssl_report_free(). NULL when out of memory.
 * Thread-safety: a report is not locked; use one per thread or lock.
 */
mailssl_report *mailssl_report_new(void);

/* mailssl_report_free - free a report and its findings. NULL is fine. */
void mailssl_report_free(mailssl_report *report);

/*
 * mailssl_report_add - append a finding. code is a MAILSSL_CODE_*,
 * severity a MAILSSL_SEVERITY_*, cert_index the position of the
 * certificate in the chain (0 = leaf) or MAILSSL_NO_CERT. context_kind and
 * context name what the finding is about beyond the chain, e.g.
 * ("listener", "imaps 192.0.2.10 993") or ("binding", "FILE:LINE"); both
 * NULL when there is none. message says what is wrong and what to do.
 * Strings are copied. Returns the index of the new finding (>= 0) or a
 * negative error (MAILSSL_ERR_INVALID, MAILSSL_ERR_NOMEM;
 * MAILSSL_ERR_TOO_LONG for a message or context over
 * MAILSSL_REPORT_MAX_TEXT bytes).
 */
#define MAILSSL_REPORT_MAX_TEXT 65536
int mailssl_report_add(mailssl_report *report, int code, int severity,
                       int cert_index, const char *context_kind,
                       const char *context, const char *message);

/* mailssl_report_count - number of findings (0 for NULL). */
size_t mailssl_report_count(const mailssl_report *report);

/*
 * mailssl_report_status - the worst severity among the findings, or
 * MAILSSL_SEVERITY_OK when empty; MAILSSL_ERR_INVALID for NULL.
 */
int mailssl_report_status(const mailssl_report *report);

/*
 * Accessors of finding number index (0-based, in the order added).
 * Integers: MAILSSL_ERR_INVALID when report is NULL or index is out of
 * range. Strings: NULL in that case, or when the finding has no context;
 * they stay valid until the report is freed or cleared.
 */
int mailssl_report_code(const mailssl_report *report, size_t index);
int mailssl_report_severity(const mailssl_report *report, size_t index);
int mailssl_report_cert_index(const mailssl_report *report, size_t index);
const char *mailssl_report_message(const mailssl_report *report,
                                   size_t index);
const char *mailssl_report_context_kind(const mailssl_report *report,
                                        size_t index);
const char *mailssl_report_context(const mailssl_report *report,
                                   size_t index);

/*
 * mailssl_report_find - index of the first finding with this code at or
 * after index start, or MAILSSL_ERR_NOT_FOUND.
 */
int mailssl_report_find(const mailssl_report *report, int code,
                        size_t start);

/* mailssl_report_clear - remove every finding. */
void mailssl_report_clear(mailssl_report *report);

/*
 * mailssl_report_json - the findings as the JSON array of SPEC.md section
 * 5: [{"code":"...","severity":"...","message":"..."[,"cert_index":N]
 * [,"listener"|"binding"|KIND:"..."]}, ...]. Returns a new string to free
 * with mailssl_free(), or NULL (out of memory, NULL report).
 */
char *mailssl_report_json(const mailssl_report *report);

/*
 * mailssl_report_nagios - one monitoring-plugin status line:
 * "MAILSSL CRITICAL - cert-expired: ...; cert-weak-key: ..." with the
 * worst findings first ("MAILSSL OK - no findings" when none). The prefix
 * "MAILSSL" is replaced by label when label is not NULL. Returns a new
 * string to free with mailssl_free(), or NULL (out of memory, NULL
 * report, a label over MAILSSL_REPORT_MAX_LABEL bytes).
 */
#define MAILSSL_REPORT_MAX_LABEL 256
char *mailssl_report_nagios(const mailssl_report *report, const char *label);

/* ------------------------------------------------------------------ */
/* Credentials: a certificate chain and its private key (store issue)  */
/* ------------------------------------------------------------------ */

typedef struct mailssl_credential mailssl_credential;

/*
 * mailssl_credential_new - an empty credential with one reference. Load it
 * with one of the mailssl_credential_load_* calls. NULL when out of memory
 * or when mailssl_init() was not called.
 * Thread-safety: safe from any thread. A credential is loaded by one thread
 * (the load calls are not locked); once loaded it is read-only, and every
 * other call on it may run in any number of threads at once.
 */
mailssl_credential *mailssl_credential_new(void);

/*
 * mailssl_credential_free - drop one reference; the credential is freed
 * when the last one goes (a store keeps its own references, so a caller
 * may free its credential right after adding it). NULL is fine.
 * Thread-safe.
 */
void mailssl_credential_free(mailssl_credential *cred);

/*
 * mailssl_credential_load_pem_files - load a PEM certificate chain (leaf
 * first) from cert_file and the private key from key_file, or from
 * cert_file too when key_file is NULL. password decrypts an encrypted key
 * (NULL: none; over 1024 bytes: MAILSSL_ERR_TOO_LONG, as for every
 * password and PIN of the mailssl_credential_load_* calls). Detects:
 * unreadable file, no certificate, no key, encrypted key without
 * password, garbage, key not matching the leaf.
 * Returns MAILSSL_OK or a negative code with mailssl_credential_error()
 * saying which file and what is wrong. A credential can be loaded once.
 * Thread-safety: one thread at a time per credential while loading.
 */
int mailssl_credential_load_pem_files(mailssl_credential *cred,
                                      const char *cert_file,
                                      const char *key_file,
                                      const char *password);

/*
 * mailssl_credential_error - the message of the last failed call on cred,
 * or "" when none. Valid until the next call on cred.
 * Thread-safety: read it in the thread that made the failed call.
 */
const char *mailssl_credential_error(const mailssl_credential *cred);

/*
 * mailssl_credential_load_pem_memory - as mailssl_credential_load_pem_files
 * but from memory: cert_pem (cert_len bytes) holds the PEM chain, leaf
 * first, and key_pem (key_len bytes) the PEM private key, or key_pem is
 * NULL when the key is in cert_pem. The data is copied. Messages name the
 * source "memory". A credential loaded from memory cannot be written to a
 * config file (mailssl_store_save_file refuses it). Returns MAILSSL_OK or
 * a negative code; MAILSSL_ERR_CREDENTIAL for a key that does not match
 * the certificate (the credential then keeps both, so that validation can
 * report key-cert-mismatch, but a store refuses it).
 * Thread-safety: one thread at a time per credential while loading.
 */
int mailssl_credential_load_pem_memory(mailssl_credential *cred,
                                       const char *cert_pem, size_t cert_len,
                                       const char *key_pem, size_t key_len,
                                       const char *password);

/*
 * mailssl_credential_load_pkcs12_file - load the chain and key of a
 * PKCS#12 file (DER or PEM armoured, .p12/.pfx). The password comes from
 * password, or from the first line of password_file (line end removed),
 * or there is none (both NULL); giving both is MAILSSL_ERR_INVALID.
 * Detects: unreadable file, not PKCS#12, protected without password, wrong
 * password, no key, no certificate, key not matching the leaf. A PKCS#12
 * file or password file readable by group or other adds a
 * key-file-permissions warning (mailssl_credential_warnings). Returns
 * MAILSSL_OK or a negative code with mailssl_credential_error().
 * Thread-safety: one thread at a time per credential while loading.
 */
int mailssl_credential_load_pkcs12_file(mailssl_credential *cred,
                                        const char *file,
                                        const char *password,
                                        const char *password_file);

/*
 * mailssl_credential_load_pkcs11 - load the certificate and key from a
 * PKCS#11 token by RFC 7512 URIs ("pkcs11:token=...;object=..."); key_url
 * NULL means cert_url names both. pin (NULL: none) logs in to the token.
 * Returns MAILSSL_ERR_UNSUPPORTED, with a message saying so, when the
 * GnuTLS in use cannot open PKCS#11 URIs, MAILSSL_ERR_INVALID for a URI
 * that is not "pkcs11:", MAILSSL_ERR_CREDENTIAL when the token refuses.
 * Thread-safety: one thread at a time per credential while loading.
 */
int mailssl_credential_load_pkcs11(mailssl_credential *cred,
                                   const char *cert_url, const char *key_url,
                                   const char *pin);

/*
 * mailssl_credential_warnings - warnings found while loading (today:
 * key-file-permissions, a private key file or PKCS#12 file or password
 * file readable by group or other), or NULL when there were none. Owned by
 * the credential; valid while it lives. A warning never fails the load.
 * Thread-safety: any number of threads once the credential is loaded.
 */
const mailssl_report *
mailssl_credential_warnings(const mailssl_credential *cred);

/*
 * mailssl_credential_usable - 1 when the credential is loaded and its key
 * matches its certificate (a store accepts it), 0 otherwise (also NULL).
 * Thread-safe on a loaded credential.
 */
int mailssl_credential_usable(const mailssl_credential *cred);

/* ------------------------------------------------------------------ */
/* Store: bindings of credentials to (service, address, port, name)     */
/* ------------------------------------------------------------------ */

/*
 * A binding store (SPEC.md section 3). A key has four fields; in each,
 * the forms most specific first:
 *   name     exact host name . "*.example.com" (one label) . "*"
 *   address  exact IPv4/IPv6 . CIDR (longer prefix first) . "0.0.0.0"
 *            (every IPv4) or "::" (every IPv6) . "*"
 *   port     a number . MAILSSL_PORT_ANY ("*")
 *   service  MAILSSL_SERVICE_* . MAILSSL_SERVICE_ANY ("*")
 * Among the bindings that match a connection, the winner is the most
 * specific comparing name first, then address, then port, then service.
 * Normalization: ::ffff:a.b.c.d is a.b.c.d; names are lower-cased with no
 * trailing dot; an SNI name that is not a host name, or is an IP literal,
 * is ignored (as if none was sent); "/32" and "/128" are exact addresses,
 * "0.0.0.0/0" is "0.0.0.0" and "::/0" is "::". Equal keys are duplicates.
 *
 * Thread-safety, in one paragraph: lookups (mailssl_store_lookup*, and the
 * GnuTLS glue) may run in any number of threads at once and during a
 * reload (mailssl_store_load_file/_string, mailssl_store_replace); they
 * take no lock, never wait for a reload and see the old table or the new
 * one, whole. Reloads, saves and audits may be called from any thread;
 * they are serialized by a mutex of the store. mailssl_store_add,
 * _remove and _add_listener change the table in place: they are
 * serialized with each other, but must not run while lookups run on the
 * same store (fill a store before serving; at run time change bindings
 * with a reload, or fill a second store and mailssl_store_replace()).
 */
typedef struct mailssl_store mailssl_store;
struct mailssl_validator; /* declared in the validation section */

/* "*" for a port in a binding. */
#define MAILSSL_PORT_ANY (-1)

/*
 * mailssl_store_new - an empty store (no bindings, no listeners, strict
 * mode off). Free with mailssl_store_free(). NULL when out of memory or
 * when mailssl_init() was not called.
 * Thread-safety: safe from any thread.
 */
mailssl_store *mailssl_store_new(void);

/*
 * mailssl_store_free - free the store and drop its credential references.
 * No call may be running on it. Credentials returned by lookups stay
 * valid (each is a reference of its own). NULL is fine.
 * Thread-safety: only when no other call on the store runs or will run,
 * and no GnuTLS session attached to it is still handshaking.
 */
void mailssl_store_free(mailssl_store *store);

/*
 * mailssl_store_error - the message of the last failed call on the store
 * other than a lookup (lookups write their reason into the caller's
 * buffer), "" when none. Valid until the next such call.
 * Thread-safety: the message is shared by every thread that changes,
 * reloads, saves or audits the store; read it in the thread that failed,
 * before another such call.
 */
const char *mailssl_store_error(const mailssl_store *store);

/*
 * mailssl_store_add - bind cred to a key. service: MAILSSL_SERVICE_* or
 * MAILSSL_SERVICE_ANY; address: "*", "0.0.0.0", "::", an exact address or
 * a CIDR ("192.0.2.0/24", "2001:db8::/64"); port: 1-65535 or
 * MAILSSL_PORT_ANY; name: "*" (or NULL), an exact host name, or
 * "*.domain". The store takes its own reference on cred. Returns
 * MAILSSL_OK; MAILSSL_ERR_INVALID for a bad field (a CIDR with host bits
 * set, a name that is not a host name or is an IP address);
 * MAILSSL_ERR_CREDENTIAL for a credential that is not loaded or whose key
 * does not match; MAILSSL_ERR_DUPLICATE when an equal key is bound.
 * Thread-safety: see above (not during lookups).
 */
int mailssl_store_add(mailssl_store *store, int service, const char *address,
                      int port, const char *name, mailssl_credential *cred);

/*
 * mailssl_store_remove - remove the binding with this key (same forms and
 * normalization as mailssl_store_add). Returns MAILSSL_OK or
 * MAILSSL_ERR_NOT_FOUND / MAILSSL_ERR_INVALID.
 * Thread-safety: as mailssl_store_add (not during lookups).
 */
int mailssl_store_remove(mailssl_store *store, int service,
                         const char *address, int port, const char *name);

/*
 * mailssl_store_add_listener - declare a socket the server listens on, for
 * mailssl_store_audit(): service (not ANY), an exact address or "0.0.0.0"
 * / "::" (every address of that family), port 1-65535. "*", CIDRs and
 * duplicates are MAILSSL_ERR_INVALID / MAILSSL_ERR_DUPLICATE.
 * Thread-safety: as mailssl_store_add (not during lookups).
 */
int mailssl_store_add_listener(mailssl_store *store, int service,
                               const char *address, int port);

/* Number of bindings / listeners in the current table (0 for NULL).
 * Thread-safety: lock-free, like lookups. */
size_t mailssl_store_count(const mailssl_store *store);
size_t mailssl_store_listener_count(const mailssl_store *store);

/*
 * mailssl_store_listener_get - the listen line number index (0-based, in
 * the order of the config file or of mailssl_store_add_listener) of the
 * current table: *service gets its MAILSSL_SERVICE_* (never ANY), *port
 * its port (1-65535), and address (address_len bytes) its address as
 * text, NUL-terminated: "192.0.2.10", "2001:db8::1", or "0.0.0.0" / "::"
 * for every address of a family. MAILSSL_ADDRESS_MAX bytes always
 * suffice. service, port and address may each be NULL (address with
 * address_len 0) to skip them. Everything is copied into the caller's
 * variables, so nothing refers to the store afterwards: a reload
 * (mailssl_store_load_file, mailssl_store_replace) never invalidates what
 * was returned, but the listeners may change between two calls; a
 * program that wants one consistent list reads the count and the lines
 * right after it loaded the store itself. Returns MAILSSL_OK,
 * MAILSSL_ERR_NOT_FOUND when index >= mailssl_store_listener_count(),
 * MAILSSL_ERR_TOO_LONG when address_len is too small (nothing copied),
 * MAILSSL_ERR_INVALID for a NULL store or a NULL address with a nonzero
 * address_len. On error *service is MAILSSL_ERR_INVALID, *port 0 and
 * address "" (when address_len > 0).
 * Thread-safety: lock-free, like lookups. (Since 1.1, MAILSSL_1.1.)
 */
#define MAILSSL_ADDRESS_MAX 46
int mailssl_store_listener_get(const mailssl_store *store, size_t index,
                               int *service, char *address,
                               size_t address_len, int *port);

/*
 * mailssl_store_set_strict - strict on (1) or off (0). In strict mode a
 * client that sends an SNI name that no exact or "*.domain" binding
 * covers gets no certificate (lookup returns MAILSSL_ERR_NOT_FOUND, the
 * GnuTLS glue fails the handshake with an unrecognized_name alert),
 * instead of the "*" binding. Clients that send no name are not affected.
 * Thread-safe (an atomic flag).
 */
int mailssl_store_set_strict(mailssl_store *store, int strict);

/*
 * mailssl_store_lookup - the credential to present on an accepted
 * connection. local is the socket's local address (getsockname(); the
 * port is taken from it; AF_INET or AF_INET6, IPv4-mapped IPv6 counts as
 * IPv4); service a MAILSSL_SERVICE_* (not ANY); sni the name the client
 * sent, or NULL. On success returns MAILSSL_OK and *out holds a new
 * reference (release it with mailssl_credential_free(); it stays valid
 * after reloads and mailssl_store_free). On a miss returns
 * MAILSSL_ERR_NOT_FOUND, *out is NULL and why (whylen bytes, may be
 * NULL/0) says in words what was looked up and why nothing matched.
 * MAILSSL_ERR_INVALID for bad arguments.
 * Thread-safety: lock-free; any number of threads, also during reloads.
 */
int mailssl_store_lookup(mailssl_store *store, const struct sockaddr *local,
                         int service, const char *sni,
                         mailssl_credential **out, char *why, size_t whylen);

/*
 * mailssl_store_lookup_text - as mailssl_store_lookup with the local
 * address as text ("192.0.2.10", "2001:db8::1", "::ffff:192.0.2.10") and
 * the port (1-65535) given apart.
 * Thread-safety: lock-free, like mailssl_store_lookup.
 */
int mailssl_store_lookup_text(mailssl_store *store, const char *address,
                              int port, int service, const char *sni,
                              mailssl_credential **out, char *why,
                              size_t whylen);

/*
 * mailssl_store_load_file - the atomic reload: parse the config file of
 * SPEC.md section 3 at path, load every credential, build a new table,
 * and only when all of it succeeded replace the store's bindings and
 * listeners with it. On any error nothing changes (the old table stays in
 * force), the return is negative (MAILSSL_ERR_IO, _SYNTAX, _CREDENTIAL,
 * _DUPLICATE, _NOMEM) and mailssl_store_error() is
 * "FILE:LINE:COLUMN: message" (COLUMN 1-based, the offending field).
 * Relative file names in the config resolve against the directory of
 * path. Lookups running meanwhile finish with the old or the new table.
 * Thread-safe.
 */
int mailssl_store_load_file(mailssl_store *store, const char *path);

/*
 * mailssl_store_load_string - as mailssl_store_load_file from len bytes of
 * text; name is used as FILE in messages and origins (NULL: "config").
 * Relative file names resolve against the directory part of name when it
 * has one, else against the current directory.
 * Thread-safety: as mailssl_store_load_file.
 */
int mailssl_store_load_string(mailssl_store *store, const char *text,
                              size_t len, const char *name);

/*
 * mailssl_store_replace - atomically replace the bindings and listeners of
 * store with a copy of those of from (credentials shared by reference).
 * For servers that build their bindings through the API: fill a second
 * store, then replace. Thread-safe like a reload; from must not be
 * changed meanwhile. Returns MAILSSL_OK or MAILSSL_ERR_NOMEM/_INVALID.
 */
int mailssl_store_replace(mailssl_store *store, const mailssl_store *from);

/*
 * mailssl_store_to_string - the bindings and listeners as config text
 * that mailssl_store_load_string() reads back into the same store (file
 * names absolute when they were resolved at load time). Returns a new
 * string to free with mailssl_free(), or NULL with mailssl_store_error()
 * saying why (out of memory; a credential loaded from memory,
 * or a file name with blanks, which a config line cannot hold).
 * Thread-safe.
 */
char *mailssl_store_to_string(mailssl_store *store);

/*
 * mailssl_store_save_file - write mailssl_store_to_string() to path
 * (through a temporary file renamed over it, mode 0600 since it may hold
 * passwords). Returns MAILSSL_OK or a negative code. Thread-safe.
 */
int mailssl_store_save_file(mailssl_store *store, const char *path);

/*
 * mailssl_store_audit - prove every listener resolves. Every binding's
 * credential is validated (findings with context ("binding", "FILE:LINE"),
 * or ("binding", "SERVICE ADDRESS PORT NAME") for bindings added through
 * the API); for every listener, a client sending no SNI must resolve to a
 * credential: when it does not, a critical no-binding finding with
 * context ("listener", "SERVICE ADDRESS PORT") says that clients will see
 * the connection dropped during the handshake and which binding would fix
 * it; when it does, the findings of that credential are repeated with the
 * listener's context. Each credential is checked with
 * mailssl_validate_credential() and v (NULL: a validator with the
 * defaults, i.e. the system trust store and the time now). Findings are
 * appended to out. Returns the worst severity added (0-3) or a negative
 * error. Thread-safety: any thread; serialized with reloads and saves,
 * lookups go on meanwhile; out belongs to the caller.
 */
int mailssl_store_audit(mailssl_store *store,
                        const struct mailssl_validator *v,
                        mailssl_report *out);

/* ------------------------------------------------------------------ */
/* Validation (validation issue)                                       */
/* ------------------------------------------------------------------ */

typedef struct mailssl_validator mailssl_validator;

/*
 * mailssl_validator_new - validation settings with defaults: system trust
 * store (GnuTLS's system trust, loaded on first use), validation time
 * "now", warn 30 days, critical 7 days, no expected name, no TLSA
 * records. Free with mailssl_validator_free(). NULL when out of memory or
 * when mailssl_init() was not called.
 * Thread-safety: a configured validator may be used by several threads at
 * once for mailssl_validate_*; setters need exclusive access.
 */
mailssl_validator *mailssl_validator_new(void);
/* mailssl_validator_free - free a validator. NULL is fine. */
void mailssl_validator_free(mailssl_validator *v);
/*
 * mailssl_validator_error - the message of the last failed setter on v,
 * or "" when none. Valid until the next call on v.
 */
const char *mailssl_validator_error(const mailssl_validator *v);

/*
 * mailssl_validator_set_cafile - trust the CA certificates of a PEM file,
 * or of every PEM file in a directory, instead of the system trust store;
 * NULL goes back to the system store. The certificates are loaded now:
 * MAILSSL_ERR_IO when path cannot be read, MAILSSL_ERR_CREDENTIAL when it
 * holds no CA certificate; the previous trust stays in force on error.
 */
int mailssl_validator_set_cafile(mailssl_validator *v, const char *path);
/*
 * mailssl_validator_set_time - the validation time in seconds since the
 * epoch (UTC); 0 means "now" at each validation. Dates, expiry windows and
 * OCSP freshness are judged at this time, so an audit can ask "will this
 * still be valid in 30 days?". MAILSSL_ERR_INVALID when negative.
 */
int mailssl_validator_set_time(mailssl_validator *v, int64_t epoch_seconds);
/*
 * mailssl_validator_set_days - expiry windows in days: cert-expiring is a
 * warning when fewer than warn_days * 86400 seconds are left, critical
 * when fewer than crit_days * 86400. 0 <= crit_days <= warn_days <= 36500,
 * else MAILSSL_ERR_INVALID (settings unchanged). 0, 0 turns them off.
 */
int mailssl_validator_set_days(mailssl_validator *v, int warn_days,
                               int crit_days);
/*
 * mailssl_validator_set_name - the DNS name or IP address (IPv6 with or
 * without brackets) the leaf must be valid for, per RFC 9525: DNS-IDs of
 * subjectAltName, a wildcard only as the whole left-most label and for
 * exactly one label, IP-IDs octet for octet, never the subject CN.
 * Internationalized names are converted to A-labels; a trailing dot is
 * dropped. NULL: no name check. MAILSSL_ERR_SYNTAX for a name that is not
 * a host name (wildcards included), MAILSSL_ERR_TOO_LONG over 253 bytes.
 */
int mailssl_validator_set_name(mailssl_validator *v, const char *name);
/*
 * mailssl_validator_add_tlsa - add one TLSA record (RFC 6698 fields: usage,
 * selector, matching type, association data; data is copied). The caller
 * vouches that the records are DNSSEC-validated. DANE-EE(3) pins the leaf
 * and then names, dates and the PKIX chain are not checked; DANE-TA(2)
 * anchors the chain at a certificate the server sends, names and dates
 * still apply; PKIX-TA(0) and PKIX-EE(1) depend on the service (see
 * mailssl_validator_set_service(); unusable for SMTP, RFC 7672); unknown
 * selectors or matching types are unusable (dane-unusable). When usable
 * records exist and none matches: dane-mismatch. Returns
 * MAILSSL_OK, MAILSSL_ERR_INVALID (field over 255, no data),
 * MAILSSL_ERR_TOO_LONG (over 64 records or 65532 bytes).
 */
int mailssl_validator_add_tlsa(mailssl_validator *v, int usage, int selector,
                               int matching_type, const unsigned char *data,
                               size_t data_len);

/*
 * mailssl_validator_set_service - the service (MAILSSL_SERVICE_*) the
 * certificate serves; it picks the DANE rules. MAILSSL_SERVICE_ANY (the
 * default), SMTP and LMTP follow RFC 7672: PKIX-TA(0) and PKIX-EE(1)
 * records are unusable. Every other service follows RFC 7671: PKIX-EE(1)
 * must match the leaf and PKIX-TA(0) a certificate of the chain or its
 * trust anchor, and the chain must then pass the usual PKIX validation.
 * MAILSSL_ERR_INVALID for an unknown constant.
 */
int mailssl_validator_set_service(mailssl_validator *v, int service);

/*
 * mailssl_validate_credential - check a server credential (a loaded
 * mailssl_credential): key matches certificate (key-cert-mismatch), chain
 * complete and in order, trust, dates, usage, key and signature strength,
 * self-signed leaf, name (when set), TLSA records (when added). Warnings
 * recorded when the credential was loaded (e.g. key-file-permissions) are
 * copied into the report first. Findings are appended to report (the
 * caller owns it). Returns the worst severity of the findings added (0-3),
 * MAILSSL_ERR_STATE for a credential that was never loaded, or another
 * negative error (MAILSSL_ERR_INVALID, MAILSSL_ERR_NOMEM).
 * Thread-safety: as mailssl_validator_new(); the credential is only read.
 */
int mailssl_validate_credential(const mailssl_validator *v,
                                const mailssl_credential *cred,
                                mailssl_report *report);

/*
 * mailssl_validate_chain - check a chain as a server presented it: ncerts
 * (1-32) DER certificates (leaf first) and an optional stapled OCSP
 * response (DER, NULL/0 when none): the checks of
 * mailssl_validate_credential() but the key, plus cert-parse-error for a
 * certificate that does not parse, ocsp-staple-missing for a must-staple
 * leaf without a staple, and for a staple: cert-revoked, or
 * ocsp-staple-invalid when it is stale, for another certificate or not
 * signed by the issuer. Findings are appended to report; returns the
 * worst severity added (0-3) or a negative error (MAILSSL_ERR_INVALID,
 * MAILSSL_ERR_TOO_LONG for more than 32 certificates, MAILSSL_ERR_NOMEM).
 */
int mailssl_validate_chain(const mailssl_validator *v,
                           const unsigned char *const *der_certs,
                           const size_t *der_lens, size_t ncerts,
                           const unsigned char *ocsp_der, size_t ocsp_len,
                           mailssl_report *report);

/*
 * mailssl_certificate_json - the details of one DER certificate as the
 * "certificate" JSON object of SPEC.md section 5: {"subject", "issuer"
 * (RFC 4514), "names" (subjectAltName DNS names and IP addresses),
 * "not_before", "not_after" (RFC 3339 UTC), "days_left" (whole days from
 * now_epoch to not_after, rounded down, negative once expired; now_epoch 0
 * means now), "sha256" (hex fingerprint), "spki_pin" (base64 SHA-256 of
 * the SubjectPublicKeyInfo, RFC 7469), "key_type", "key_bits",
 * "signature_algorithm"}. Returns a new string to free with
 * mailssl_free(), or NULL when der does not parse, now_epoch is
 * negative, or memory runs out.
 */
char *mailssl_certificate_json(const unsigned char *der, size_t der_len,
                               int64_t now_epoch);

/*
 * mailssl_credential_certificate_json - the same object for certificate
 * number index (0 = leaf) of a loaded credential; NULL when index is out
 * of range, now_epoch is negative, the credential is not loaded, or
 * memory runs out.
 */
char *mailssl_credential_certificate_json(const mailssl_credential *cred,
                                          size_t index, int64_t now_epoch);

/* ------------------------------------------------------------------ */
/* Probe: one handshake probe of a mail service (probe issue)          */
/* ------------------------------------------------------------------ */

typedef struct mailssl_probe mailssl_probe;

/* Stages of SPEC.md section 5 ("stage" is the last one completed). */
#define MAILSSL_STAGE_NONE 0 /* nothing completed yet: "none" */
#define MAILSSL_STAGE_RESOLVE 1
#define MAILSSL_STAGE_CONNECT 2
#define MAILSSL_STAGE_GREETING 3
#define MAILSSL_STAGE_STARTTLS 4
#define MAILSSL_STAGE_HANDSHAKE 5
#define MAILSSL_STAGE_VERIFY 6
#define MAILSSL_STAGE_POST_TLS 7
#define MAILSSL_STAGE_DONE 8
#define MAILSSL_STAGE_TOTAL 9 /* only for mailssl_probe_timing_us() */
/* 1.1: the TLSA lookup (mailssl_probe_set_dane), between resolve and
 * connect. */
#define MAILSSL_STAGE_DANE 10

/* mailssl_stage_name - "resolve", ..., "done", "total", "dane"; NULL
 * otherwise. */
const char *mailssl_stage_name(int stage);

/*
 * mailssl_probe_new - a probe of url ("NAME://HOST[:PORT]", SPEC.md
 * section 2; IPv6 literals in brackets). Defaults: system trust, SNI and
 * verified name = URL host, timeout 10 s, warn 30 / crit 7 days, TLS 1.2
 * minimum. Returns NULL when out of memory or not initialised; a URL that
 * does not parse still gives a probe, whose mailssl_probe_error() says why
 * and whose start fails with MAILSSL_ERR_SYNTAX.
 * Thread-safety: a probe belongs to one thread at a time.
 */
mailssl_probe *mailssl_probe_new(const char *url);
void mailssl_probe_free(mailssl_probe *p);
/* Message of the last failed call, "" when none. */
const char *mailssl_probe_error(const mailssl_probe *p);

/* Settings, before mailssl_probe_start(); each returns MAILSSL_OK or a
 * negative code (MAILSSL_ERR_STATE once started). */
int mailssl_probe_set_cafile(mailssl_probe *p, const char *path);
int mailssl_probe_set_servername(mailssl_probe *p, const char *name);
int mailssl_probe_set_connect_to(mailssl_probe *p, const char *address);
/* 0: any (system order), 4: IPv4 only, 6: IPv6 only. */
int mailssl_probe_set_family(mailssl_probe *p, int family);
/* Whole-probe deadline in milliseconds (> 0). */
int mailssl_probe_set_timeout_ms(mailssl_probe *p, int32_t ms);
/* Deadline of one stage (MAILSSL_STAGE_CONNECT .. POST_TLS) in ms, counted
 * from the start of that stage; the whole-probe deadline still applies.
 * 0 (the default) means no limit of the stage's own: only the whole-probe
 * deadline bounds it; setting 0 removes a limit set before. A negative
 * ms, or another stage (NONE, RESOLVE, which blocks in getaddrinfo, DONE,
 * TOTAL), is MAILSSL_ERR_INVALID (setting unchanged); MAILSSL_ERR_STATE
 * once started. */
int mailssl_probe_set_stage_timeout_ms(mailssl_probe *p, int stage,
                                       int32_t ms);
int mailssl_probe_set_days(mailssl_probe *p, int warn_days, int crit_days);
/* A GnuTLS priority string (default "NORMAL" with the minimum version). */
int mailssl_probe_set_priority(mailssl_probe *p, const char *priority);
/* "TLS1.0", "TLS1.1", "TLS1.2" (default), "TLS1.3". */
int mailssl_probe_set_min_version(mailssl_probe *p, const char *version);
/* Client certificate (a new reference is taken). */
int mailssl_probe_set_client_credential(mailssl_probe *p,
                                        mailssl_credential *cred);
/* One TLSA record for the server (RFC 6698 fields, 0-255 each; data 1 to
 * 65532 bytes; at most 64 records). The caller vouches that it was
 * DNSSEC-validated. Records that RFC 7672 makes unusable (usages 0 and 1,
 * unknown values) are kept and reported as dane-unusable, as with
 * mailssl_validator_add_tlsa(). MAILSSL_ERR_INVALID for bad fields,
 * MAILSSL_ERR_TOO_LONG past the bounds. */
int mailssl_probe_add_tlsa(mailssl_probe *p, int usage, int selector,
                           int matching_type, const unsigned char *data,
                           size_t data_len);
/* Validation time for the certificate checks (0 = now). */
int mailssl_probe_set_time(mailssl_probe *p, int64_t epoch_seconds);

/* DANE modes of mailssl_probe_set_dane(). */
#define MAILSSL_DANE_OFF 0           /* default: only mailssl_probe_add_tlsa */
#define MAILSSL_DANE_OPPORTUNISTIC 1 /* use TLSA records when secure */
#define MAILSSL_DANE_REQUIRED 2      /* a secure, usable, matching RRset */

/*
 * mailssl_probe_set_dane - look up the TLSA records of _PORT._tcp.HOST
 * (the URL's host and port, not a --connect-to address) with DNSSEC
 * validation before connecting, in a stage of its own (MAILSSL_STAGE_DANE,
 * timing "dane"), without blocking: while it runs, mailssl_probe_fd() is
 * libunbound's descriptor and the probe wants MAILSSL_WANT_POLLIN.
 * Secure records are checked like those of mailssl_probe_add_tlsa(), with
 * RFC 7672's rules for smtp and lmtp (DANE-TA(2) and DANE-EE(3) only;
 * names and dates not checked for DANE-EE) and RFC 7671's otherwise.
 * Outcomes: dane-ok (ok finding), dane-mismatch (critical), dane-bogus
 * (critical in both modes; the message says why validation failed),
 * dane-no-records and dane-insecure (critical when REQUIRED, ok findings
 * when OPPORTUNISTIC), dane-lookup-failed (no answer within the stage
 * deadline, SERVFAIL: critical when REQUIRED, a warning when
 * OPPORTUNISTIC, which then goes on without DANE), dane-unusable. The
 * stage deadline defaults to half the probe's timeout
 * (mailssl_probe_set_stage_timeout_ms() with MAILSSL_STAGE_DANE sets it).
 * mode: MAILSSL_DANE_OFF, _OPPORTUNISTIC or _REQUIRED. Returns MAILSSL_OK,
 * MAILSSL_ERR_INVALID (bad mode) or MAILSSL_ERR_STATE (started). Probes of
 * one mailssl_batch with the same DNS settings share one resolver cache;
 * libunbound runs one worker thread per cache, only when DANE is on.
 */
int mailssl_probe_set_dane(mailssl_probe *p, int mode);
/*
 * mailssl_probe_set_dns_anchor_file - the DNSSEC trust anchor file for
 * the DANE lookup (DS or DNSKEY records in zone-file format, as
 * unbound's trust-anchor-file); NULL restores the default
 * /usr/share/dns/root.key. The file is read when the probe starts (an
 * unreadable file ends the probe with status unknown). Returns MAILSSL_OK,
 * MAILSSL_ERR_INVALID (empty), MAILSSL_ERR_TOO_LONG or MAILSSL_ERR_STATE.
 */
int mailssl_probe_set_dns_anchor_file(mailssl_probe *p, const char *path);
/*
 * mailssl_probe_set_dns_resolver - send the DANE lookups to this resolver
 * ("ADDR" or "ADDR@PORT", ADDR an IPv4 or IPv6 literal, PORT 1-65535,
 * default 53) instead of the servers of /etc/resolv.conf; it must pass
 * DNSSEC records through (validation is done by the probe). NULL restores
 * the default. Returns MAILSSL_OK, MAILSSL_ERR_SYNTAX (with the reason in
 * mailssl_probe_error()) or MAILSSL_ERR_STATE.
 */
int mailssl_probe_set_dns_resolver(mailssl_probe *p, const char *address);

/*
 * mailssl_probe_set_mx - on (1) for an smtp://DOMAIN probe: look up the
 * MX records of DOMAIN with DNSSEC (in the resolve stage, without
 * blocking, with the DNS settings above), then probe each MX host in
 * preference order, one at a time, as smtp://HOST:PORT with this probe's
 * settings (its own deadline, TLSA lookup when DANE is on, the same
 * --connect-to if any). No MX records: the domain itself. An insecure MX
 * RRset disables DANE for the hosts (RFC 7672 section 2.2.1; critical
 * dane-insecure when DANE is required), a bogus one is dane-bogus. This
 * probe's result is that of its worst host; the hosts' results are
 * mailssl_probe_mx_probe(). MAILSSL_ERR_INVALID for a value other than
 * 0/1 or a URL that is not smtp:// with a host name; MAILSSL_ERR_STATE
 * once started.
 */
int mailssl_probe_set_mx(mailssl_probe *p, int on);
/* Number of MX host probes of a finished MX probe (0 otherwise). */
size_t mailssl_probe_mx_count(const mailssl_probe *p);
/* The probe of MX host index (preference order), owned by p, with all the
 * result accessors and mailssl_probe_json(); NULL past the end. */
const mailssl_probe *mailssl_probe_mx_probe(const mailssl_probe *p,
                                            size_t index);
/* The MX preference of such a host probe, -1 for any other probe. */
int mailssl_probe_mx_preference(const mailssl_probe *p);

/*
 * Non-blocking use, as with libtls: mailssl_probe_start() then, while it
 * returns MAILSSL_WANT_POLLIN or MAILSSL_WANT_POLLOUT, poll
 * mailssl_probe_fd() for that event (at most mailssl_probe_timeout_left_ms()
 * milliseconds) and call mailssl_probe_step(). Both return MAILSSL_OK when
 * the probe is finished (whatever its diagnosis), MAILSSL_WANT_* to wait,
 * or a negative error for misuse (the probe is then finished with status
 * unknown). A probe never blocks inside these calls except for name
 * resolution at start (getaddrinfo; the DANE and MX lookups of 1.1 do not
 * block: mailssl_probe_fd() is then libunbound's descriptor, and
 * mailssl_probe_timeout_left_ms() is 0 when another probe of the same
 * batch already took this probe's answer).
 */
int mailssl_probe_start(mailssl_probe *p);
int mailssl_probe_step(mailssl_probe *p);
int mailssl_probe_fd(const mailssl_probe *p);
/* Milliseconds until the current deadline (>= 0), or -1 when finished. */
int32_t mailssl_probe_timeout_left_ms(const mailssl_probe *p);
/* 1 when finished, 0 otherwise (not started, or running);
 * MAILSSL_ERR_INVALID for NULL, as the other int accessors. Test with
 * "== 1" where p may be NULL. */
int mailssl_probe_done(const mailssl_probe *p);

/* Blocking: start and step until finished. Returns MAILSSL_OK or a
 * negative error for misuse; the outcome is in the accessors. */
int mailssl_probe_run(mailssl_probe *p);

/* Results (valid once finished). Strings are owned by the probe; NULL when
 * not known (e.g. no TLS version before the handshake). */
int mailssl_probe_status(const mailssl_probe *p);     /* severity 0-3 */
int mailssl_probe_diagnosis(const mailssl_probe *p);  /* MAILSSL_CODE_* */
const char *mailssl_probe_message(const mailssl_probe *p);
int mailssl_probe_stage(const mailssl_probe *p);      /* MAILSSL_STAGE_* */
int mailssl_probe_service(const mailssl_probe *p);    /* MAILSSL_SERVICE_* */
const char *mailssl_probe_host(const mailssl_probe *p);
int mailssl_probe_port(const mailssl_probe *p);
const char *mailssl_probe_address(const mailssl_probe *p);
const char *mailssl_probe_tls_version(const mailssl_probe *p);
const char *mailssl_probe_tls_cipher(const mailssl_probe *p);
const char *mailssl_probe_tls_group(const mailssl_probe *p);
size_t mailssl_probe_chain_length(const mailssl_probe *p);
/* The capabilities the server announced after TLS (SPEC.md section 5),
 * reported only when the post-TLS dialogue completed (diagnosis ok,
 * cert-expiring): 0 / NULL otherwise, and for an index out of range. */
size_t mailssl_probe_capability_count(const mailssl_probe *p);
const char *mailssl_probe_capability(const mailssl_probe *p, size_t index);
/* The findings of the probe (validation of the chain and others). Owned by
 * the probe. */
const mailssl_report *mailssl_probe_findings(const mailssl_probe *p);
/* Microseconds spent in a stage (MAILSSL_STAGE_RESOLVE..POST_TLS, or
 * MAILSSL_STAGE_TOTAL); -1 when the stage did not run. */
int64_t mailssl_probe_timing_us(const mailssl_probe *p, int stage);
/* Leaf certificate, when the server sent one (else NULL / -1 / 0). */
const char *mailssl_probe_cert_subject(const mailssl_probe *p);
const char *mailssl_probe_cert_issuer(const mailssl_probe *p);
size_t mailssl_probe_cert_name_count(const mailssl_probe *p);
const char *mailssl_probe_cert_name(const mailssl_probe *p, size_t index);
int64_t mailssl_probe_cert_not_before(const mailssl_probe *p);
int64_t mailssl_probe_cert_not_after(const mailssl_probe *p);
int64_t mailssl_probe_cert_days_left(const mailssl_probe *p);
const char *mailssl_probe_cert_sha256(const mailssl_probe *p); /* hex */

/*
 * mailssl_probe_json - the result as one SPEC.md section 5 JSON object
 * (no newline). New string to free with mailssl_free(); NULL when out of
 * memory or the probe has not finished.
 */
char *mailssl_probe_json(const mailssl_probe *p);

/* ------------------------------------------------------------------ */
/* Batch: many probes in the caller's thread, one poll loop            */
/* ------------------------------------------------------------------ */

typedef struct mailssl_batch mailssl_batch;

/* concurrency: how many probes run at once (>= 1). */
mailssl_batch *mailssl_batch_new(int concurrency);
/* Frees the batch, not the probes (the caller owns them). */
void mailssl_batch_free(mailssl_batch *b);
/* Adds a probe that has not started. Returns MAILSSL_OK;
 * MAILSSL_ERR_INVALID for NULL; MAILSSL_ERR_STATE for a probe that has
 * started (or finished); MAILSSL_ERR_DUPLICATE when p is in b already;
 * MAILSSL_ERR_NOMEM. */
int mailssl_batch_add(mailssl_batch *b, mailssl_probe *p);
/* Runs every probe to completion; returns MAILSSL_OK or a negative error.
 * progress, when not NULL, is called after each probe finishes with the
 * number done, the number in all and user. */
int mailssl_batch_run(mailssl_batch *b,
                      void (*progress)(size_t done, size_t total,
                                       void *user),
                      void *user);

/*
 * mailssl_store_export - the store's bindings and listeners written as
 * the TLS configuration of a server that does not link the store, a
 * starting point to review (issue 12, mailssl-check --export). format:
 *   "dovecot": "protocols", "ssl = yes", the global ssl_cert/ssl_key,
 *     "protocol X { }", "local ADDR { }" and "local_name NAME { }"
 *     blocks, and service blocks with one inet_listener a listen line
 *     (Dovecot's default listeners set to port 0). Dovecot has no port
 *     filter, and imap/imaps (pop3/pop3s) are one protocol there: a
 *     binding it cannot tell apart from an earlier one is a comment.
 *     SMTP services are left to the MTA.
 *   "postfix": three parts, each led by a "#### FILE" line: main.cf
 *     (tls_server_sni_maps = hash:/etc/postfix/mailssl_sni when names are
 *     bound), the SNI map's content ("NAME KEY,CERT", ".domain" for
 *     "*.domain"; build it with postmap -F), and master.cf: one smtpd
 *     service a smtp/submission/smtps listen line with
 *     -o smtpd_tls_chain_files=KEY,CERT of the binding a client without
 *     SNI gets there (wrapper mode for smtps).
 * Only PEM file credentials can be exported; others, and what the server
 * cannot express, become "#" comments naming the binding (FILE:LINE).
 * Returns a new string to free with mailssl_free(), or NULL with
 * mailssl_store_error() saying why (NULL argument, unknown format, out of
 * memory). Thread-safe, serialized with reloads. (Since 1.1.)
 */
char *mailssl_store_export(mailssl_store *store, const char *format);

/* ------------------------------------------------------------------ */
/* Live audit: the running servers against the bindings (1.1)          */
/* ------------------------------------------------------------------ */

/*
 * A live audit proves that the servers actually running present what a
 * store's bindings say (SPEC.md section 7, mailssl-check --live). It is
 * for servers that do not link the store (Dovecot, Postfix, Exim...): the
 * store is the source of truth, the live audit checks reality against it.
 *
 * mailssl_live_new() turns every listen line of the store into probe
 * targets: one without SNI, and one for every exact server name bound on
 * that listener (a name N is bound on it when a lookup of the listener's
 * address, port and service with SNI N is won by a binding for exactly N;
 * "*.domain" bindings have no name to send and are covered only by the
 * probe without SNI). Each target is an unstarted mailssl_probe of
 * SERVICE://NAME:PORT connecting to the listener's address (a listener on
 * 0.0.0.0 or :: is reached at 127.0.0.1 or ::1), or SERVICE://ADDRESS:PORT
 * without SNI and without a name check. The caller sets the probes'
 * options with the mailssl_probe_set_* calls (cafile, timeout, days,
 * time...), runs them (mailssl_live_run(), a mailssl_batch, or its own
 * event loop with the non-blocking probe API), then asks
 * mailssl_live_report() for the comparison.
 *
 * The targets and what each should present (the SHA-256 of the leaf of
 * the winning binding) are copied when the audit is made: reloads of the
 * store afterwards do not change them.
 * Thread-safety: one thread at a time per live audit.
 */
typedef struct mailssl_live mailssl_live;

/*
 * mailssl_live_new - a live audit of the store's current listeners (see
 * above). Free it with mailssl_live_free(), which frees its probes too.
 * NULL when store is NULL, the library is not initialised or memory runs
 * out. A store without listeners gives an audit with no targets.
 */
mailssl_live *mailssl_live_new(mailssl_store *store);
/* mailssl_live_free - free the audit and its probes. NULL is fine. */
void mailssl_live_free(mailssl_live *live);
/* mailssl_live_count - number of targets (0 for NULL). */
size_t mailssl_live_count(const mailssl_live *live);
/*
 * mailssl_live_probe - the probe of target index, owned by the audit
 * (never free it; add it to a batch, set its options, read its results);
 * NULL when live is NULL or index is out of range.
 */
mailssl_probe *mailssl_live_probe(mailssl_live *live, size_t index);
/*
 * mailssl_live_listener / mailssl_live_name / mailssl_live_expected_sha256
 * - the listener of target index ("SERVICE ADDRESS PORT", the context of
 * its findings), the SNI name it sends (NULL: none), and the hex SHA-256
 * of the certificate the bindings say it should present (NULL when no
 * binding covers it). Owned by the audit; NULL out of range.
 */
const char *mailssl_live_listener(const mailssl_live *live, size_t index);
const char *mailssl_live_name(const mailssl_live *live, size_t index);
const char *mailssl_live_expected_sha256(const mailssl_live *live,
                                         size_t index);
/*
 * mailssl_live_run - run every probe not yet started in one
 * mailssl_batch of the given concurrency (>= 1). Returns MAILSSL_OK or a
 * negative error (MAILSSL_ERR_INVALID, MAILSSL_ERR_NOMEM,
 * MAILSSL_ERR_IO); the outcomes are in the probes.
 */
int mailssl_live_run(mailssl_live *live, int concurrency);
/*
 * mailssl_live_report - compare, once every probe has finished, and
 * append findings with context ("listener", "SERVICE ADDRESS PORT"),
 * each message starting with "server name NAME:" or "no server name:":
 *   no-binding-live (critical) the server dropped the handshake (closed
 *       it, or a fatal alert): the 13002 case, with the certificate the
 *       bindings say it should present;
 *   cert-drift (warning) it presented a certificate whose SHA-256 differs
 *       from the bound one (both fingerprints and not_after in the
 *       message), or one where no binding covers the listener;
 *   every finding of the probe, and its diagnosis when that is not ok
 *       (connect-refused, cert-expired, starttls-not-offered, ...);
 *   ok (severity ok) when the target showed none of these: the bound
 *       certificate was presented.
 * Returns the worst severity added (0-3), MAILSSL_ERR_STATE when a probe
 * has not finished (nothing added), MAILSSL_ERR_INVALID or
 * MAILSSL_ERR_NOMEM.
 */
int mailssl_live_report(const mailssl_live *live, mailssl_report *out);

#ifdef __cplusplus
}
#endif

#endif /* MAILSSL_H */
