/*
 * probe_view.h - a struct probe_view (probe_format.h) from a finished
 * mailssl_probe, shared by mailssl-probe and mailssl-exporter so that both
 * show the same fields through the same formatters.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef MAILSSL_PROBE_VIEW_H
#define MAILSSL_PROBE_VIEW_H

#include "mailssl.h"
#include "probe_format.h"

/*
 * pv_from_probe - fills v from the finished probe p; url is shown as the
 * target (usually the URL as given). The strings of v point into p (and
 * url), so v is valid while both are. The findings go into a new array
 * stored in *findings (free() it; NULL when there are none). Returns 0, or
 * -1 when out of memory (*findings is then NULL).
 */
int pv_from_probe(const mailssl_probe *p, const char *url,
                  struct probe_view *v, struct pf_finding **findings);

#endif
