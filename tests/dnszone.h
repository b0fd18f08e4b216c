/*
 * dnszone.h - test helper: DNS zones made, signed and served at test time.
 * Zone files are written into a fresh directory, signed with ldns-keygen
 * (a KSK and a ZSK, ECDSAP256SHA256) and ldns-signzone with explicit
 * inception and expiration dates, and served by an nsd of the test's own
 * (private directory, pidfile, 127.0.0.1 and a free port above 10000,
 * no remote control). The DS of the first zone's KSK goes into a trust
 * anchor file. A zone whose origin lies under an earlier zone is
 * delegated from it (NS, plus DS when it is signed). Needs nsd and
 * ldnsutils (Debian packages nsd, ldnsutils). Test code only.
 */
#ifndef MAILSSL_TEST_DNSZONE_H
#define MAILSSL_TEST_DNSZONE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DNSZONE_UNSIGNED 0
#define DNSZONE_SIGNED 1  /* signatures valid from now - 1 day, 30 days */
#define DNSZONE_EXPIRED 2 /* signatures of 60 to 30 days ago: bogus */

struct dnszone_def {
    const char *origin;  /* without the final dot: "dane.example" */
    const char *records; /* zone-file lines, names relative to origin;
                            SOA and NS are added */
    int signing;         /* DNSZONE_* */
};

struct dnszone {
    char *dir;          /* the zones, keys, nsd.conf, nsd.log */
    int port;           /* nsd's UDP and TCP port on 127.0.0.1 */
    pid_t pid;          /* nsd (foreground) */
    char anchor[600];   /* trust anchor file: DS of zones[0] */
    char resolver[64];  /* "127.0.0.1@PORT" for the probe */
};

/* Writes, signs and serves zones[0..n-1] (parents before their
 * children); returns 0 when nsd answers, -1 with a message on stderr. */
int dnszone_start(struct dnszone *z, const struct dnszone_def *zones,
                  size_t n);
/* Stops nsd and removes the directory. */
void dnszone_stop(struct dnszone *z);
/* Hex of the SHA-256 of data (65 bytes with the NUL). */
void dnszone_sha256_hex(const void *data, size_t len, char out[65]);

/* A UDP socket on 127.0.0.1 that never answers (a silent DNS server):
 * returns its descriptor and sets *port, or -1. */
int dnszone_silent_server(int *port);

/* Hostile DNS servers on 127.0.0.1 UDP, in a thread of the caller:
 * HUGE answers every query with a 65,000-byte datagram (its ID, QR set,
 * 65,535 answers claimed, junk after); TRUNCATED always sets TC, with no
 * TCP listener behind it. */
#define DNSZONE_HOSTILE_HUGE 1
#define DNSZONE_HOSTILE_TRUNCATED 2
/* STRIPPING forwards each query to upstream_port (the nsd) without its
 * EDNS record, so the answers come back without DNSSEC records, as from
 * a resolver that does not support DNSSEC. */
#define DNSZONE_HOSTILE_STRIPPING 3
struct dnszone_hostile;
struct dnszone_hostile *dnszone_hostile_start(int mode, int *port);
/* The upstream of DNSZONE_HOSTILE_STRIPPING, before it gets a query. */
void dnszone_hostile_set_upstream(struct dnszone_hostile *h, int port);
/* Number of queries it answered. */
int dnszone_hostile_queries(const struct dnszone_hostile *h);
void dnszone_hostile_stop(struct dnszone_hostile *h);

#endif
