package uepool

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lazyReusePool is the method set of free5GC's pool.LazyReusePool
// (smf/internal/context/pool/lazyReusePool.go): Pool must have it.
type lazyReusePool interface {
	Allocate() (int, bool)
	Use(value int) bool
	Free(value int) bool
	Reserve(first, last int) error
	Contains(first, last int) bool
	Min() int
	Max() int
	Remain() int
	Total() int
}

var _ lazyReusePool = (*Pool)(nil)

const config = `epoch: 1
lease_ms: 1000
curve: false
pools:
  - {name: internet, prefix: 10.60.0.0/20, unit_length: 32, block_units: 64, static: [10.60.15.0/24]}
  - {name: internet6, prefix: "2001:db8:60::/52", unit_length: 64, block_units: 64}
members:
  - {name: smf1, id: 1, endpoint: "tcp://127.0.0.1:1"}
  - {name: smf2, id: 2, endpoint: "tcp://127.0.0.1:2"}
  - {name: smf3, id: 3, endpoint: "tcp://127.0.0.1:3"}
`

// set is three members whose network is the test (external transport).
type set struct {
	t   *testing.T
	m   [3]*Member
	buf []byte
}

func newSet(t *testing.T) *set {
	s := &set{t: t, buf: make([]byte, 64*1024)}
	dir := t.TempDir()
	for i := range s.m {
		name := fmt.Sprintf("smf%d", i+1)
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		m, err := New(config, Options{Member: name, DataDir: d, Fresh: true, ExternalTransport: true})
		if err != nil {
			t.Fatal(err)
		}
		s.m[i] = m
		t.Cleanup(m.Close)
	}
	return s
}

func (s *set) round() {
	for _, m := range s.m {
		if err := m.Step(0); err != nil {
			s.t.Fatal(err)
		}
	}
	for _, m := range s.m {
		for {
			to, msg, ok, err := m.Take(s.buf)
			if err != nil {
				s.t.Fatal(err)
			}
			if !ok {
				break
			}
			if err := s.m[to-1].Feed(msg); err != nil {
				s.t.Fatalf("smf%d refused a message: %v", to, err)
			}
		}
	}
}

func (s *set) until(what string, done func() bool) {
	for i := 0; i < 5000; i++ {
		if done() {
			return
		}
		s.round()
		time.Sleep(time.Millisecond)
	}
	if !done() {
		s.t.Fatalf("not within 5 s: %s", what)
	}
}

// allocate — n leases of pool 0 from w, running rounds while it is not ready.
func (s *set) allocate(w *Worker, n int) []Lease {
	var leases []Lease
	for len(leases) < n {
		l, _, err := w.Allocate(0)
		if errors.Is(err, ErrNotReady) {
			s.round()
			continue
		}
		if err != nil {
			s.t.Fatal(err)
		}
		leases = append(leases, l)
	}
	return leases
}

func (s *set) ready() {
	s.until("every member ready", func() bool {
		for _, m := range s.m {
			st, err := m.Stats()
			if err != nil || st.Phase != PhaseReady {
				return false
			}
		}
		return true
	})
}

func TestNewRefusesBadInputNamingWhatWasWrong(t *testing.T) {
	_, err := New(config, Options{Member: "smf9", DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no member named 'smf9'") {
		t.Fatalf("unknown member: %v", err)
	}
	_, err = New("epoch: 1\npools:\n  - {name: v4, prefix: 10.0.0.0/33}\n", Options{Member: "smf1", DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad prefix: %v", err)
	}
	_, err = NewFromFile("/nonexistent.yaml", Options{Member: "smf1", DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWorkersAllocateReleaseAndClaimAcrossTheSet(t *testing.T) {
	s := newSet(t)
	s.ready()
	if s.m[1].ID() != 2 || s.m[0].PeerID("smf3") != 3 {
		t.Fatal("ids")
	}
	v6, ok := s.m[0].PoolIndex("internet6")
	if !ok || v6 != 1 {
		t.Fatal("pool index")
	}
	w1, _ := s.m[0].NewWorker()
	w2, _ := s.m[1].NewWorker()
	var leases [2]Lease
	var addrs [2]netip.Prefix
	var err error
	s.until("a dual-stack allocation", func() bool {
		leases, addrs, err = w1.AllocateDual(0, 1)
		return !errors.Is(err, ErrNotReady)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !netip.MustParsePrefix("10.60.0.0/20").Contains(addrs[0].Addr()) || addrs[0].Bits() != 32 ||
		!netip.MustParsePrefix("2001:db8:60::/52").Contains(addrs[1].Addr()) || addrs[1].Bits() != 64 {
		t.Fatalf("addresses %v", addrs)
	}
	back, err := ParseLease(leases[0].String())
	if err != nil || back != leases[0] {
		t.Fatalf("lease text: %v %v", back, err)
	}
	if _, err := ParseLease("1.2"); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("bad lease text: %v", err)
	}
	// Released at another member: the release travels to the owner.
	for _, l := range leases {
		if err := w2.Release(l); err != nil {
			t.Fatal(err)
		}
	}
	s.until("both units free at the owner", func() bool {
		st, _ := s.m[0].Stats()
		return st.ReleasesReceived == 2 && st.InUseUnits == st.WrapHeldUnits
	})
	if _, err := w1.Claim(0, netip.MustParsePrefix("10.60.0.9/32")); !errors.Is(err, ErrNotStatic) {
		t.Fatalf("a dynamic address claimed: %v", err)
	}
	if _, err := w1.Claim(0, netip.MustParsePrefix("10.60.15.9/32")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w1.Allocate(7); !errors.Is(err, ErrNoSuchPool) {
		t.Fatalf("pool 7: %v", err)
	}
	if err := s.m[0].Feed([]byte("not a frame at all, but long enough to look like one")); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("garbage fed: %v", err)
	}
}

func TestPoolHasLazyReusePoolsBehaviour(t *testing.T) {
	s := newSet(t)
	s.ready()
	const min = 1 // free5GC's UE IP pool: offsets from the subnet's first address
	p, err := s.m[0].NewPool("internet", min)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.m[0].NewPool("internet9", 0); !errors.Is(err, ErrNoSuchPool) {
		t.Fatalf("no such pool: %v", err)
	}
	if p.Min() != 1 || p.Max() != 4096 || p.Total() != 4096 {
		t.Fatalf("min %d max %d total %d", p.Min(), p.Max(), p.Total())
	}
	if !p.Contains(1, 4096) || p.Contains(0, 5) || p.Contains(5, 4) || p.Contains(4000, 4097) {
		t.Fatal("Contains")
	}
	remain := p.Remain()
	if remain <= 0 || remain >= p.Total() {
		t.Fatalf("remain %d: this member's share of the pool", remain)
	}
	var v int
	s.until("an allocation", func() bool {
		var ok bool
		v, ok = p.Allocate()
		return ok
	})
	seen := map[int]bool{v: true}
	for i := 0; i < 200; i++ {
		x, ok := p.Allocate()
		for k := 0; !ok && k < 100; k++ { // a window on its way
			s.round()
			x, ok = p.Allocate()
		}
		if !ok || seen[x] || !p.Contains(x, x) {
			t.Fatalf("allocation %d: %d %v (seen %v)", i, x, ok, seen[x])
		}
		seen[x] = true
	}
	s.round()
	if p.Remain() != remain-201 {
		t.Fatalf("remain %d after 201 allocations from %d", p.Remain(), remain)
	}
	if !p.Free(v) || p.Free(v) {
		t.Fatal("Free, then a double free")
	}
	if p.Free(0) || p.Free(5000) {
		t.Fatal("a value outside the pool freed")
	}
	// Use: only a static value (10.60.15.0/24 is offsets 3840..4095, values 3841..4096).
	if p.Use(2) {
		t.Fatal("Use of a dynamic value")
	}
	if !p.Use(3841+7) || p.Use(3841+7) {
		t.Fatal("Use of a static value, then again")
	}
	if !p.Free(3841 + 7) {
		t.Fatal("Free of a used value")
	}
	if err := p.Reserve(3841, 4096); err != nil {
		t.Fatalf("reserving the static range: %v", err)
	}
	if err := p.Reserve(100, 200); err == nil || !strings.Contains(err.Error(), "static range") {
		t.Fatalf("reserving dynamic values: %v", err)
	}
	if err := p.Reserve(0, 10); err == nil {
		t.Fatal("reserving outside the pool")
	}
}

// A member leaves (weight 0) and a standby-to-be rejoins: blocks move, the
// sessions stay, and bad input names what was wrong.
func TestSetMembershipMovesBlocks(t *testing.T) {
	s := newSet(t)
	s.ready()
	w, err := s.m[2].NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	leases := s.allocate(w, 10)
	if err := s.m[0].SetMembership(2, map[uint32]uint32{1: 1, 2: 1, 9: 1}); err == nil ||
		!strings.Contains(err.Error(), "other members") {
		t.Fatalf("a plan naming another member: %v", err)
	}
	for _, m := range s.m {
		if err := m.SetMembership(2, map[uint32]uint32{1: 1, 2: 1, 3: 0}); err != nil {
			t.Fatal(err)
		}
	}
	s.until("every member settled at epoch 2", func() bool {
		for _, m := range s.m {
			st, err := m.Stats()
			if err != nil || !st.Settled || st.Epoch != 2 {
				return false
			}
		}
		return true
	})
	st0, _ := s.m[0].Stats()
	st1, _ := s.m[1].Stats()
	st2, _ := s.m[2].Stats()
	if st2.OwnedUnits != 0 || st2.BlocksLost == 0 || st0.BlocksMoved+st1.BlocksMoved != st2.BlocksLost {
		t.Fatalf("the leaver's blocks: lost %d, taken %d + %d, still owns %d", st2.BlocksLost, st0.BlocksMoved,
			st1.BlocksMoved, st2.OwnedUnits)
	}
	if st0.InUseUnits+st1.InUseUnits < uint64(len(leases)) {
		t.Fatalf("%d sessions, %d units in use at the new owners", len(leases), st0.InUseUnits+st1.InUseUnits)
	}
	if _, _, err := w.Allocate(0); !errors.Is(err, ErrNoneFree) {
		t.Fatalf("the leaver allocates: %v", err)
	}
}

// heldStore is a session store: the leases the test's sessions hold.
type heldStore struct {
	mu    sync.Mutex
	held  map[string]Lease
	reads int
}

func (h *heldStore) ReadHeld(member uint32, add func(Lease)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	for _, l := range h.held {
		add(l) // the member keeps the leases of its own units
	}
	return true
}

// The audit through a Go session store: a unit whose session ended without
// its release reaching the owner (a leak) is freed; the held ones stay.
func TestTheAuditReadsAGoSessionStore(t *testing.T) {
	dir := t.TempDir()
	store := &heldStore{held: map[string]Lease{}}
	cfg := strings.Replace(config, "lease_ms: 1000", "lease_ms: 1000\naudit_grace_ms: 1", 1)
	s := &set{t: t, buf: make([]byte, 64*1024)}
	for i := range s.m {
		name := fmt.Sprintf("smf%d", i+1)
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		m, err := New(cfg, Options{Member: name, DataDir: d, Fresh: true, ExternalTransport: true, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		s.m[i] = m
		t.Cleanup(m.Close)
	}
	s.ready()
	w, err := s.m[0].NewWorker()
	if err != nil {
		t.Fatal(err)
	}
	leases := s.allocate(w, 3)
	store.mu.Lock()
	store.held[leases[0].String()] = leases[0]
	store.held[leases[1].String()] = leases[1] // leases[2]: its session ended, its release was lost
	store.mu.Unlock()
	if err := s.m[0].Audit(); err != nil {
		t.Fatal(err)
	}
	s.until("the audit freed the leaked unit", func() bool {
		st, err := s.m[0].Stats()
		return err == nil && st.Audits >= 1 && st.AuditFreed == 1
	})
	store.mu.Lock()
	reads := store.reads
	store.mu.Unlock()
	if reads < 2 {
		t.Fatalf("the store was read %d times (two reads, a grace apart)", reads)
	}
	// A member made with a store that fails to start frees the store's handle (no leak, no crash).
	if _, err := NewFromFile(filepath.Join(dir, "missing.yaml"), Options{Member: "smf1", DataDir: dir, Store: store}); err == nil {
		t.Fatal("a missing configuration file was accepted")
	}
	// Without a store there is no audit.
	plain, err := New(config, Options{Member: "smf1", DataDir: t.TempDir(), ExternalTransport: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Audit(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("an audit without a store: %v", err)
	}
}
