/* smf.c — an SMF's side of uepool through the C API (uepool/uepool.h).
 *
 * Three SMFs of one SMF set run in this process, each a uepool_member with
 * the external transport: this program is their network (as an SMF with a
 * transport of its own would be), moving each message uepool_take hands out
 * to the member it names with uepool_feed. It then creates dual-stack PDU
 * sessions (an IPv4 address and an IPv6 /64 each) at the three SMFs in
 * turn, moves half of them to another SMF, where they end (the release
 * travels to the owner), ends the rest where they began, and checks that
 * no address was held twice and that every address came back.
 *
 *   smf [SESSIONS]      (default 300; exit 0: the checks held)
 *
 * Built and run by the tests (ctest -R c_example), and built against the
 * installed tree by the packaging test (find_package(uepool)). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "uepool/uepool.h"

#define SMFS 3

static const char* const kConfig =
    "epoch: 1\n"
    "lease_ms: 2000\n"
    "curve: false\n"
    "pools:\n"
    "  - {name: internet-v4, prefix: 10.45.0.0/20, unit_length: 32, block_units: 64}\n"
    "  - {name: internet-v6, prefix: \"2001:db8:cafe::/52\", unit_length: 64, block_units: 64}\n"
    "members:\n"
    "  - {name: smf1, id: 1, endpoint: \"tcp://127.0.0.1:1\"}\n" /* endpoints unused: our own transport */
    "  - {name: smf2, id: 2, endpoint: \"tcp://127.0.0.1:2\"}\n"
    "  - {name: smf3, id: 3, endpoint: \"tcp://127.0.0.1:3\"}\n";

typedef struct session {
  int smf; /* where it is now */
  uepool_lease lease[2];
  uepool_address addr[2];
} session;

static uepool_member* smf[SMFS];
static uint8_t buffer[64 * 1024];

static void sleep_ms(int ms) {
  struct timespec t = {0, (long)ms * 1000000L};
  nanosleep(&t, NULL);
}

/* network — one round: each member's message loop, then every message it
 * has to send delivered to the member it names. */
static int network(void) {
  int moved = 0;
  for (int i = 0; i < SMFS; ++i) uepool_step(smf[i], 0);
  for (int i = 0; i < SMFS; ++i) {
    uint32_t to;
    size_t size;
    while (uepool_take(smf[i], &to, buffer, sizeof buffer, &size) == UEPOOL_OK) {
      if (to >= 1 && to <= SMFS) {
        const uepool_status s = uepool_feed(smf[to - 1], buffer, size);
        if (s != UEPOOL_OK) fprintf(stderr, "smf%u refused a message: %s\n", to, uepool_status_name(s));
      }
      ++moved;
    }
  }
  return moved;
}

/* until — run the network until `done` holds (10 s at most). */
static int until(int (*done)(void)) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return 1;
    if (network() == 0) sleep_ms(1);
  }
  return done();
}

static int all_ready(void) {
  for (int i = 0; i < SMFS; ++i) {
    uepool_stats st;
    if (uepool_stats_get(smf[i], &st) != UEPOOL_OK || st.phase != UEPOOL_PHASE_READY) return 0;
  }
  return 1;
}

/* nothing_in_use — every unit is free, or waits out the release repeat
 * window: a unit whose 4-bit allocation serial wrapped with this release
 * (about one release in 14) is held 30 s before it is handed out again, so
 * that a very late duplicate of an old release cannot free a new holder. */
static int nothing_in_use(void) {
  for (int i = 0; i < SMFS; ++i) {
    uepool_stats st;
    if (uepool_stats_get(smf[i], &st) != UEPOOL_OK || st.in_use_units != st.wrap_held_units) return 0;
  }
  return 1;
}

static int same_address(const uepool_address* a, const uepool_address* b) {
  return a->family == b->family && a->length == b->length && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

int main(int argc, char** argv) {
  const int sessions = argc > 1 ? atoi(argv[1]) : 300;
  if (sessions <= 0 || sessions > 3000) {
    fprintf(stderr, "usage: smf [SESSIONS]   (1..3000, default 300)\n");
    return 2;
  }
  char root[] = "/tmp/uepool-smf-XXXXXX";
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char dirs[SMFS][64];
  uepool_worker* worker[SMFS];
  for (int i = 0; i < SMFS; ++i) {
    char name[8], error[512];
    snprintf(name, sizeof name, "smf%d", i + 1);
    snprintf(dirs[i], sizeof dirs[i], "%s/%s", root, name);
    if (mkdir(dirs[i], 0755) != 0) {
      perror(dirs[i]);
      return 1;
    }
    uepool_options o = uepool_default_options();
    o.member = name;
    o.data_dir = dirs[i];
    o.fresh = 1; /* the set's very first start */
    o.external_transport = 1;
    const uepool_status s = uepool_create(kConfig, &o, &smf[i], error, sizeof error);
    if (s != UEPOOL_OK) {
      fprintf(stderr, "%s: %s: %s\n", name, uepool_status_name(s), error);
      return 1;
    }
    worker[i] = uepool_worker_create(smf[i]);
  }
  if (!until(all_ready)) {
    char why[256] = "";
    uepool_not_ready_reason(smf[0], why, sizeof why);
    fprintf(stderr, "the set did not become ready: %s\n", why);
    return 1;
  }
  const uint32_t v4 = (uint32_t)uepool_pool(smf[0], "internet-v4");
  const uint32_t v6 = (uint32_t)uepool_pool(smf[0], "internet-v6");

  /* A bad message from the network is refused with its reason, nothing lost. */
  static const uint8_t garbage[40] = {1, 2, 3};
  printf("a corrupt message: %s\n", uepool_status_name(uepool_feed(smf[0], garbage, sizeof garbage)));

  session* s = calloc((size_t)sessions, sizeof *s);
  int created = 0, refused = 0;
  for (int k = 0; k < sessions; ++k) {
    session* x = &s[created];
    x->smf = k % SMFS;
    uepool_status st = uepool_allocate_dual(worker[x->smf], v4, v6, x->lease, x->addr);
    for (int tries = 0; st == UEPOOL_NOT_READY && tries < 1000; ++tries) { /* a window is on its way */
      network();
      st = uepool_allocate_dual(worker[x->smf], v4, v6, x->lease, x->addr);
    }
    if (st != UEPOOL_OK) {
      ++refused;
      continue;
    }
    ++created;
    if (k % 97 == 0) network(); /* the SMF's event loop runs meanwhile */
  }
  char a4[48], a6[48], token[96];
  uepool_address_format(&s[0].addr[0], a4, sizeof a4);
  uepool_address_format(&s[0].addr[1], a6, sizeof a6);
  uepool_lease_format(&s[0].lease[0], token, sizeof token);
  printf("%d PDU sessions created (%d refused); the first: %s and %s at smf%d, lease %s\n", created, refused, a4, a6,
         s[0].smf + 1, token);

  int twice = 0;
  for (int i = 0; i < created; ++i)
    for (int j = i + 1; j < created; ++j)
      twice += same_address(&s[i].addr[0], &s[j].addr[0]) + same_address(&s[i].addr[1], &s[j].addr[1]);
  for (int i = 0; i < 20; ++i) network(); /* the allocations stream to the replicas */

  /* Half move to another SMF and end there; the rest end where they began. */
  int moved = 0;
  for (int i = 0; i < created; ++i) {
    if (i % 2 == 0) {
      s[i].smf = (s[i].smf + 1) % SMFS;
      ++moved;
    }
    uepool_release(worker[s[i].smf], &s[i].lease[0]);
    uepool_release(worker[s[i].smf], &s[i].lease[1]);
  }
  const int back = until(nothing_in_use);
  uint64_t forwarded = 0, stale = 0;
  for (int i = 0; i < SMFS; ++i) {
    uepool_stats st;
    uepool_stats_get(smf[i], &st);
    forwarded += st.releases_forwarded;
    stale += st.stale_releases;
    printf(
        "smf%d: generation %u, %llu units owned, %llu in use (%llu of them waiting out the repeat window), "
        "%llu releases forwarded to their owner\n",
        i + 1, st.generation, (unsigned long long)st.owned_units, (unsigned long long)st.in_use_units,
        (unsigned long long)st.wrap_held_units, (unsigned long long)st.releases_forwarded);
  }
  printf("%d sessions moved and ended at another SMF; %llu releases travelled to the owner\n", moved,
         (unsigned long long)forwarded);
  printf("addresses held twice: %d; every address back: %s; stale releases: %llu\n", twice, back ? "yes" : "NO",
         (unsigned long long)stale);

  for (int i = 0; i < SMFS; ++i) {
    uepool_destroy(smf[i]);
    char path[256];
    snprintf(path, sizeof path, "%s/generation", dirs[i]);
    unlink(path);
    rmdir(dirs[i]);
  }
  rmdir(root);
  free(s);
  const int ok = created == sessions && twice == 0 && back && stale == 0 && forwarded >= 2u * (uint64_t)moved;
  printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
