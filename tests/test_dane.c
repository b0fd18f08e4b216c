/*
 * Tests of DANE from DNS (lib/probe/probe_dane.c, lib/probe/dns.c): the probe
 * looks up
 * TLSA records with DNSSEC through libunbound, forwarding to an nsd of the
 * test's own that serves zones signed at test time (tests/dnszone.h), and
 * probes an SMTP scriptserver with --connect-to. One table of cases, one
 * runner; the slow-DNS cases use a UDP socket that never answers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>

#include "certgen.h"
#include "check_run.h"
#include "dnszone.h"
#include "mailssl.h"
#include "scriptserver.h"

static char *dir;
static char cafile[512], othercafile[512];
static struct certgen_cert ca, leaf, other;
static gnutls_x509_crt_t chain[2];
static struct dnszone zone;
static struct scriptserver *server;
static int silent_fd = -1, silent_port;
static char silent_resolver[64];
/* made on first use in a test, indexed by HUGE / TRUNCATED */
static struct dnszone_hostile *hostile[5];
static char hostile_resolver[5][64];


/* The hex of the SHA-256 of the leaf's SubjectPublicKeyInfo (3 1 1) or
 * of a whole certificate (2 0 1). */
static void spki_hex(gnutls_x509_crt_t crt, char out[65])
{
    gnutls_pubkey_t pk;
    gnutls_datum_t d;

    ck_assert_int_eq(gnutls_pubkey_init(&pk), 0);
    ck_assert_int_eq(gnutls_pubkey_import_x509(pk, crt, 0), 0);
    ck_assert_int_eq(gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &d), 0);
    dnszone_sha256_hex(d.data, d.size, out);
    gnutls_free(d.data);
    gnutls_pubkey_deinit(pk);
}

static void cert_hex(gnutls_x509_crt_t crt, char out[65])
{
    gnutls_datum_t d;

    ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d), 0);
    dnszone_sha256_hex(d.data, d.size, out);
    gnutls_free(d.data);
}

static void setup(void)
{
    static const char *const names[] = {"*.dane.example",
                                        "host.insecure.dane.example",
                                        "host.bogus.dane.example",
                                        "hosta.insecure.dane.example",
                                        "hosta.bogus.dane.example", NULL};
    struct certgen_opts ca_o = {0}, o = {0};
    const struct certgen_cert *cas[1];
    char ee[65], ta[65], *top, *big, *p;
    struct dnszone_def zones[3];
    int i;
    int64_t now = (int64_t)time(NULL);

    ck_assert_int_eq(mailssl_init(), MAILSSL_OK);
    dir = certgen_tmpdir();
    ck_assert_ptr_nonnull(dir);
    ca_o.cn = "DANE Test CA";
    ca_o.is_ca = 1;
    ca_o.not_before = now - 86400;
    ca_o.not_after = now + 3650 * 86400;
    o.cn = "mx.dane.example";
    o.dns = names;
    o.not_before = now - 86400;
    o.not_after = now + 365 * 86400;
    snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
    ck_assert_int_eq(certgen_ca_and_leaf(&ca, &ca_o, &leaf, &o, cafile), 0);
    chain[0] = leaf.crt;
    chain[1] = ca.crt;
    /* a trust store without the test CA: only DANE can authenticate */
    memset(&o, 0, sizeof o);
    o.cn = "Unrelated CA";
    o.is_ca = 1;
    ck_assert_int_eq(certgen_make(&other, &o, NULL), 0);
    snprintf(othercafile, sizeof othercafile, "%s/other.pem", dir);
    cas[0] = &other;
    ck_assert_int_eq(certgen_write_pem(othercafile, cas, 1, NULL), 0);

    spki_hex(leaf.crt, ee);
    cert_hex(ca.crt, ta);
    /* 100 records of 3 1 2 (64 bytes each): over 4 KB, so the answer is
     * truncated over UDP and comes again over TCP; more than the probe's
     * 64-record bound */
    big = malloc(100 * 180);
    ck_assert_ptr_nonnull(big);
    for (i = 0, p = big; i < 100; i++)
        p += sprintf(p,
                     "_25._tcp.big TLSA 3 1 2 %0128x\n", i + 1);
    top = malloc(4096 + strlen(big));
    ck_assert_ptr_nonnull(top);
    snprintf(top, 4096 + strlen(big),
             "ee A 127.0.0.1\n_25._tcp.ee TLSA 3 1 1 %s\n"
             "_25._tcp.ta TLSA 2 0 1 %s\n"
             "_25._tcp.bad TLSA 3 1 1 %064x\n"
             "_25._tcp.deep.sub TLSA 3 1 1 %s\n"
             "_25._tcp.tadeep.sub TLSA 2 0 1 %s\n"
             "_25._tcp.pkix TLSA 1 1 1 %s\n"
             "_25._tcp.loop CNAME _25._tcp.loop2\n"
             "_25._tcp.loop2 CNAME _25._tcp.loop\n"
             "notlsa A 127.0.0.1\n"
             "mxdom MX 10 mx1\nmxdom MX 20 mx2\n"
             "mx1 A 127.0.0.1\nmx2 A 127.0.0.1\n"
             "_25._tcp.mx1 TLSA 3 1 1 %s\n"
             "_25._tcp.mx2 TLSA 3 1 1 %064x\n"
             /* addresses from DNS (no --connect-to): the server's port
              * is known only when it runs, hence wildcard TLSA owners */
             "hosta A 127.0.0.1\n*._tcp.hosta TLSA 3 1 1 %s\n"
             "mxa MX 10 hosta\n"
             "mxins MX 10 hosta.insecure.dane.example.\n"
             "mxbog MX 10 hosta.bogus.dane.example.\n"
             "mxnoaddr MX 10 noaddr\nnoaddr TXT \"no address\"\n%s",
             ee, ta, 0x5a, ee, ta, ee, ee, 0x5b, ee, big);
    free(big);
    zones[0].origin = "dane.example";
    zones[0].records = top;
    zones[0].signing = DNSZONE_SIGNED;
    {
        static char ins[400], bog[400];
        /* hosta: a secure TLSA RRset would not help, its addresses are
         * insecure or bogus (RFC 7672 section 2.2.2) */
        snprintf(ins, sizeof ins,
                 "_25._tcp.host TLSA 3 1 1 %s\nmxdom MX 10 host\n"
                 "hosta A 127.0.0.1\n*._tcp.hosta TLSA 3 1 1 %s\n",
                 ee, ee);
        snprintf(bog, sizeof bog,
                 "_25._tcp.host TLSA 3 1 1 %s\nmxdom MX 10 host\n"
                 "hosta A 127.0.0.1\n",
                 ee);
        zones[1].origin = "insecure.dane.example";
        zones[1].records = ins;
        zones[1].signing = DNSZONE_UNSIGNED;
        zones[2].origin = "bogus.dane.example";
        zones[2].records = bog;
        zones[2].signing = DNSZONE_EXPIRED;
    }
    ck_assert_int_eq(dnszone_start(&zone, zones, 3), 0);
    free(top);

    silent_fd = dnszone_silent_server(&silent_port);
    ck_assert_int_ge(silent_fd, 0);
    snprintf(silent_resolver, sizeof silent_resolver, "127.0.0.1@%d",
             silent_port);
}

/* The SMTP server, in each test's own process (a thread of the parent
 * would not exist in a forked test, and leak checkers would see it). */
static void server_setup(void)
{
    struct ss_config c = {.script = ss_smtp_script, .chain = chain,
                          .nchain = 2, .key = leaf.key, .threads = 4};

    server = ss_start(&c);
    ck_assert_ptr_nonnull(server);
}

static void server_teardown(void)
{
    size_t i;

    ss_stop(server);
    for (i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        dnszone_hostile_stop(hostile[i]);
        hostile[i] = NULL;
    }
}

static void teardown(void)
{
    dnszone_stop(&zone);
    close(silent_fd);
    certgen_free(&leaf);
    certgen_free(&ca);
    certgen_free(&other);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
}

/* resolvers other than the nsd */
#define SILENT 1    /* a socket that never answers */
#define HUGE 2      /* 65,000-byte answers claiming 65,535 records */
#define TRUNCATED 3 /* always TC, nothing on TCP */
#define STRIPPING 4 /* forwards to the nsd without EDNS: no DNSSEC records */

struct dane_case {
    const char *host;      /* smtp://HOST (port 25: _25._tcp.HOST) */
    int mode;              /* MAILSSL_DANE_* */
    int use_cafile;        /* PKIX trust in the test CA */
    int resolver;          /* 0: the nsd, SILENT */
    int32_t timeout_ms;    /* whole probe (0: 5000) */
    int32_t dane_stage_ms; /* DANE stage deadline (0: default) */
    int diagnosis;         /* MAILSSL_CODE_* */
    int status;
    int finding;           /* a finding with this code, or -1 */
    const char *json;      /* in the JSON, or NULL */
    const char *message;   /* in the message, or NULL */
    /* the host's addresses from DNS: no --connect-to, smtp://HOST:PORT
     * with the test server's port (the wildcard TLSA owners) */
    int dns_addr;
    int no_tlsa;           /* the TLSA lookup must not run */
};

static const struct dane_case cases[] = {
    /* 3 1 1 on the leaf: DANE-EE, names not checked, no PKIX needed */
    {"ee.dane.example", MAILSSL_DANE_REQUIRED, 0, 0, 0, 0, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_OK,
     "\"dnssec\":\"secure\",\"records\":[\"3 1 1 ", NULL, 0, 0},
    /* 2 0 1 on the CA: DANE-TA through the chain, no system trust */
    {"ta.dane.example", MAILSSL_DANE_REQUIRED, 0, 0, 0, 0, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_OK, "\"matched\":1", NULL, 0, 0},
    /* deep.sub.dane.example is not a name of the certificate
     * (*.dane.example covers one label): DANE-EE does not check names,
     * DANE-TA does (RFC 7672 sections 3.1.1 and 3.2.2) */
    {"deep.sub.dane.example", MAILSSL_DANE_REQUIRED, 0, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_OK, NULL, NULL, 0, 0},
    {"tadeep.sub.dane.example", MAILSSL_DANE_REQUIRED, 0, 0, 0, 0,
     MAILSSL_CODE_CERT_NAME_MISMATCH, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     NULL, 0, 0},
    {"bad.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_MISMATCH, MAILSSL_SEVERITY_CRITICAL, -1,
     "\"matched\":0", NULL, 0, 0},
    /* secure records must match, also when opportunistic */
    {"bad.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_MISMATCH, MAILSSL_SEVERITY_CRITICAL, -1, NULL, NULL, 0, 0},
    {"notlsa.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_NO_RECORDS, MAILSSL_SEVERITY_CRITICAL, -1,
     "\"records\":[]", "DANE was required", 0, 0},
    {"notlsa.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_NO_RECORDS,
     NULL, NULL, 0, 0},
    {"host.insecure.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_INSECURE, MAILSSL_SEVERITY_CRITICAL, -1,
     "\"dnssec\":\"insecure\"", NULL, 0, 0},
    {"host.insecure.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_INSECURE, NULL,
     NULL, 0, 0},
    /* expired RRSIG: bogus in both modes, the reason in the message */
    {"host.bogus.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL, -1,
     "\"dnssec\":\"bogus\"", "expired", 0, 0},
    {"host.bogus.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL, -1, NULL, NULL, 0, 0},
    /* PKIX-EE(1) is unusable for SMTP (RFC 7672 section 3.1.3) */
    {"pkix.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_UNUSABLE, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "RFC 7672", 0, 0},
    {"pkix.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_WARNING, MAILSSL_CODE_DANE_UNUSABLE,
     NULL, NULL, 0, 0},
    /* hostile DNS: a CNAME loop and an RRset over UDP's size and the
     * probe's bound; both end in time with a diagnosis */
    {"loop.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_LOOKUP_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     NULL, 0, 0},
    {"big.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_MISMATCH, MAILSSL_SEVERITY_CRITICAL,
     MAILSSL_CODE_DANE_UNUSABLE, NULL, NULL, 0, 0},
    /* a DNS server that never answers: the DANE stage deadline (half the
     * probe's by default) ends the lookup */
    {"ee.dane.example", MAILSSL_DANE_REQUIRED, 1, SILENT, 2000, 0,
     MAILSSL_CODE_DANE_LOOKUP_FAILED, MAILSSL_SEVERITY_CRITICAL, -1,
     "\"dane\":", "slow or silent", 0, 0},
    {"ee.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, SILENT, 3000, 500,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_WARNING,
     MAILSSL_CODE_DANE_LOOKUP_FAILED, NULL, NULL, 0, 0},
    /* hostile DNS servers: oversized garbage, endless truncation */
    {"ee.dane.example", MAILSSL_DANE_REQUIRED, 1, HUGE, 2000, 0,
     MAILSSL_CODE_DANE_LOOKUP_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     NULL, 0, 0},
    {"ee.dane.example", MAILSSL_DANE_REQUIRED, 1, TRUNCATED, 2000, 0,
     MAILSSL_CODE_DANE_LOOKUP_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     NULL, 0, 0},
    /* a resolver that drops DNSSEC records: bogus, and the message says
     * what to suspect */
    {"ee.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, STRIPPING, 0, 0,
     MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "strips DNSSEC records", 0, 0},
    /* the addresses from DNS, DNSSEC-validated (RFC 7672 section 2.2.2):
     * secure A and TLSA, the connection goes to the A record's address
     * (the only way to the test server without --connect-to) */
    {"hosta.dane.example", MAILSSL_DANE_REQUIRED, 0, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_OK,
     "\"address\":\"127.0.0.1\"", NULL, 1, 0},
    /* an A RRset in the unsigned zone: DANE does not apply, no TLSA */
    {"hosta.insecure.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_INSECURE, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "2.2.2", 1, 1},
    {"hosta.insecure.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, MAILSSL_CODE_DANE_INSECURE,
     "\"address\":\"127.0.0.1\"", NULL, 1, 1},
    {"hosta.bogus.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "expired", 1, 1},
    /* no A/AAAA (a TXT record only), and a name that does not exist */
    {"noaddr.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, 0, 0, 0,
     MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "no A/AAAA records", 1, 1},
    {"nx.dane.example", MAILSSL_DANE_REQUIRED, 1, 0, 0, 0,
     MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "NXDOMAIN", 1, 1},
    /* a silent DNS server: the probe's deadline ends the resolve stage */
    {"hosta.dane.example", MAILSSL_DANE_OPPORTUNISTIC, 1, SILENT, 1500, 0,
     MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL, -1, NULL,
     "slow or silent", 1, 1},
};


static mailssl_probe *case_probe(const struct dane_case *c)
{
    char url[300], to[64];
    mailssl_probe *p;

    if (c->dns_addr)
        snprintf(url, sizeof url, "smtp://%s:%d", c->host, ss_port(server));
    else
        snprintf(url, sizeof url, "smtp://%s", c->host);
    snprintf(to, sizeof to, "127.0.0.1:%d", ss_port(server));
    p = mailssl_probe_new(url);
    ck_assert_ptr_nonnull(p);
    if (!c->dns_addr)
        ck_assert_int_eq(mailssl_probe_set_connect_to(p, to), MAILSSL_OK);
    if (c->use_cafile)
        ck_assert_int_eq(mailssl_probe_set_cafile(p, cafile), MAILSSL_OK);
    else
        ck_assert_int_eq(mailssl_probe_set_cafile(p, othercafile),
                         MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_dane(p, c->mode), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_dns_anchor_file(p, zone.anchor),
                     MAILSSL_OK);
    if (c->resolver > SILENT) {
        static const int modes[] = {0, 0, DNSZONE_HOSTILE_HUGE,
                                    DNSZONE_HOSTILE_TRUNCATED,
                                    DNSZONE_HOSTILE_STRIPPING};
        int port;

        if (!hostile[c->resolver]) {
            hostile[c->resolver] =
                dnszone_hostile_start(modes[c->resolver], &port);
            ck_assert_ptr_nonnull(hostile[c->resolver]);
            dnszone_hostile_set_upstream(hostile[c->resolver], zone.port);
            snprintf(hostile_resolver[c->resolver],
                     sizeof hostile_resolver[0], "127.0.0.1@%d", port);
        }
    }
    ck_assert_int_eq(mailssl_probe_set_dns_resolver(
                         p, c->resolver == SILENT ? silent_resolver
                            : c->resolver ? hostile_resolver[c->resolver]
                                          : zone.resolver),
                     MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_set_timeout_ms(
                         p, c->timeout_ms ? c->timeout_ms : 5000),
                     MAILSSL_OK);
    if (c->dane_stage_ms)
        ck_assert_int_eq(mailssl_probe_set_stage_timeout_ms(
                             p, MAILSSL_STAGE_DANE, c->dane_stage_ms),
                         MAILSSL_OK);
    return p;
}

static void check_case(const struct dane_case *c, mailssl_probe *p)
{
    char *json = mailssl_probe_json(p);
    const mailssl_report *r = mailssl_probe_findings(p);
    int32_t limit = c->timeout_ms ? c->timeout_ms : 5000;

    ck_assert_ptr_nonnull(json);
    if (getenv("DANE_TEST_VERBOSE")) /* the results, to read them */
        fprintf(stderr, "%s\n", json);
    ck_assert_msg(mailssl_probe_diagnosis(p) == c->diagnosis &&
                      mailssl_probe_status(p) == c->status,
                  "%s (mode %d): %s", c->host, c->mode, json);
    if (c->finding >= 0)
        ck_assert_msg(mailssl_report_find(r, c->finding, 0) >= 0,
                      "%s: no finding %s: %s", c->host,
                      mailssl_code_name(c->finding), json);
    if (c->json)
        ck_assert_msg(strstr(json, c->json), "%s: no %s in %s", c->host,
                      c->json, json);
    if (c->message)
        ck_assert_msg(strstr(mailssl_probe_message(p), c->message),
                      "%s: no '%s' in '%s'", c->host, c->message,
                      mailssl_probe_message(p));
    /* the stage each diagnosis comes with (README "Probe", Stages): the
     * address lookup's verdicts leave the resolve stage not completed */
    ck_assert_msg(mailssl_probe_stage(p) ==
                      (c->diagnosis == MAILSSL_CODE_OK ? MAILSSL_STAGE_DONE
                       : c->no_tlsa                   ? MAILSSL_STAGE_NONE
                       : c->diagnosis == MAILSSL_CODE_DANE_MISMATCH ||
                               c->diagnosis == MAILSSL_CODE_CERT_NAME_MISMATCH
                           ? MAILSSL_STAGE_HANDSHAKE
                           : MAILSSL_STAGE_RESOLVE),
                  "%s: stage %s", c->host,
                  mailssl_stage_name(mailssl_probe_stage(p)));
    /* every case ends within its deadline, with a dane stage timing */
    ck_assert_int_lt(mailssl_probe_timing_us(p, MAILSSL_STAGE_TOTAL),
                     (int64_t)limit * 1000 + 300000);
    ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_RESOLVE), 0);
    if (c->no_tlsa) {
        ck_assert_int_eq(mailssl_probe_timing_us(p, MAILSSL_STAGE_DANE), -1);
        ck_assert_ptr_null(strstr(json, "\"dane\":"));
    } else {
        ck_assert_int_ge(mailssl_probe_timing_us(p, MAILSSL_STAGE_DANE), 0);
        ck_assert_ptr_nonnull(strstr(json, "\"dane\":"));
    }
    mailssl_free(json);
}

static void run_case(const struct dane_case *c)
{
    mailssl_probe *p = case_probe(c);

    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    check_case(c, p);
    if (c->resolver > SILENT) /* it was asked */
        ck_assert_int_gt(dnszone_hostile_queries(hostile[c->resolver]), 0);
    mailssl_probe_free(p);
}
CHECK_TABLE_TEST(test_case, run_case, cases)

/* The whole table again in one batch: the probes share one resolver
 * cache, and a probe answered through another's processing is stepped. */
START_TEST(test_batch)
{
    mailssl_probe *ps[CHECK_COUNT(cases)];
    size_t i, n = (size_t)CHECK_COUNT(cases);
    mailssl_batch *b = mailssl_batch_new(8);

    ck_assert_ptr_nonnull(b);
    for (i = 0; i < n; i++) {
        ps[i] = case_probe(&cases[i]);
        ck_assert_int_eq(mailssl_batch_add(b, ps[i]), MAILSSL_OK);
    }
    ck_assert_int_eq(mailssl_batch_run(b, NULL, NULL), MAILSSL_OK);
    for (i = 0; i < n; i++) {
        check_case(&cases[i], ps[i]);
        mailssl_probe_free(ps[i]);
    }
    mailssl_batch_free(b);
}
END_TEST

/* smtp://DOMAIN with MX lookup: the hosts in preference order, each with
 * its own TLSA records. */
struct mx_case {
    const char *domain;
    int mode;
    int diagnosis, status; /* of the whole */
    size_t nhosts;
    const char *host[2];   /* in order */
    int host_diagnosis[2];
    int dns_addr;          /* the hosts' addresses from DNS (dane_case) */
    int host_finding;      /* a finding of the first host, or -1 (0: none
                              asked) */
};

static const struct mx_case mx_cases[] = {
    /* two hosts: mx1 (10) matches 3 1 1, mx2 (20) mismatches */
    {"mxdom.dane.example", MAILSSL_DANE_REQUIRED, MAILSSL_CODE_DANE_MISMATCH,
     MAILSSL_SEVERITY_CRITICAL, 2, {"mx1.dane.example", "mx2.dane.example"},
     {MAILSSL_CODE_OK, MAILSSL_CODE_DANE_MISMATCH}, 0, 0},
    /* an insecure MX RRset: DANE cannot apply (RFC 7672 section 2.2.1) */
    {"mxdom.insecure.dane.example", MAILSSL_DANE_REQUIRED,
     MAILSSL_CODE_DANE_INSECURE, MAILSSL_SEVERITY_CRITICAL, 0, {0, 0},
     {0, 0}, 0, 0},
    {"mxdom.insecure.dane.example", MAILSSL_DANE_OPPORTUNISTIC,
     MAILSSL_CODE_OK, MAILSSL_SEVERITY_OK, 1,
     {"host.insecure.dane.example", 0}, {MAILSSL_CODE_OK, 0}, 0, 0},
    {"mxdom.bogus.dane.example", MAILSSL_DANE_OPPORTUNISTIC,
     MAILSSL_CODE_DANE_BOGUS, MAILSSL_SEVERITY_CRITICAL, 0, {0, 0}, {0, 0}, 0, 0},
    /* no MX: the domain itself (RFC 5321 section 5.1) */
    {"ee.dane.example", MAILSSL_DANE_REQUIRED, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, 1, {"ee.dane.example", 0}, {MAILSSL_CODE_OK, 0}, 0, 0},
    /* the MX host's addresses from DNS (RFC 7672 section 2.2.2): secure A
     * and TLSA, connected to the A record's address */
    {"mxa.dane.example", MAILSSL_DANE_REQUIRED, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, 1, {"hosta.dane.example", 0}, {MAILSSL_CODE_OK, 0},
     1, MAILSSL_CODE_DANE_OK},
    /* a secure MX RRset whose host's A RRset is in the unsigned zone */
    {"mxins.dane.example", MAILSSL_DANE_REQUIRED, MAILSSL_CODE_DANE_INSECURE,
     MAILSSL_SEVERITY_CRITICAL, 1, {"hosta.insecure.dane.example", 0},
     {MAILSSL_CODE_DANE_INSECURE, 0}, 1, -1},
    {"mxins.dane.example", MAILSSL_DANE_OPPORTUNISTIC, MAILSSL_CODE_OK,
     MAILSSL_SEVERITY_OK, 1, {"hosta.insecure.dane.example", 0},
     {MAILSSL_CODE_OK, 0}, 1, MAILSSL_CODE_DANE_INSECURE},
    {"mxbog.dane.example", MAILSSL_DANE_OPPORTUNISTIC, MAILSSL_CODE_DANE_BOGUS,
     MAILSSL_SEVERITY_CRITICAL, 1, {"hosta.bogus.dane.example", 0},
     {MAILSSL_CODE_DANE_BOGUS, 0}, 1, -1},
    {"mxnoaddr.dane.example", MAILSSL_DANE_REQUIRED,
     MAILSSL_CODE_RESOLVE_FAILED, MAILSSL_SEVERITY_CRITICAL, 1,
     {"noaddr.dane.example", 0}, {MAILSSL_CODE_RESOLVE_FAILED, 0}, 1, -1},
};

static void run_mx(const struct mx_case *m)
{
    struct dane_case c = cases[0];
    mailssl_probe *p;
    char *json;
    size_t k;

    c.host = m->domain;
    c.mode = m->mode;
    c.use_cafile = 1;
    c.dns_addr = m->dns_addr;
    p = case_probe(&c);
    ck_assert_int_eq(mailssl_probe_set_mx(p, 1), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    json = mailssl_probe_json(p);
    if (getenv("DANE_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", json);
    ck_assert_msg(mailssl_probe_diagnosis(p) == m->diagnosis &&
                      mailssl_probe_status(p) == m->status &&
                      mailssl_probe_mx_count(p) == m->nhosts,
                  "%s: %s", m->domain, json);
    for (k = 0; k < m->nhosts; k++) {
        const mailssl_probe *h = mailssl_probe_mx_probe(p, k);

        ck_assert_ptr_nonnull(h);
        ck_assert_str_eq(mailssl_probe_host(h), m->host[k]);
        ck_assert_int_eq(mailssl_probe_diagnosis(h), m->host_diagnosis[k]);
        ck_assert_int_ge(mailssl_probe_mx_preference(h), 0);
        ck_assert_int_ge(mailssl_probe_timing_us(h, MAILSSL_STAGE_RESOLVE),
                         0);
        if (m->dns_addr && m->host_diagnosis[k] == MAILSSL_CODE_OK)
            ck_assert_str_eq(mailssl_probe_address(h), "127.0.0.1");
    }
    if (m->host_finding > 0)
        ck_assert_msg(mailssl_report_find(mailssl_probe_findings(
                                              mailssl_probe_mx_probe(p, 0)),
                                          m->host_finding, 0) >= 0,
                      "%s: no finding %s: %s", m->domain,
                      mailssl_code_name(m->host_finding), json);
    ck_assert_ptr_null(mailssl_probe_mx_probe(p, m->nhosts));
    ck_assert_ptr_nonnull(strstr(json, "\"mx\":{\"dnssec\":"));
    mailssl_free(json);
    mailssl_probe_free(p);
}
CHECK_TABLE_TEST(test_mx, run_mx, mx_cases)

/* mailssl-probe --dane --mx: one JSON line a mail host, preference
 * order, exit status the worst (critical: mx2 mismatches). */
START_TEST(test_program_mx)
{
    const char *prog = getenv("MAILSSL_PROBE");
    char cmd[2048], line[16384];
    const char *want[] = {"\"host\":\"mx1.dane.example\"",
                          "\"host\":\"mx2.dane.example\""};
    FILE *f;
    int n = 0, st;

    ck_assert_msg(prog != NULL, "MAILSSL_PROBE is not set (meson test)");
    snprintf(cmd, sizeof cmd,
             "'%s' --dane --mx --format json --dns-anchor '%s' "
             "--dns-resolver %s --connect-to 127.0.0.1:%d --cafile '%s' "
             "smtp://mxdom.dane.example",
             prog, zone.anchor, zone.resolver, ss_port(server), cafile);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        ck_assert_int_lt(n, 2);
        ck_assert_msg(strstr(line, want[n]) && strstr(line, "\"dane\":{"),
                      "line %d: %s", n, line);
        n++;
    }
    st = pclose(f);
    ck_assert_int_eq(n, 2);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);

    /* the dane stage's time in the Prometheus output, exit 0 */
    snprintf(cmd, sizeof cmd,
             "'%s' --dane --format prometheus --dns-anchor '%s' "
             "--dns-resolver %s --connect-to 127.0.0.1:%d "
             "smtp://ee.dane.example",
             prog, zone.anchor, zone.resolver, ss_port(server));
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "mailssl_probe_duration_seconds{") &&
             strstr(line, "stage=\"dane\"");
    st = pclose(f);
    ck_assert_int_eq(n, 1);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}
END_TEST

/* A batch of probes whose addresses come from a silent DNS server (MX
 * mode and DANE mode, no --connect-to) ends within one deadline, not one
 * a probe: no lookup blocks the batch's loop. */
START_TEST(test_silent_batch)
{
    enum { N = 8, DEADLINE_MS = 1000 };
    mailssl_probe *ps[N];
    struct dane_case c = cases[0];
    mailssl_batch *b = mailssl_batch_new(N);
    int64_t t0;
    double took_ms;
    struct timespec ts;
    size_t i;

    ck_assert_ptr_nonnull(b);
    c.resolver = SILENT;
    c.timeout_ms = DEADLINE_MS;
    c.dns_addr = 1;
    for (i = 0; i < N; i++) {
        c.host = i % 2 ? "mxa.dane.example" : "hosta.dane.example";
        ps[i] = case_probe(&c);
        if (i % 2)
            ck_assert_int_eq(mailssl_probe_set_mx(ps[i], 1), MAILSSL_OK);
        ck_assert_int_eq(mailssl_batch_add(b, ps[i]), MAILSSL_OK);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ck_assert_int_eq(mailssl_batch_run(b, NULL, NULL), MAILSSL_OK);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    took_ms = (double)((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 -
                       t0) / 1000.0;
    for (i = 0; i < N; i++) {
        ck_assert_msg(mailssl_probe_diagnosis(ps[i]) ==
                          MAILSSL_CODE_RESOLVE_FAILED,
                      "probe %zu: %s", i, mailssl_probe_message(ps[i]));
        ck_assert_ptr_nonnull(
            strstr(mailssl_probe_message(ps[i]), "deadline"));
        mailssl_probe_free(ps[i]);
    }
    mailssl_batch_free(b);
    /* N deadlines would be 8 s; one is 1 s */
    ck_assert_msg(took_ms < DEADLINE_MS * 1.6, "%d probes took %.0f ms", N,
                  took_ms);
}
END_TEST

/* The probe's address family decides which RRsets are asked: hosta has
 * an A record and no AAAA. */
struct family_case {
    int family;
    int diagnosis;
    const char *message; /* in the message, or NULL */
};

static const struct family_case family_cases[] = {
    {4, MAILSSL_CODE_OK, NULL},
    {6, MAILSSL_CODE_RESOLVE_FAILED, "no AAAA records"},
    {0, MAILSSL_CODE_OK, NULL},
};

static void run_family(const struct family_case *f)
{
    struct dane_case c = cases[0];
    mailssl_probe *p;

    c.host = "hosta.dane.example";
    c.dns_addr = 1;
    p = case_probe(&c);
    ck_assert_int_eq(mailssl_probe_set_family(p, f->family), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_msg(mailssl_probe_diagnosis(p) == f->diagnosis,
                  "family %d: %s", f->family, mailssl_probe_message(p));
    if (f->message)
        ck_assert_ptr_nonnull(strstr(mailssl_probe_message(p), f->message));
    mailssl_probe_free(p);
}
CHECK_TABLE_TEST(test_family, run_family, family_cases)

/* Off: no lookup, no dane block, no dane timing. */
START_TEST(test_off)
{
    struct dane_case c = cases[0];
    mailssl_probe *p;
    char *json;

    c.mode = MAILSSL_DANE_OFF;
    c.use_cafile = 1;
    p = case_probe(&c);
    ck_assert_int_eq(mailssl_probe_run(p), MAILSSL_OK);
    ck_assert_int_eq(mailssl_probe_diagnosis(p), MAILSSL_CODE_OK);
    ck_assert_int_eq(mailssl_probe_timing_us(p, MAILSSL_STAGE_DANE), -1);
    json = mailssl_probe_json(p);
    ck_assert_ptr_null(strstr(json, "\"dane\""));
    mailssl_free(json);
    mailssl_probe_free(p);
}
END_TEST

/* A trust anchor file that cannot be read: status unknown, and why. */
START_TEST(test_missing_anchor)
{
    mailssl_probe *p = case_probe(&cases[0]);

    ck_assert_int_eq(
        mailssl_probe_set_dns_anchor_file(p, "/nonexistent/root.key"),
        MAILSSL_OK);
    (void)mailssl_probe_run(p);
    ck_assert_int_eq(mailssl_probe_status(p), MAILSSL_SEVERITY_UNKNOWN);
    ck_assert_ptr_nonnull(
        strstr(mailssl_probe_message(p), "/nonexistent/root.key"));
    mailssl_probe_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dane");
    TCase *tc = tcase_create("dns");

    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(tc, server_setup, server_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_case, 0, CHECK_COUNT(cases));
    tcase_add_test(tc, test_batch);
    tcase_add_loop_test(tc, test_mx, 0, CHECK_COUNT(mx_cases));
    tcase_add_test(tc, test_silent_batch);
    tcase_add_loop_test(tc, test_family, 0, CHECK_COUNT(family_cases));
    tcase_add_test(tc, test_off);
    tcase_add_test(tc, test_program_mx);
    tcase_add_test(tc, test_missing_anchor);
    suite_add_tcase(s, tc);
    return check_run(s, CK_FORK_GETENV);
}
