/*
 * bench_validate.c - the cost of mailssl_validate_chain() against the same
 * PKIX verification done directly with gnutls_x509_trust_list_verify_crt2,
 * on one 3-certificate chain (leaf, intermediate, root; root trusted), in
 * one run, side by side.
 *
 * Both loops start from the DER a server sends: the direct loop imports
 * the three certificates and verifies them (what a caller holding DER must
 * do); a third figure, verification of pre-parsed certificates, shows the
 * share of parsing. Short blocks of each loop alternate and the median
 * block of each counts, so that noise from other processes hits both
 * alike.
 *
 * Usage: bench_validate [OPERATIONS_PER_BLOCK [BLOCKS]]
 * Exit status 0 when the library costs at most 1.2 times the direct loop,
 * 1 otherwise (the ratio is printed either way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certgen.h"
#include "mailssl.h"

#define LIMIT 1.2

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static gnutls_datum_t der[3];
static const unsigned char *ders[3];
static size_t lens[3];
static gnutls_x509_trust_list_t tl;
static gnutls_x509_crt_t parsed[3];
/* The flags the library uses (DISABLE_TIME_CHECKS: it checks dates itself
 * against its validation time; weak algorithms allowed: it reports them). */
static const unsigned vflags =
    GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
    GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS | GNUTLS_VERIFY_ALLOW_BROKEN |
    GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1 |
    GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_VERY_WEAK);

static int run_library(const mailssl_validator *v, mailssl_report *r, long n)
{
    long i;
    for (i = 0; i < n; i++) {
        mailssl_report_clear(r);
        if (mailssl_validate_chain(v, ders, lens, 3, NULL, 0, r) != 0) {
            char *j = mailssl_report_json(r);
            fprintf(stderr, "bench_validate: %s\n", j ? j : "?");
            mailssl_free(j);
            return -1;
        }
    }
    return 0;
}

static int run_direct(long n)
{
    long i;
    size_t k;
    for (i = 0; i < n; i++) {
        gnutls_x509_crt_t c[3];
        unsigned status = 0;
        for (k = 0; k < 3; k++) {
            if (gnutls_x509_crt_init(&c[k]) < 0 ||
                gnutls_x509_crt_import(c[k], &der[k], GNUTLS_X509_FMT_DER) < 0)
                return -1;
        }
        if (gnutls_x509_trust_list_verify_crt2(tl, c, 3, NULL, 0, vflags,
                                               &status, NULL) < 0 ||
            status != 0) {
            fprintf(stderr, "bench_validate: direct status 0x%x\n", status);
            return -1;
        }
        for (k = 0; k < 3; k++)
            gnutls_x509_crt_deinit(c[k]);
    }
    return 0;
}

static int run_preparsed(long n)
{
    long i;
    for (i = 0; i < n; i++) {
        unsigned status = 0;
        if (gnutls_x509_trust_list_verify_crt2(tl, parsed, 3, NULL, 0, vflags,
                                               &status, NULL) < 0 ||
            status != 0)
            return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"mail.example.com", NULL};
    long block = argc > 1 ? atol(argv[1]) : 20;
    int samples = argc > 2 ? atoi(argv[2]) : 400;
    struct certgen_opts o = {0};
    struct certgen_cert root, inter, leaf;
    const struct certgen_cert *chain[3] = {&leaf, &inter, &root};
    const struct certgen_cert *rootp[1] = {&root};
    double *lib, *direct, *pre, m_lib, m_direct, m_pre;
    mailssl_validator *v;
    mailssl_report *r;
    char *dir, cafile[600];
    int k;

    if (block < 1 || samples < 1 || mailssl_init() != MAILSSL_OK)
        return 2;
    o.is_ca = 1;
    o.cn = "Bench Root";
    if (certgen_make(&root, &o, NULL) || (o.cn = "Bench Intermediate",
                                          certgen_make(&inter, &o, &root)))
        return 2;
    memset(&o, 0, sizeof o);
    o.cn = "mail.example.com";
    o.dns = names;
    if (certgen_make(&leaf, &o, &inter))
        return 2;
    dir = certgen_tmpdir();
    if (!dir)
        return 2;
    snprintf(cafile, sizeof cafile, "%s/root.pem", dir);
    if (certgen_write_pem(cafile, rootp, 1, NULL))
        return 2;
    for (k = 0; k < 3; k++) {
        if (gnutls_x509_crt_export2(chain[k]->crt, GNUTLS_X509_FMT_DER,
                                    &der[k]) < 0)
            return 2;
        ders[k] = der[k].data;
        lens[k] = der[k].size;
        if (gnutls_x509_crt_init(&parsed[k]) < 0 ||
            gnutls_x509_crt_import(parsed[k], &der[k], GNUTLS_X509_FMT_DER) < 0)
            return 2;
    }
    if (gnutls_x509_trust_list_init(&tl, 0) < 0 ||
        gnutls_x509_trust_list_add_trust_file(tl, cafile, NULL,
                                              GNUTLS_X509_FMT_PEM, 0, 0) != 1)
        return 2;
    v = mailssl_validator_new();
    r = mailssl_report_new();
    if (!v || !r || mailssl_validator_set_cafile(v, cafile) != MAILSSL_OK ||
        mailssl_validator_set_name(v, "mail.example.com") != MAILSSL_OK)
        return 2;

    /* warm-up, and proof that every loop verifies successfully */
    if (run_library(v, r, 10) || run_direct(10) || run_preparsed(10)) {
        fprintf(stderr, "bench_validate: the chain does not verify\n");
        return 2;
    }
    lib = malloc(sizeof(double) * (size_t)samples);
    direct = malloc(sizeof(double) * (size_t)samples);
    pre = malloc(sizeof(double) * (size_t)samples);
    if (!lib || !direct || !pre)
        return 2;
    /* Short blocks, interleaved: a burst of load from another process
     * lands on one block, and the median discards it. */
    for (k = 0; k < samples; k++) {
        double t0 = now_ns(), t1, t2, t3;
        if (run_library(v, r, block))
            return 2;
        t1 = now_ns();
        if (run_direct(block))
            return 2;
        t2 = now_ns();
        if (run_preparsed(block))
            return 2;
        t3 = now_ns();
        lib[k] = (t1 - t0) / (double)block;
        direct[k] = (t2 - t1) / (double)block;
        pre[k] = (t3 - t2) / (double)block;
    }
    m_lib = median(lib, samples);
    m_direct = median(direct, samples);
    m_pre = median(pre, samples);
    printf("3-certificate chain (ECDSA P-256, root trusted), %d blocks of "
           "%ld operations, median per operation:\n",
           samples, block);
    printf("  mailssl_validate_chain (DER in, all checks): %10.0f ns/op\n",
           m_lib);
    printf("  direct import + trust_list_verify_crt2:      %10.0f ns/op\n",
           m_direct);
    printf("  direct verify_crt2 on parsed certificates:   %10.0f ns/op\n",
           m_pre);
    printf("  ratio library / direct: %.3f (limit %.1f); library / "
           "verify only: %.3f\n",
           m_lib / m_direct, LIMIT, m_lib / m_pre);
    free(lib);
    free(direct);
    free(pre);

    for (k = 0; k < 3; k++) {
        gnutls_free(der[k].data);
        gnutls_x509_crt_deinit(parsed[k]);
    }
    gnutls_x509_trust_list_deinit(tl, 1);
    mailssl_report_free(r);
    mailssl_validator_free(v);
    certgen_free(&leaf);
    certgen_free(&inter);
    certgen_free(&root);
    certgen_rmdir(dir);
    free(dir);
    mailssl_deinit();
    return m_lib / m_direct <= LIMIT ? 0 : 1;
}
