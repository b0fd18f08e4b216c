/*
 * interop-servers - starts the interop servers (tests/interop/mailservers.h)
 * and prints where they listen as shell assignments, then keeps them up
 * until its standard input closes (or SIGTERM/SIGINT), and stops them.
 * Used by tests/interop/compare and for checking configurations by hand:
 *
 *   coproc S { build/tests/interop/interop-servers; }
 *   read -r line <&"${S[0]}" ...   (or: interop-servers < fifo)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "../certgen.h"
#include "mailservers.h"

int main(void)
{
    struct ms_certs certs;
    struct ms_dovecot dv, dv_plain;
    struct ms_postfix pf;
    char err[2048], *dir;
    char buf[256];

    gnutls_global_init();
    dir = certgen_tmpdir();
    if (dir)
        ms_remove_at_exit(dir);
    if (!dir || ms_certs_make(&certs, dir, err, sizeof err) < 0) {
        fprintf(stderr, "interop-servers: certificates: %s\n", err);
        return 1;
    }
    if (ms_dovecot_start(&dv, &certs, 1, err, sizeof err) < 0) {
        fprintf(stderr, "interop-servers: dovecot: %s\n", err);
        return 1;
    }
    if (ms_dovecot_start(&dv_plain, &certs, 0, err, sizeof err) < 0) {
        fprintf(stderr, "interop-servers: dovecot (ssl = no): %s\n", err);
        return 1; /* atexit stops what started */
    }
    if (ms_postfix_start(&pf, &certs, err, sizeof err) < 0) {
        fprintf(stderr, "interop-servers: postfix: %s\n", err);
        return 1;
    }
    printf("CAFILE=%s\n", certs.ca);
    printf("DOVECOT_LOG=%s\nDOVECOT_NOSSL_LOG=%s\nPOSTFIX_LOG=%s\n", dv.log,
           dv_plain.log, pf.log);
    printf("IMAP=%d\nIMAPS=%d\nPOP3=%d\nPOP3S=%d\nSIEVE=%d\nLMTP=%d\n",
           dv.port[MS_IMAP], dv.port[MS_IMAPS], dv.port[MS_POP3],
           dv.port[MS_POP3S], dv.port[MS_SIEVE], dv.port[MS_LMTP]);
    printf("IMAP_NOSSL=%d\n", dv_plain.port[MS_IMAP]);
    printf("SMTP=%d\nSMTPS=%d\nSMTP_BADKEY=%d\nSMTPS_BADKEY=%d\n",
           pf.port[MS_SMTP], pf.port[MS_SMTPS], pf.port[MS_SMTP_BADKEY],
           pf.port[MS_SMTPS_BADKEY]);
    printf("READY=1\n");
    fflush(stdout);
    while (fgets(buf, sizeof buf, stdin))
        ;
    ms_postfix_stop(&pf);
    ms_dovecot_stop(&dv_plain);
    ms_dovecot_stop(&dv);
    free(dir); /* removed at exit */
    ms_certs_free(&certs);
    gnutls_global_deinit();
    return 0;
}
