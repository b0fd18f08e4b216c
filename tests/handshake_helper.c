/* handshake_helper.c - see handshake_helper.h. */
#include "handshake_helper.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mailssl-gnutls.h"

static void loopback(struct sockaddr_in *sa, int port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa->sin_port = htons((uint16_t)port);
}

int hs_listen(int backlog, int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    loopback(&sa, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

void hs_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int hs_handshake(gnutls_session_t s)
{
    int rc;

    do
        rc = gnutls_handshake(s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    return rc;
}

int hs_server_start(int fd, mailssl_store *store, int service,
                    gnutls_session_t *s)
{
    hs_nodelay(fd);
    if (gnutls_init(s, GNUTLS_SERVER | GNUTLS_NO_TICKETS) < 0) {
        close(fd);
        return -1;
    }
    if (gnutls_set_default_priority(*s) < 0 ||
        mailssl_gnutls_attach(*s, store, fd, service) != MAILSSL_OK ||
        hs_handshake(*s) < 0) {
        gnutls_deinit(*s);
        close(fd);
        return -1;
    }
    return 0;
}

void hs_server_end(gnutls_session_t s, int fd)
{
    gnutls_bye(s, GNUTLS_SHUT_WR);
    gnutls_deinit(s);
    close(fd);
}

int hs_client(int port, gnutls_certificate_credentials_t cc, const char *sni,
              void (*seen)(gnutls_session_t, void *), void *arg)
{
    struct sockaddr_in sa;
    gnutls_session_t s;
    char byte;
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;

    loopback(&sa, port);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        gnutls_init(&s, GNUTLS_CLIENT) < 0) {
        close(fd);
        return -1;
    }
    hs_nodelay(fd);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cc);
    gnutls_server_name_set(s, GNUTLS_NAME_DNS, sni, strlen(sni));
    gnutls_transport_set_int(s, fd);
    /* the server's close_notify: its side of the handshake is done */
    if (hs_handshake(s) >= 0 && gnutls_record_recv(s, &byte, 1) == 0) {
        if (seen)
            seen(s, arg);
        rc = 0;
    }
    gnutls_deinit(s);
    close(fd);
    return rc;
}
