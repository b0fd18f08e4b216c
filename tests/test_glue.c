/* Tests of lib/store/glue_gnutls.c: a GnuTLS server on loopback picks its
 * certificate through the store, by local address, port, service and
 * SNI; strict mode answers unknown names with unrecognized_name. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "check_run.h"
#include "certgen.h"
#include "mailssl-gnutls.h"
#include "mailssl.h"

static mailssl_store *st;
static mailssl_credential *cred_default, *cred_named;
static int lsock;
static int port;

static mailssl_credential *cred_for(const char *cn, const char *dns)
{
    const char *names[2] = {dns, NULL};
    struct certgen_opts o = {0};
    struct certgen_cert c;
    mailssl_credential *cr = mailssl_credential_new();
    char *cp, *kp;

    o.cn = cn;
    o.dns = names;
    ck_assert_int_eq(certgen_make(&c, &o, NULL), 0);
    cp = certgen_cert_pem(&c);
    kp = certgen_key_pem(&c);
    ck_assert_int_eq(mailssl_credential_load_pem_memory(
                         cr, cp, strlen(cp), kp, strlen(kp), NULL),
                     MAILSSL_OK);
    free(cp);
    free(kp);
    certgen_free(&c);
    return cr;
}

/* The credentials once for the run (unchecked fixture), the store and
 * the listening socket per test. */
static void setup_creds(void)
{
    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    cred_default = cred_for("default", "localhost");
    cred_named = cred_for("named", "mail.example.com");
}

static void teardown_creds(void)
{
    mailssl_credential_free(cred_default);
    mailssl_credential_free(cred_named);
    mailssl_deinit();
}

static void setup(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;

    st = mailssl_store_new();
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_IMAPS, "127.0.0.1",
                                       MAILSSL_PORT_ANY, "*", cred_default),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_store_add(st, MAILSSL_SERVICE_IMAPS, "*",
                                       MAILSSL_PORT_ANY, "mail.example.com",
                                       cred_named),
                     MAILSSL_OK);
    lsock = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lsock, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lsock, 4), 0);
    ck_assert_int_eq(getsockname(lsock, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
}

static void teardown(void)
{
    close(lsock);
    mailssl_store_free(st);
}

struct server {
    int service;
    int rc; /* gnutls_handshake result */
};

static void *serve_one(void *arg)
{
    struct server *sv = arg;
    gnutls_session_t s;
    int fd = accept(lsock, NULL, NULL);

    sv->rc = -1;
    if (fd < 0)
        return NULL;
    gnutls_init(&s, GNUTLS_SERVER);
    gnutls_set_default_priority(s);
    gnutls_handshake_set_timeout(s, 10000);
    if (mailssl_gnutls_attach(s, st, fd, sv->service) == MAILSSL_OK) {
        do
            sv->rc = gnutls_handshake(s);
        while (sv->rc < 0 && !gnutls_error_is_fatal(sv->rc));
        if (sv->rc < 0)
            gnutls_alert_send_appropriate(s, sv->rc);
        else
            gnutls_bye(s, GNUTLS_SHUT_WR);
    }
    gnutls_deinit(s);
    close(fd);
    return NULL;
}

/* Connects with sni (NULL: none); returns the CN the server presented in
 * cn, or the handshake error; *alert gets the alert received, if any. */
static int handshake(int service, const char *sni, char *cn, size_t cnlen,
                     int *alert, int *server_rc)
{
    struct server sv = {service, 0};
    struct sockaddr_in sa;
    gnutls_session_t s;
    gnutls_certificate_credentials_t xcred;
    pthread_t th;
    int fd, rc;

    ck_assert_int_eq(pthread_create(&th, NULL, serve_one, &sv), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    gnutls_certificate_allocate_credentials(&xcred);
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, xcred);
    if (sni)
        gnutls_server_name_set(s, GNUTLS_NAME_DNS, sni, strlen(sni));
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 10000);
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    *alert = -1;
    cn[0] = '\0';
    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
        *alert = (int)gnutls_alert_get(s);
    if (rc >= 0) {
        unsigned n = 0;
        const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
        gnutls_x509_crt_t crt;
        size_t len = cnlen;
        ck_assert_uint_gt(n, 0);
        gnutls_x509_crt_init(&crt);
        gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER);
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                      cn, &len);
        gnutls_x509_crt_deinit(crt);
        gnutls_bye(s, GNUTLS_SHUT_WR);
    }
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(xcred);
    close(fd);
    pthread_join(th, NULL);
    *server_rc = sv.rc;
    return rc;
}

START_TEST(no_sni_gets_address_binding)
{
    char cn[128];
    int alert, src;
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, NULL, cn, sizeof cn,
                               &alert, &src),
                     0);
    ck_assert_int_eq(src, 0);
    ck_assert_str_eq(cn, "default");
}
END_TEST

START_TEST(sni_gets_named_binding)
{
    char cn[128];
    int alert, src;
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, "Mail.Example.com", cn,
                               sizeof cn, &alert, &src),
                     0);
    ck_assert_str_eq(cn, "named");
    /* an unknown name falls back to the address binding */
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, "other.example.com",
                               cn, sizeof cn, &alert, &src),
                     0);
    ck_assert_str_eq(cn, "default");
}
END_TEST

START_TEST(strict_sends_unrecognized_name)
{
    char cn[128];
    int alert, src, rc;
    ck_assert_int_eq(mailssl_store_set_strict(st, 1), MAILSSL_OK);
    rc = handshake(MAILSSL_SERVICE_IMAPS, "other.example.com", cn, sizeof cn,
                   &alert, &src);
    ck_assert_int_eq(rc, GNUTLS_E_FATAL_ALERT_RECEIVED);
    ck_assert_int_eq(alert, GNUTLS_A_UNRECOGNIZED_NAME);
    ck_assert_int_eq(src, GNUTLS_E_UNRECOGNIZED_NAME);
    /* known names and no name still work */
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, "mail.example.com", cn,
                               sizeof cn, &alert, &src),
                     0);
    ck_assert_str_eq(cn, "named");
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, NULL, cn, sizeof cn,
                               &alert, &src),
                     0);
    ck_assert_str_eq(cn, "default");
}
END_TEST

START_TEST(no_binding_fails_the_handshake)
{
    char cn[128];
    int alert, src, rc;
    rc = handshake(MAILSSL_SERVICE_POP3S, NULL, cn, sizeof cn, &alert, &src);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_lt(src, 0);
    ck_assert_str_eq(cn, "");
}
END_TEST

START_TEST(session_keeps_copy_after_reload)
{
    mailssl_store *empty = mailssl_store_new();
    char cn[128];
    int alert, src;
    ck_assert_int_eq(handshake(MAILSSL_SERVICE_IMAPS, NULL, cn, sizeof cn,
                               &alert, &src),
                     0);
    ck_assert_int_eq(mailssl_store_replace(st, empty), MAILSSL_OK);
    ck_assert_int_lt(handshake(MAILSSL_SERVICE_IMAPS, NULL, cn, sizeof cn,
                               &alert, &src),
                     0);
    mailssl_store_free(empty);
}
END_TEST

START_TEST(attach_bad_arguments)
{
    gnutls_session_t s;
    gnutls_init(&s, GNUTLS_SERVER);
    ck_assert_int_eq(mailssl_gnutls_attach(s, NULL, 0, MAILSSL_SERVICE_IMAPS),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_gnutls_attach(s, st, -1, MAILSSL_SERVICE_IMAPS),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_gnutls_attach(s, st, 0, MAILSSL_SERVICE_ANY),
                     MAILSSL_ERR_INVALID);
    ck_assert_int_eq(mailssl_gnutls_attach(NULL, st, 0, MAILSSL_SERVICE_IMAPS),
                     MAILSSL_ERR_INVALID);
    gnutls_deinit(s);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        no_sni_gets_address_binding, sni_gets_named_binding,
        strict_sends_unrecognized_name, no_binding_fails_the_handshake,
        session_keeps_copy_after_reload, attach_bad_arguments, NULL};
    const struct check_fixture fx = {setup_creds, teardown_creds, setup, teardown, 0};

    return check_main("glue", "gnutls", &fx, tests);
}
