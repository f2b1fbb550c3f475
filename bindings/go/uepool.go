// Package uepool is the Go binding of uepool's C API (uepool/uepool.h,
// libuepool.so): one member of a 5G SMF set that allocates UE IPv4
// addresses and IPv6 prefixes without conflicts across the set.
//
//	m, err := uepool.NewFromFile("uepool.yaml", uepool.Options{Member: "smf1", DataDir: "/var/lib/uepool"})
//	defer m.Close()
//	m.Start()                                  // the message loop on the library's thread
//	w, _ := m.NewWorker()                      // one per goroutine that allocates
//	lease, addr, err := w.Allocate(0)          // err is ErrNotReady until peers acknowledged a window
//	w.Release(lease)                           // at any member of the set
//
// Pool (pool.go) has the method set of free5GC's pool.LazyReusePool, so that
// free5GC's SMF can allocate from the set through it.
//
// Build: cgo needs the header and the library, from an installed tree
// (pkg-config uepool) or a build tree:
//
//	CGO_CFLAGS=-I$SRC/engine/include CGO_LDFLAGS="-L$BUILD/engine -Wl,-rpath,$BUILD/engine" go test
package uepool

/*
#cgo LDFLAGS: -luepool
#include <stdlib.h>
#include "uepool/uepool.h"
extern int uepoolGoReadHeld(void* user, uint32_t member, uepool_held_list* list);
*/
import "C"

import (
	"fmt"
	"net/netip"
	"runtime/cgo"
	"time"
	"unsafe"
)

// Status is a C API status code; every error this package returns for a
// failed call is one (errors.Is(err, uepool.ErrNotReady) ...).
type Status int

func (s Status) Error() string { return C.GoString(C.uepool_status_name(C.int(s))) }

// The statuses a caller acts on.
var (
	ErrNoneFree    error = Status(C.UEPOOL_NONE_FREE)
	ErrNotReady    error = Status(C.UEPOOL_NOT_READY)
	ErrNoSuchPool  error = Status(C.UEPOOL_NO_SUCH_POOL)
	ErrNotStatic   error = Status(C.UEPOOL_NOT_STATIC)
	ErrOutOfRange  error = Status(C.UEPOOL_OUT_OF_RANGE)
	ErrBadArgument error = Status(C.UEPOOL_BAD_ARGUMENT)
	ErrBadFrame    error = Status(C.UEPOOL_BAD_FRAME)
	ErrStopped     error = Status(C.UEPOOL_STOPPED)
	ErrUnsupported error = Status(C.UEPOOL_UNSUPPORTED)
)

func check(s C.uepool_status) error {
	if s == C.UEPOOL_OK {
		return nil
	}
	return Status(s)
}

// Options are uepool_options: which member of the configuration this is.
type Options struct {
	Member            string // its name in the configuration (required)
	DataDir           string // an existing writable folder for the generation file (required)
	SecretKey         string // Z85 CurveZMQ secret key; "": the member's secret_key_file
	Fresh             bool   // the set's very first start
	ExternalTransport bool   // the caller moves the frames (Take, Feed); false: the built-in ZeroMQ
	// Store is the session store (nil: no audit, and a member whose
	// replicas are lost waits for an operator instead of rebuilding).
	Store SessionStore
}

// Member is one member of the set (uepool_member).
type Member struct {
	c     *C.uepool_member
	store cgo.Handle     // the SessionStore's handle (0: none)
	user  unsafe.Pointer // C memory holding it: the read_held callback's user pointer
}

// New makes a member from the configuration's YAML text.
func New(configYAML string, o Options) (*Member, error) {
	text := C.CString(configYAML)
	defer C.free(unsafe.Pointer(text))
	return create(func(opts *C.uepool_options, out **C.uepool_member, e *C.char, n C.size_t) C.uepool_status {
		return C.uepool_create(text, opts, out, e, n)
	}, o)
}

// NewFromFile makes a member from a configuration file.
func NewFromFile(path string, o Options) (*Member, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	return create(func(opts *C.uepool_options, out **C.uepool_member, e *C.char, n C.size_t) C.uepool_status {
		return C.uepool_create_from_file(p, opts, out, e, n)
	}, o)
}

func create(call func(*C.uepool_options, **C.uepool_member, *C.char, C.size_t) C.uepool_status,
	o Options) (*Member, error) {
	opts := C.uepool_default_options()
	member, dir := C.CString(o.Member), C.CString(o.DataDir)
	defer C.free(unsafe.Pointer(member))
	defer C.free(unsafe.Pointer(dir))
	opts.member, opts.data_dir = member, dir
	if o.SecretKey != "" {
		key := C.CString(o.SecretKey)
		defer C.free(unsafe.Pointer(key))
		opts.secret_key = key
	}
	if o.Fresh {
		opts.fresh = 1
	}
	if o.ExternalTransport {
		opts.external_transport = 1
	}
	member0 := &Member{}
	if o.Store != nil {
		member0.store = cgo.NewHandle(o.Store)
		member0.user = C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0))))
		*(*C.uintptr_t)(member0.user) = C.uintptr_t(member0.store)
		opts.read_held = C.uepool_read_held_fn(C.uepoolGoReadHeld)
		opts.read_held_user = member0.user
	}
	var errText [512]C.char
	var m *C.uepool_member
	if s := call(&opts, &m, &errText[0], C.size_t(len(errText))); s != C.UEPOOL_OK {
		member0.free()
		return nil, fmt.Errorf("uepool: %w: %s", Status(s), C.GoString(&errText[0]))
	}
	member0.c = m
	return member0, nil
}

// free releases the session store's handle and its C memory.
func (m *Member) free() {
	if m.user != nil {
		C.free(m.user)
		m.user = nil
		m.store.Delete()
	}
}

// Audit starts an audit now: the member reads its session store twice, an
// audit grace apart, and frees the units no stored session holds
// (ErrUnsupported without a Store, or while one runs).
func (m *Member) Audit() error { return check(C.uepool_audit(m.c)) }

// Close stops the message loop and frees the member and its workers.
func (m *Member) Close() {
	if m.c != nil {
		C.uepool_destroy(m.c)
		m.c = nil
	}
	m.free()
}

// Start runs the message loop on a thread of the library's own.
func (m *Member) Start() error { return check(C.uepool_start(m.c)) }

// Step is one round of the message loop, for a caller that runs it itself.
func (m *Member) Step(timeout time.Duration) error {
	return check(C.uepool_step(m.c, C.int(timeout.Milliseconds())))
}

// Feed hands the member a message that arrived (external transport).
func (m *Member) Feed(msg []byte) error {
	if len(msg) == 0 {
		return ErrBadFrame
	}
	return check(C.uepool_feed(m.c, (*C.uint8_t)(unsafe.Pointer(&msg[0])), C.size_t(len(msg))))
}

// Take gives the next message to send and the id of the member it goes to
// (external transport); ok is false when there is none.
func (m *Member) Take(buf []byte) (to uint32, msg []byte, ok bool, err error) {
	var id C.uint32_t
	var size C.size_t
	var p *C.uint8_t
	if len(buf) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&buf[0]))
	}
	s := C.uepool_take(m.c, &id, p, C.size_t(len(buf)), &size)
	switch s {
	case C.UEPOOL_OK:
		return uint32(id), buf[:size], true, nil
	case C.UEPOOL_EMPTY:
		return 0, nil, false, nil
	}
	return 0, nil, false, fmt.Errorf("uepool: take (%d bytes needed): %w", int(size), Status(s))
}

// ID is this member's id; PeerID the id of the member named name (0: none).
func (m *Member) ID() uint32 { return uint32(C.uepool_member_id(m.c)) }
func (m *Member) PeerID(name string) uint32 {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return uint32(C.uepool_peer_id(m.c, n))
}

// PoolIndex is the index of the pool named name (an Open5GS or free5GC DNN's pool).
func (m *Member) PoolIndex(name string) (int, bool) {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	i := int(C.uepool_pool(m.c, n))
	return i, i >= 0
}

// PoolInfo is uepool_pool_info.
type PoolInfo struct {
	Units, OwnedUnits, InUseUnits, StaticUnits uint64
	Prefix                                     netip.Prefix
	UnitLength                                 int
}

// PoolInfo describes pool index as this member sees it.
func (m *Member) PoolInfo(index int) (PoolInfo, error) {
	var c C.uepool_pool_info
	if err := check(C.uepool_pool_get(m.c, C.uint32_t(index), &c)); err != nil {
		return PoolInfo{}, err
	}
	return PoolInfo{uint64(c.units), uint64(c.owned_units), uint64(c.in_use_units), uint64(c.static_units),
		toPrefix(&c.prefix), int(c.unit_length)}, nil
}

// UnitAddress is the address or prefix of unit `unit` of pool.
func (m *Member) UnitAddress(pool int, unit uint64) (netip.Prefix, error) {
	var a C.uepool_address
	if err := check(C.uepool_unit_address(m.c, C.uint32_t(pool), C.uint64_t(unit), &a)); err != nil {
		return netip.Prefix{}, err
	}
	return toPrefix(&a), nil
}

// AddressUnit is the unit of pool that p is, and whether it is static.
func (m *Member) AddressUnit(pool int, p netip.Prefix) (unit uint64, static bool, err error) {
	a, err := fromPrefix(p)
	if err != nil {
		return 0, false, err
	}
	var u C.uint64_t
	var s C.int
	if err := check(C.uepool_address_unit(m.c, C.uint32_t(pool), &a, &u, &s)); err != nil {
		return 0, false, err
	}
	return uint64(u), s != 0, nil
}

// Stats is uepool_stats.
type Stats struct {
	Phase, Generation                                                      uint32
	OwnedUnits, InUseUnits, HeldDownUnits, QuarantinedUnits, WrapHeldUnits uint64
	Peers, PeersAcking                                                     uint32
	ReleasesForwarded, ReleasesReceived, ReleasesApplied                   uint64
	StaleReleases, DoubleReleases, Audits, AuditFreed, Rebuilds            uint64
	FramesSent, FramesReceived, BadFrames                                  uint64
	Epoch, TargetEpoch                                                     uint64 // membership epochs (re-division)
	Settled                                                                bool   // at TargetEpoch, every gained block taken
	BlocksMoved, BlocksLost                                                uint64
}

// PhaseReady is Stats.Phase of a member that serves allocations.
const PhaseReady = uint32(C.UEPOOL_PHASE_READY)

// Stats is a snapshot of the member's counters.
func (m *Member) Stats() (Stats, error) {
	var c C.uepool_stats
	if err := check(C.uepool_stats_get(m.c, &c)); err != nil {
		return Stats{}, err
	}
	return Stats{uint32(c.phase), uint32(c.generation), uint64(c.owned_units), uint64(c.in_use_units),
		uint64(c.held_down_units), uint64(c.quarantined_units), uint64(c.wrap_held_units), uint32(c.peers),
		uint32(c.peers_acking), uint64(c.releases_forwarded), uint64(c.releases_received),
		uint64(c.releases_applied), uint64(c.stale_releases), uint64(c.double_releases), uint64(c.audits),
		uint64(c.audit_freed), uint64(c.rebuilds), uint64(c.frames_sent), uint64(c.frames_received),
		uint64(c.bad_frames), uint64(c.epoch), uint64(c.target_epoch), c.settled != 0, uint64(c.blocks_moved),
		uint64(c.blocks_lost)}, nil
}

// WeightRetired, as a member's weight in SetMembership: the member is gone
// for good (stopped, never to run again); its blocks are taken from the
// session store without its handover, and later epochs must name it retired too.
const WeightRetired = ^uint32(0)

// SetMembership gives the member the next membership epoch: every member of
// the set by id, with its weight (0: a standby; a join gives one a weight,
// a leave sets 0; WeightRetired: gone for good). The set's members are
// fixed. Stats().Settled says when the blocks have moved.
func (m *Member) SetMembership(epoch uint64, weights map[uint32]uint32) error {
	ids := make([]C.uint32_t, 0, len(weights))
	ws := make([]C.uint32_t, 0, len(weights))
	for id, w := range weights {
		ids = append(ids, C.uint32_t(id))
		ws = append(ws, C.uint32_t(w))
	}
	if len(ids) == 0 {
		return fmt.Errorf("uepool: %w: no members", ErrBadArgument)
	}
	var errText [512]C.char
	if s := C.uepool_set_membership(m.c, C.uint64_t(epoch), &ids[0], &ws[0], C.size_t(len(ids)), &errText[0],
		C.size_t(len(errText))); s != C.UEPOOL_OK {
		return fmt.Errorf("uepool: %w: %s", Status(s), C.GoString(&errText[0]))
	}
	return nil
}

// Lease is what the SMF stores with the session and hands to Release.
type Lease struct {
	c C.uepool_lease
}

// Pool and Unit say which pool and which of its units the lease holds.
func (l Lease) Pool() int    { return int(l.c.pool) }
func (l Lease) Unit() uint64 { return uint64(l.c.unit) }

// String is the lease as text (the control interface's LEASE token).
func (l Lease) String() string {
	var buf [96]C.char
	if C.uepool_lease_format(&l.c, &buf[0], C.size_t(len(buf))) != C.UEPOOL_OK {
		return "?"
	}
	return C.GoString(&buf[0])
}

// ParseLease reads a lease written by Lease.String.
func ParseLease(text string) (Lease, error) {
	t := C.CString(text)
	defer C.free(unsafe.Pointer(t))
	var l Lease
	if err := check(C.uepool_lease_parse(t, &l.c)); err != nil {
		return Lease{}, fmt.Errorf("uepool: lease %q: %w", text, err)
	}
	return l, nil
}

// Worker is a goroutine's access to the hot path (uepool_worker). It is not
// safe for concurrent use: one per goroutine, or behind a lock.
type Worker struct {
	m *Member
	c *C.uepool_worker
}

// NewWorker makes a worker (it lives as long as the member).
func (m *Member) NewWorker() (*Worker, error) {
	w := C.uepool_worker_create(m.c)
	if w == nil {
		return nil, ErrStopped
	}
	return &Worker{m: m, c: w}, nil
}

// Allocate is an address or prefix of pool, and its lease.
func (w *Worker) Allocate(pool int) (Lease, netip.Prefix, error) {
	var l Lease
	var a C.uepool_address
	if err := check(C.uepool_allocate(w.c, C.uint32_t(pool), &l.c, &a)); err != nil {
		return Lease{}, netip.Prefix{}, err
	}
	return l, toPrefix(&a), nil
}

// AllocateDual is one of each pool (a dual-stack PDU session): both or neither.
func (w *Worker) AllocateDual(a, b int) ([2]Lease, [2]netip.Prefix, error) {
	var cl [2]C.uepool_lease
	var ca [2]C.uepool_address
	if err := check(C.uepool_allocate_dual(w.c, C.uint32_t(a), C.uint32_t(b), &cl[0], &ca[0])); err != nil {
		return [2]Lease{}, [2]netip.Prefix{}, err
	}
	return [2]Lease{{cl[0]}, {cl[1]}}, [2]netip.Prefix{toPrefix(&ca[0]), toPrefix(&ca[1])}, nil
}

// Claim takes a static address (the UDM's) of pool.
func (w *Worker) Claim(pool int, p netip.Prefix) (Lease, error) {
	a, err := fromPrefix(p)
	if err != nil {
		return Lease{}, err
	}
	var l Lease
	if err := check(C.uepool_claim(w.c, C.uint32_t(pool), &a, &l.c)); err != nil {
		return Lease{}, err
	}
	return l, nil
}

// Release ends the lease's allocation (at any member).
func (w *Worker) Release(l Lease) error { return check(C.uepool_release(w.c, &l.c)) }

func toPrefix(a *C.uepool_address) netip.Prefix {
	var ip netip.Addr
	if a.family == 4 {
		ip = netip.AddrFrom4([4]byte{byte(a.bytes[0]), byte(a.bytes[1]), byte(a.bytes[2]), byte(a.bytes[3])})
	} else {
		var b [16]byte
		for i := range b {
			b[i] = byte(a.bytes[i])
		}
		ip = netip.AddrFrom16(b)
	}
	return netip.PrefixFrom(ip, int(a.length))
}

func fromPrefix(p netip.Prefix) (C.uepool_address, error) {
	var a C.uepool_address
	if !p.IsValid() {
		return a, fmt.Errorf("uepool: %w: an invalid prefix", ErrBadArgument)
	}
	a.length = C.uint8_t(p.Bits())
	if p.Addr().Is4() {
		a.family = 4
		b := p.Addr().As4()
		for i := range b {
			a.bytes[i] = C.uint8_t(b[i])
		}
	} else {
		a.family = 6
		b := p.Addr().As16()
		for i := range b {
			a.bytes[i] = C.uint8_t(b[i])
		}
	}
	return a, nil
}
