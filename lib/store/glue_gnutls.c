/*
 * glue_gnutls.c - a binding store choosing the certificate of GnuTLS
 * server sessions (include/mailssl-gnutls.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GnuTLS callbacks receive only the session, so each (store, service)
 * gets one certificate-credentials object whose retrieve callback finds
 * its store again through a small registry; the local address comes from
 * the session's socket, the name from its SNI extension. The callback
 * hands GnuTLS copies of the chain and key (GNUTLS_CERT_RETR_DEINIT_ALL),
 * so that a session never depends on the lifetime of a table.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "store.h"
#include "mailssl-gnutls.h"

struct glue_entry {
    gnutls_certificate_credentials_t cred;
    mailssl_store *store;
    int service;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct glue_entry *reg;
static size_t nreg, capreg;

/* Finds the store and service of a credentials object. */
static int reg_find(gnutls_certificate_credentials_t cred,
                    mailssl_store **store, int *service)
{
    size_t i;
    int found = 0;
    pthread_mutex_lock(&reg_lock);
    for (i = 0; i < nreg; i++)
        if (reg[i].cred == cred) {
            *store = reg[i].store;
            *service = reg[i].service;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

/* mailssl_store_free()'s hook: the credentials of a store being freed. */
static void glue_forget(mailssl_store *s)
{
    size_t i = 0;
    pthread_mutex_lock(&reg_lock);
    while (i < nreg) {
        if (reg[i].store == s) {
            gnutls_certificate_free_credentials(reg[i].cred);
            reg[i] = reg[--nreg];
        } else {
            i++;
        }
    }
    if (nreg == 0) {
        free(reg);
        reg = NULL;
        capreg = 0;
    }
    pthread_mutex_unlock(&reg_lock);
}

/* The store, service, local address and SNI name of a session. */
static int session_context(gnutls_session_t session,
                           gnutls_certificate_credentials_t cred,
                           mailssl_store **store, int *service,
                           struct sockaddr_storage *local, char *sni,
                           size_t snilen, int *has_sni)
{
    socklen_t sl = sizeof *local;
    size_t len = snilen - 1;
    unsigned type;
    int fd;

    if (!reg_find(cred, store, service))
        return -1;
    fd = gnutls_transport_get_int(session);
    memset(local, 0, sizeof *local);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)local, &sl) != 0)
        return -1;
    *has_sni = gnutls_server_name_get(session, sni, &len, &type, 0) == 0 &&
               type == GNUTLS_NAME_DNS;
    if (*has_sni)
        sni[len < snilen ? len : snilen - 1] = '\0';
    return 0;
}

static int retrieve(gnutls_session_t session,
                    const struct gnutls_cert_retr_st *info,
                    gnutls_pcert_st **certs, unsigned int *ncerts,
                    gnutls_ocsp_data_st **ocsp, unsigned int *nocsp,
                    gnutls_privkey_t *privkey, unsigned int *flags)
{
    mailssl_store *store;
    mailssl_credential *c = NULL;
    struct sockaddr_storage local;
    gnutls_pcert_st *pc = NULL;
    gnutls_privkey_t pk = NULL;
    char sni[256];
    unsigned n = 0;
    int service, has_sni, rc;

    *certs = NULL;
    *ncerts = 0;
    *ocsp = NULL;
    *nocsp = 0;
    *privkey = NULL;
    *flags = 0;
    if (session_context(session, info->cred, &store, &service, &local, sni,
                        sizeof sni, &has_sni) < 0)
        return -1;
    if (mailssl_store_lookup(store, (struct sockaddr *)&local, service,
                             has_sni ? sni : NULL, &c, NULL, 0) < 0)
        return -1;
    n = c->ncerts;
    pc = gnutls_calloc(n, sizeof *pc);
    rc = pc ? gnutls_pcert_import_x509_list(pc, c->certs, &n, 0) : -1;
    if (rc < 0)
        n = 0; /* nothing imported to deinit */
    if (rc >= 0)
        rc = mailssl__credential_copy_key(c, &pk);
    mailssl_credential_free(c);
    if (rc < 0) {
        unsigned i;
        for (i = 0; i < n; i++)
            gnutls_pcert_deinit(&pc[i]);
        gnutls_free(pc);
        return -1;
    }
    *certs = pc;
    *ncerts = n;
    *privkey = pk;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

/* Strict mode: refuse an SNI name the store does not know, with the
 * error that maps to the unrecognized_name alert. */
static int post_client_hello(gnutls_session_t session)
{
    void *cred = NULL;
    mailssl_store *store;
    mailssl_credential *c = NULL;
    struct sockaddr_storage local;
    char sni[256];
    int service, has_sni, miss = MAILSSL__MISS_NONE;

    if (gnutls_credentials_get(session, GNUTLS_CRD_CERTIFICATE, &cred) < 0 ||
        session_context(session, cred, &store, &service, &local, sni,
                        sizeof sni, &has_sni) < 0)
        return 0; /* the retrieve callback reports the failure */
    if (!has_sni || !mailssl__store_strict(store))
        return 0;
    mailssl__store_lookup_sa(store, (struct sockaddr *)&local, service, sni,
                             &c, NULL, 0, &miss);
    mailssl_credential_free(c);
    return miss == MAILSSL__MISS_UNKNOWN_NAME ? GNUTLS_E_UNRECOGNIZED_NAME : 0;
}

/* The credentials object of (store, service), made on first use. */
static gnutls_certificate_credentials_t glue_cred(mailssl_store *s,
                                                  int service)
{
    gnutls_certificate_credentials_t cred = NULL;
    size_t i;

    if (mailssl__store_on_free(glue_forget) < 0)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    for (i = 0; i < nreg; i++)
        if (reg[i].store == s && reg[i].service == service) {
            cred = reg[i].cred;
            goto done;
        }
    if (nreg == capreg) {
        size_t ncap = capreg ? capreg * 2 : 16;
        void *p = realloc(reg, ncap * sizeof *reg);
        if (!p)
            goto done;
        reg = p;
        capreg = ncap;
    }
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        cred = NULL;
        goto done;
    }
    gnutls_certificate_set_retrieve_function3(cred, retrieve);
    reg[nreg].cred = cred;
    reg[nreg].store = s;
    reg[nreg].service = service;
    nreg++;
done:
    pthread_mutex_unlock(&reg_lock);
    return cred;
}

MAILSSL_EXPORT int mailssl_gnutls_attach(gnutls_session_t session,
                                         mailssl_store *store, int fd,
                                         int service)
{
    gnutls_certificate_credentials_t cred;

    if (!session || !store || fd < 0 || service == MAILSSL_SERVICE_ANY ||
        !mailssl_service_name(service))
        return mailssl__store_invalid(
            store, !session ? "NULL session"
                   : fd < 0 ? "negative socket descriptor"
                            : "the service must be a MAILSSL_SERVICE_* "
                              "other than ANY");
    if (!(cred = glue_cred(store, service)))
        return MAILSSL_ERR_NOMEM;
    if (gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred) < 0)
        return MAILSSL_ERR_TLS;
    gnutls_transport_set_int(session, fd);
    gnutls_handshake_set_post_client_hello_function(session,
                                                    post_client_hello);
    return MAILSSL_OK;
}
