/*
 * interop-probe - one probe for tests/interop/compare, printed as one line:
 *   CODE<TAB>SUBJECT<TAB>MESSAGE
 * Usage: interop-probe URL CAFILE CONNECT_TO
 * (Stands in for examples/mailssl-probe until the programs issue lands.)
 */
#include <stdio.h>

#include "mailssl.h"

int main(int argc, char **argv)
{
    mailssl_probe *p;
    const char *subject, *message;
    int code, status;

    if (argc != 4) {
        fprintf(stderr, "usage: interop-probe URL CAFILE CONNECT_TO\n");
        return 3;
    }
    if (mailssl_init() != MAILSSL_OK || !(p = mailssl_probe_new(argv[1]))) {
        fprintf(stderr, "interop-probe: cannot initialise\n");
        return 3;
    }
    if (mailssl_probe_set_cafile(p, argv[2]) != MAILSSL_OK ||
        mailssl_probe_set_connect_to(p, argv[3]) != MAILSSL_OK ||
        mailssl_probe_run(p) != MAILSSL_OK) {
        printf("error\t-\t%s\n", mailssl_probe_error(p));
        mailssl_probe_free(p);
        return 3;
    }
    code = mailssl_probe_diagnosis(p);
    subject = mailssl_probe_cert_subject(p);
    message = mailssl_probe_message(p);
    status = mailssl_probe_status(p);
    printf("%s\t%s\t%s\n",
           mailssl_code_name(code) ? mailssl_code_name(code) : "(none)",
           subject ? subject : "-", message ? message : "");
    mailssl_probe_free(p);
    mailssl_deinit();
    return status >= 0 && status <= 3 ? status : 3;
}
