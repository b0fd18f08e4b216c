/*
 * format_sample - prints made-up probe results through mailssl-probe's
 * formatters, with the hostile text a server could send, so that the
 * format validators of formats.py run before (and besides) real probes.
 * usage: format_sample text|nagios|prometheus
 */
#include <stdio.h>
#include <string.h>

#include "probe_format.h"

static const struct pf_finding findings[] = {
    {"cert-expiring", "warning", "expires | soon\n(line two)"},
    {"cert-self-signed", "critical", "self-signed \"leaf\" \\ here"},
};

int main(int argc, char **argv)
{
    struct probe_view v[4];
    size_t i;
    int s;

    memset(v, 0, sizeof(v));
    for (i = 0; i < 4; i++) {
        v[i].service = "imaps";
        v[i].port = 993;
        v[i].host = "mail.test";
        for (s = 0; s < PF_NTIMINGS; s++)
            v[i].timing_us[s] = -1;
        v[i].timing_us[PF_TIMING_TOTAL] = 1234567 * (int64_t)(i + 1);
    }
    v[0].url = "imaps://mail.test";
    v[0].diagnosis = "ok";
    v[0].stage = "done";
    v[0].message = "all good";
    v[0].tls_version = "TLS1.3";
    v[0].has_cert = 1;
    v[0].not_before = 1767225600;
    v[0].not_after = 1798675200;
    v[0].days_left = 300;
    for (s = 0; s < PF_NTIMINGS; s++)
        v[0].timing_us[s] = 1000 * s;
    v[0].timing_us[PF_TIMING_DANE] = -1; /* a probe without DANE */
    v[1].url = "imap://odd\"=name'\\|x";
    v[1].service = "imap";
    v[1].status = 2;
    v[1].diagnosis = "cert-self-signed";
    v[1].stage = "handshake";
    v[1].message = "peer said: \r\n* BYE | bye\033[0m";
    v[1].tls_version = "TLS1.2";
    v[1].has_cert = 1;
    v[1].days_left = -3;
    v[1].findings = findings;
    v[1].nfindings = 2;
    v[2].url = "pop3s://[::1]:995";
    v[2].status = 3;
    v[2].diagnosis = "tls-timeout";
    v[2].stage = "connect";
    v[3] = v[0]; /* a URL given twice */
    if (argc != 2)
        return 2;
    if (strcmp(argv[1], "text") == 0)
        pf_write_text(stdout, v, 4);
    else if (strcmp(argv[1], "nagios") == 0)
        pf_write_nagios(stdout, v, 4, 30, 7);
    else if (strcmp(argv[1], "nagios1") == 0)
        pf_write_nagios(stdout, v, 1, 30, 7);
    else if (strcmp(argv[1], "prometheus") == 0)
        pf_write_prometheus(stdout, v, 4);
    else
        return 2;
    return 0;
}
