/* uepool/uepool.h — the C API: one member of an SMF set, for an SMF written
 * in C (or any language with a C FFI: bindings/go uses it through cgo).
 *
 * Plain C99, opaque handles, status codes; no C++ exception crosses it and
 * no call aborts on bad input. Link with -luepool (libuepool.so; CMake:
 * find_package(uepool) and target uepool::uepool).
 *
 *   char err[256];
 *   uepool_options o = uepool_default_options();
 *   o.member = "smf1";  o.data_dir = "/var/lib/uepool";
 *   uepool_member *u;
 *   if (uepool_create_from_file("uepool.yaml", &o, &u, err, sizeof err) != UEPOOL_OK) { puts(err); exit(2); }
 *   uepool_start(u);                              // the message loop on a thread of its own
 *   uepool_worker *w = uepool_worker_create(u);   // one per SMF thread that allocates
 *   uepool_lease lease;  uepool_address addr;
 *   if (uepool_allocate(w, uepool_pool(u, "internet-v4"), &lease, &addr) == UEPOOL_OK)
 *     ...;                                        // store the lease with the PDU session
 *   uepool_release(w, &lease);                    // at any member of the set, when the session ends
 *   uepool_destroy(u);
 *
 * Handles
 *   uepool_member  one member (its allocator, its replicas of its peers, its
 *                  generation file, its transport). Made by uepool_create*,
 *                  ended by uepool_destroy.
 *   uepool_worker  a thread's access to the hot path (allocate, release,
 *                  claim). One per thread; it lives as long as its uepool.
 *
 * Threading
 *   uepool_allocate*, uepool_claim and uepool_release run on the calling
 *   thread, lock-free, each through its own worker: any number of threads at
 *   once. Everything else goes to the member's message thread: after
 *   uepool_start, the library's own (the call waits for it); without
 *   uepool_start, the caller is the message thread and calls uepool_step in
 *   its loop (then every call other than the hot path's comes from that
 *   thread).
 *
 * Transport
 *   By default the member talks to its peers over ZeroMQ (CurveZMQ when the
 *   configuration says curve: true) at the endpoints of the configuration.
 *   With options.external_transport the SMF moves the bytes itself:
 *   uepool_take gives each message to send and the member it goes to,
 *   uepool_feed takes each message that arrived. The messages are the wire
 *   format (docs/protocol.md); the SMF's network may lose, repeat or reorder
 *   them, but must tell who sent them (the member trusts the sender field).
 *
 * Time: the library's own monotonic clock, in milliseconds.
 *
 * Every function that fails says why in its status; uepool_create* also
 * writes a sentence naming what was wrong into `error`. */
#ifndef UEPOOL_UEPOOL_H
#define UEPOOL_UEPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C names (snake_case types, UPPER_CASE constants), not the C++ layers'. */
/* NOLINTBEGIN(readability-identifier-naming) */

#define UEPOOL_API_VERSION 1

typedef struct uepool_member uepool_member;
typedef struct uepool_worker uepool_worker;
typedef struct uepool_held_list uepool_held_list;

typedef enum uepool_status {
  UEPOOL_OK = 0,
  UEPOOL_NONE_FREE = 1,    /* every unit this member owns in the pool is in use */
  UEPOOL_NOT_READY = 2,    /* recovering, or no window its peers acknowledged yet: try later or another member */
  UEPOOL_NO_SUCH_POOL = 3, /* a pool index or name not in the configuration */
  UEPOOL_NOT_STATIC = 4,   /* claim: the address is not in a static range of the pool */
  UEPOOL_OUT_OF_RANGE = 5, /* the unit or address is outside the pool */
  UEPOOL_BAD_ARGUMENT = 6, /* a null pointer, a malformed address or lease, a buffer too small */
  UEPOOL_BAD_CONFIG = 7,   /* uepool_create*: the configuration or the options (error says which) */
  UEPOOL_BAD_FRAME = 8,    /* uepool_feed: the bytes are no frame of this member (counted; nothing changed) */
  UEPOOL_EMPTY = 9,        /* uepool_take: nothing to send now */
  UEPOOL_UNSUPPORTED = 10, /* the call does not apply (uepool_feed without external_transport, ...) */
  UEPOOL_STOPPED = 11,     /* the message loop stopped: the call did not run */
  UEPOOL_IO = 12,          /* the data folder, a key file, or the endpoint cannot be used */
  UEPOOL_FULL = 13,        /* uepool_feed: the message loop is not taking frames (is it running?) */
  UEPOOL_INTERNAL = 14     /* out of memory, or a failure the library did not expect */
} uepool_status;

/* uepool_status_name — "ok", "none_free", ... (never NULL). */
const char* uepool_status_name(int status);

/* uepool_lease — what the SMF stores with the PDU session and hands back to
 * uepool_release (at any member). Plain data: copy it, store its bytes, or
 * its text (uepool_lease_format). Fields are the member's business. */
typedef struct uepool_lease {
  uint32_t pool;
  uint32_t generation; /* the owner incarnation's generation */
  uint64_t unit;       /* which address or prefix of the pool */
  uint32_t window;
  uint8_t serial; /* which allocation of the unit (a stale release is refused) */
  uint8_t reserved[3];
  uint64_t claim; /* static claims */
  uint64_t nonce; /* the owner incarnation's nonce */
} uepool_lease;

/* uepool_address — an IPv4 address or an IPv6 prefix (network byte order). */
typedef struct uepool_address {
  uint8_t family;    /* 4 or 6 */
  uint8_t length;    /* prefix length: 32 for an IPv4 address, 64 for an IPv6 /64, 56 for a /56 delegation */
  uint8_t bytes[16]; /* IPv4 in bytes[0..3] */
} uepool_address;

/* uepool_read_held_fn — the session store (TS 29.598's UDSF, or the SMF's
 * own database): list the lease of every stored session, with
 * uepool_held_add, then return 1; return 0 when the store cannot be read
 * now (the member asks again later). uepool keeps the leases of the units
 * `member` owns under the plan it reads for (an older epoch's, when it takes
 * the blocks of a retired member), so listing every session is right;
 * listing only some must not leave out one of those units. Called on the
 * message thread, for the audit (leak repair), for a rebuild after every
 * replica was lost and for a retired member's blocks; it must not call into
 * uepool other than uepool_held_add. */
typedef int (*uepool_read_held_fn)(void* user, uint32_t member, uepool_held_list* list);

typedef struct uepool_options {
  const char* member;            /* this member's name in the configuration (required) */
  const char* data_dir;          /* an existing writable folder: the generation file lives there (required) */
  const char* secret_key;        /* Z85 CurveZMQ secret key; NULL: the member's secret_key_file */
  int fresh;                     /* 1: the set's very first start (ignored once a generation file exists) */
  int external_transport;        /* 1: the SMF moves the frames (uepool_take, uepool_feed); 0: built-in ZeroMQ */
  uepool_read_held_fn read_held; /* NULL: no audit, and no rebuild when replicas are lost */
  void* read_held_user;
} uepool_options;

uepool_options uepool_default_options(void);

/* uepool_create — a member from the configuration's YAML text (the format of
 * `uepool node`: docs/configuration.md). On failure *out is NULL and `error`
 * (if not NULL) holds a sentence naming what was wrong, with the line for a
 * configuration error. The member starts recovering at once; it answers
 * UEPOOL_NOT_READY until its peers acknowledged a window. */
uepool_status uepool_create(const char* config_yaml, const uepool_options* options, uepool_member** out, char* error,
                            size_t error_size);
/* uepool_create_from_file — the same, the YAML read from `path`. */
uepool_status uepool_create_from_file(const char* path, const uepool_options* options, uepool_member** out, char* error,
                                      size_t error_size);
/* uepool_destroy — stops the message loop if it runs and frees everything
 * (its workers too). NULL is ignored. No other call may be in flight. */
void uepool_destroy(uepool_member* u);

/* uepool_start — the message loop on a thread of the library's own.
 * UEPOOL_UNSUPPORTED if it already runs. */
uepool_status uepool_start(uepool_member* u);
/* uepool_step — without uepool_start: one round of the message loop (frames
 * that arrive within timeout_ms, the timers, what there is to send).
 * UEPOOL_UNSUPPORTED after uepool_start. */
uepool_status uepool_step(uepool_member* u, int timeout_ms);

/* uepool_feed — external transport: one message that arrived (a frame, or a
 * fragment of a larger one). UEPOOL_BAD_FRAME: corrupt, truncated or
 * addressed to another member (counted, nothing held is lost). Any thread. */
uepool_status uepool_feed(uepool_member* u, const uint8_t* bytes, size_t size);
/* uepool_take — external transport: the next message to send and the id of
 * the member it goes to. UEPOOL_EMPTY: none. UEPOOL_BAD_ARGUMENT: `capacity`
 * is too small; *size says how much is needed and the message stays. At most
 * 64 KiB. Any thread. */
uepool_status uepool_take(uepool_member* u, uint32_t* to_member, uint8_t* buffer, size_t capacity, size_t* size);

/* uepool_member_id — this member's id (the one uepool_take names peers by). */
uint32_t uepool_member_id(const uepool_member* u);
/* uepool_peer_id — the id of the member named `name` (0: none). */
uint32_t uepool_peer_id(const uepool_member* u, const char* name);
/* uepool_pool — the index of the pool named `name` (an Open5GS DNN's pool),
 * -1 if there is none. */
int uepool_pool(const uepool_member* u, const char* name);
/* uepool_pool_count — how many pools the configuration has. */
uint32_t uepool_pool_count(const uepool_member* u);

/* uepool_pool_info — one pool as this member sees it. */
typedef struct uepool_pool_info {
  uint64_t units;        /* the pool's size in units (addresses or prefixes) */
  uint64_t owned_units;  /* the units of the blocks this member owns */
  uint64_t in_use_units; /* of those, in use (held down and waiting out the repeat window included) */
  uint64_t static_units; /* units in the pool's static ranges (claimed, never allocated) */
  uepool_address prefix; /* the pool's prefix */
  uint8_t unit_length;   /* 32 for IPv4 addresses, 64 for IPv6 /64s, ... */
} uepool_pool_info;
uepool_status uepool_pool_get(uepool_member* u, uint32_t pool, uepool_pool_info* info);

/* uepool_worker_create — a worker for the calling thread (NULL: the message
 * loop stopped). */
uepool_worker* uepool_worker_create(uepool_member* u);

/* uepool_allocate — an address or prefix of `pool`, and its lease; `address`
 * may be NULL. UEPOOL_NONE_FREE, UEPOOL_NOT_READY, UEPOOL_NO_SUCH_POOL. */
uepool_status uepool_allocate(uepool_worker* w, uint32_t pool, uepool_lease* lease, uepool_address* address);
/* uepool_allocate_dual — one of each pool (a dual-stack PDU session), both or
 * neither. leases[2]; addresses[2] may be NULL. */
uepool_status uepool_allocate_dual(uepool_worker* w, uint32_t pool_a, uint32_t pool_b, uepool_lease leases[2],
                                   uepool_address addresses[2]);
/* uepool_claim — a static address (the UDM's, from the subscription), if it
 * is in a static range of `pool`. The owner applies it; a second claim of
 * one address waits for the first holder's release. */
uepool_status uepool_claim(uepool_worker* w, uint32_t pool, const uepool_address* address, uepool_lease* lease);
/* uepool_release — the session ended (at any member: the lease reaches the
 * owner). A stale or repeated release is refused by the owner and counted,
 * never frees the address under a later holder. */
uepool_status uepool_release(uepool_worker* w, const uepool_lease* lease);

/* uepool_lease_address — the address or prefix a lease names. */
uepool_status uepool_lease_address(const uepool_member* u, const uepool_lease* lease, uepool_address* address);
/* uepool_unit_address — the address or prefix of unit `unit` of `pool`;
 * uepool_address_unit — the other way, and whether the address is in a
 * static range of the pool (*is_static may be NULL). UEPOOL_OUT_OF_RANGE:
 * not a unit of the pool (outside it, or of another length). */
uepool_status uepool_unit_address(const uepool_member* u, uint32_t pool, uint64_t unit, uepool_address* address);
uepool_status uepool_address_unit(const uepool_member* u, uint32_t pool, const uepool_address* address, uint64_t* unit,
                                  int* is_static);
/* uepool_lease_format / uepool_lease_parse — a lease as text (the control
 * interface's LEASE token, at most 96 bytes with its NUL). */
uepool_status uepool_lease_format(const uepool_lease* lease, char* buffer, size_t capacity);
uepool_status uepool_lease_parse(const char* text, uepool_lease* lease);
/* uepool_address_format / uepool_address_parse — "10.45.0.7/32",
 * "2001:db8:0:1::/64" (at most 44 bytes with its NUL). */
uepool_status uepool_address_format(const uepool_address* address, char* buffer, size_t capacity);
uepool_status uepool_address_parse(const char* text, uepool_address* address);

/* uepool_held_add — in a uepool_read_held_fn: one session's lease. */
uepool_status uepool_held_add(uepool_held_list* list, const uepool_lease* lease);
/* uepool_audit — start an audit now (it reads the session store twice, an
 * audit grace apart, and frees what no session holds). UEPOOL_UNSUPPORTED
 * without read_held, or while one runs. */
uepool_status uepool_audit(uepool_member* u);

/* uepool_set_membership — the next membership epoch (re-division: from the
 * configuration or the NRF): every member of the set by id, with its
 * weight (0: a standby that owns nothing; a join gives one a weight, a
 * leave sets 0). The set's members are fixed. The member moves to it once
 * its earlier takings are acknowledged; uepool_stats says when it settled.
 * Weight UEPOOL_WEIGHT_RETIRED: the member is gone for good (its process
 * stopped, its host fenced; it must never run again): its blocks are taken
 * from the session store (read_held) without its handover, and every later
 * epoch must name it retired too.
 * UEPOOL_BAD_ARGUMENT, with `error` naming why: an older epoch, other
 * members, every weight 0, another plan for a known epoch, a retired member
 * brought back, too many retired (fewer than A peers left). */
#define UEPOOL_WEIGHT_RETIRED UINT32_MAX
uepool_status uepool_set_membership(uepool_member* u, uint64_t epoch, const uint32_t* member_ids,
                                    const uint32_t* weights, size_t count, char* error, size_t error_size);

typedef enum uepool_phase {
  UEPOOL_PHASE_QUERYING_GENERATION = 0,
  UEPOOL_PHASE_RECOVERING = 1,
  UEPOOL_PHASE_REBUILDING = 2,
  UEPOOL_PHASE_READY = 3,
  UEPOOL_PHASE_SUPERSEDED = 4, /* a newer incarnation of this member runs: destroy this one */
  UEPOOL_PHASE_RETIRED = 5     /* a membership epoch retired this member: destroy it, never restart it */
} uepool_phase;

/* uepool_stats — a snapshot of the member's counters (the metrics of
 * docs/metrics.md, summed over pools). */
typedef struct uepool_stats {
  uint32_t phase; /* uepool_phase */
  uint32_t generation;
  uint64_t owned_units;
  uint64_t in_use_units;
  uint64_t held_down_units;
  uint64_t quarantined_units;
  uint64_t wrap_held_units; /* a unit whose allocation serial wrapped waits out the release repeat window */
  uint32_t peers;
  uint32_t peers_acking; /* peers holding a complete replica of this incarnation */
  uint64_t releases_forwarded;
  uint64_t releases_received;
  uint64_t releases_applied;
  uint64_t stale_releases;
  uint64_t double_releases;
  uint64_t audits;
  uint64_t audit_freed;
  uint64_t rebuilds;
  uint64_t frames_sent;
  uint64_t frames_received;
  uint64_t bad_frames;   /* decode errors, impostors and frames for another member */
  uint64_t epoch;        /* the membership epoch this member is in */
  uint64_t target_epoch; /* the newest it was given */
  uint32_t settled;      /* 1: at target_epoch, every gained block taken, its marks acknowledged */
  uint64_t blocks_moved; /* blocks taken from their previous owner */
  uint64_t blocks_lost;  /* blocks handed to their next owner */
} uepool_stats;

uepool_status uepool_stats_get(uepool_member* u, uepool_stats* stats);
/* uepool_not_ready_reason — why the member is not ready ("" when it is). */
uepool_status uepool_not_ready_reason(uepool_member* u, char* buffer, size_t capacity);

/* NOLINTEND(readability-identifier-naming) */

#ifdef __cplusplus
}
#endif

#endif /* UEPOOL_UEPOOL_H */
