/*
 * probe_view.c - a struct probe_view from a finished mailssl_probe.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "probe_view.h"

#include <stdlib.h>
#include <string.h>

int pv_from_probe(const mailssl_probe *p, const char *url,
                  struct probe_view *v, struct pf_finding **findings)
{
    const mailssl_report *r = mailssl_probe_findings(p);
    size_t i, n = mailssl_report_count(r);
    struct pf_finding *fs = NULL;
    int s;

    memset(v, 0, sizeof(*v));
    *findings = NULL;
    v->url = url;
    v->service = mailssl_service_name(mailssl_probe_service(p));
    v->host = mailssl_probe_host(p);
    v->port = mailssl_probe_port(p);
    v->address = mailssl_probe_address(p);
    v->status = mailssl_probe_status(p);
    if (v->status < 0 || v->status > 3)
        v->status = MAILSSL_SEVERITY_UNKNOWN;
    v->diagnosis = mailssl_code_name(mailssl_probe_diagnosis(p));
    v->message = mailssl_probe_message(p);
    v->stage = mailssl_stage_name(mailssl_probe_stage(p));
    v->tls_version = mailssl_probe_tls_version(p);
    v->has_cert = mailssl_probe_cert_sha256(p) != NULL;
    v->not_before = mailssl_probe_cert_not_before(p);
    v->not_after = mailssl_probe_cert_not_after(p);
    v->days_left = mailssl_probe_cert_days_left(p);
    for (s = 0; s < PF_NTIMINGS; s++)
        v->timing_us[s] = mailssl_probe_timing_us(
            p, s == PF_TIMING_TOTAL  ? MAILSSL_STAGE_TOTAL
               : s == PF_TIMING_DANE ? MAILSSL_STAGE_DANE
                                     : MAILSSL_STAGE_RESOLVE + s);
    if (n) {
        fs = calloc(n, sizeof(*fs));
        if (!fs)
            return -1;
        for (i = 0; i < n; i++) {
            fs[i].code = mailssl_code_name(mailssl_report_code(r, i));
            fs[i].severity =
                mailssl_severity_name(mailssl_report_severity(r, i));
            fs[i].message = mailssl_report_message(r, i);
        }
    }
    *findings = fs;
    v->findings = fs;
    v->nfindings = n;
    return 0;
}
