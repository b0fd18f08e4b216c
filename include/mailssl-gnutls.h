/*
 * mailssl-gnutls.h - optional glue between a libmailssl binding store and
 * a GnuTLS server session. Separate from mailssl.h because it exposes
 * GnuTLS types (GnuTLS keeps its own ABI); link with -lmailssl -lgnutls.
 *
 * Copyright (C) 2026 the libmailssl authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_GNUTLS_H
#define MAILSSL_GNUTLS_H

#include <gnutls/gnutls.h>

#include <mailssl.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mailssl_gnutls_attach - let store choose the certificate of a server
 * session. After the ClientHello, GnuTLS asks the store (through a
 * certificate retrieve callback) for the binding of the socket's local
 * address and port (getsockname() on fd), service and the SNI name the
 * client sent, and presents that credential; the session gets its own
 * copy of the chain and key, so a reload during the handshake or after it
 * never affects it. When nothing is bound the handshake fails (GnuTLS
 * returns an error from gnutls_handshake()); in strict mode
 * (mailssl_store_set_strict) an SNI name that is not bound fails it with
 * GNUTLS_E_UNRECOGNIZED_NAME, and the server sends the unrecognized_name
 * alert with gnutls_alert_send_appropriate(), as for any handshake error.
 *
 * session: a server session (gnutls_init(GNUTLS_SERVER)) with its priority
 * set, before gnutls_handshake(). fd: the accepted socket; it becomes the
 * session's transport (gnutls_transport_set_int). service: a
 * MAILSSL_SERVICE_* (not ANY). The call sets the session's certificate
 * credentials (gnutls_credentials_set GNUTLS_CRD_CERTIFICATE) and its
 * post-ClientHello function: do not replace them afterwards.
 *
 * The store must outlive the handshakes of the sessions attached to it.
 * Returns MAILSSL_OK, MAILSSL_ERR_INVALID, MAILSSL_ERR_NOMEM, or
 * MAILSSL_ERR_TLS when GnuTLS refuses a setting.
 * Thread-safety: any number of threads may attach sessions (of one store
 * or several) and run handshakes at once, also during reloads.
 */
int mailssl_gnutls_attach(gnutls_session_t session, mailssl_store *store,
                          int fd, int service);

#ifdef __cplusplus
}
#endif

#endif /* MAILSSL_GNUTLS_H */
