package uepool

import (
	"fmt"
	"sync"
)

// Pool is one pool of a Member with the method set of free5GC's
// pool.LazyReusePool (smf/internal/context/pool/lazyReusePool.go):
// Allocate, Use, Free, Reserve, Contains, Min, Max, Remain, Total. free5GC's
// UE IP pool keeps a LazyReusePool of offsets from its subnet's first
// address; a Pool made with min = that first offset hands out the same
// values, drawn from this member's blocks of the set-wide pool, so that no
// other SMF of the set holds them.
//
// Values are min + the unit's index in the pool (an IPv4 address's offset,
// or an IPv6 prefix's). The Pool keeps each value's lease (Free takes only
// the value): an SMF that restarts and takes sessions over keeps the
// leases with its sessions instead and releases through a Worker.
//
// Safe for concurrent use (a mutex around the value map and the Pool's one
// worker: the hot path's cost is the lock, not uepool).
type Pool struct {
	m     *Member
	index int
	min   int
	total int
	mu    sync.Mutex // guards w and leases
	w     *Worker
	held  map[int]Lease
}

// NewPool is pool `name` of the member, its values starting at min.
func (m *Member) NewPool(name string, min int) (*Pool, error) {
	i, ok := m.PoolIndex(name)
	if !ok {
		return nil, fmt.Errorf("uepool: no pool named %q: %w", name, ErrNoSuchPool)
	}
	info, err := m.PoolInfo(i)
	if err != nil {
		return nil, err
	}
	w, err := m.NewWorker()
	if err != nil {
		return nil, err
	}
	return &Pool{m: m, index: i, min: min, total: int(info.Units), w: w, held: map[int]Lease{}}, nil
}

// Allocate is a free value of this member's blocks (false: none free, or the
// member is not ready yet).
func (p *Pool) Allocate() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, _, err := p.w.Allocate(p.index)
	if err != nil {
		return 0, false
	}
	v := p.min + int(l.Unit())
	p.held[v] = l
	return v, true
}

// Use takes a given value: a static address (the UDM's), which uepool hands
// out only by claim. false: not in a static range, or taken already here.
func (p *Pool) Use(value int) bool {
	if !p.Contains(value, value) {
		return false
	}
	addr, err := p.m.UnitAddress(p.index, uint64(value-p.min))
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.held[value]; taken {
		return false
	}
	l, err := p.w.Claim(p.index, addr)
	if err != nil {
		return false
	}
	p.held[value] = l
	return true
}

// Free ends the allocation of value. false: a value outside the pool, or
// one this Pool does not hold (a double free).
func (p *Pool) Free(value int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.held[value]
	if !ok {
		return false
	}
	delete(p.held, value)
	return p.w.Release(l) == nil
}

// Reserve keeps [first, last] out of dynamic allocation. In uepool that is
// the configuration's static ranges (every SMF of the set must agree on
// them): a range inside them is accepted, any other refused with the reason.
func (p *Pool) Reserve(first, last int) error {
	if !p.Contains(first, last) {
		return fmt.Errorf("reserve range should be in [%d, %d]", p.Min(), p.Max())
	}
	for v := first; v <= last; v++ {
		addr, err := p.m.UnitAddress(p.index, uint64(v-p.min))
		if err != nil {
			return err
		}
		if _, static, err := p.m.AddressUnit(p.index, addr); err != nil || !static {
			return fmt.Errorf("uepool: value %d (%s) is not in a static range of the configuration; "+
				"reserve ranges there, for the whole set", v, addr)
		}
	}
	return nil
}

// Contains says whether [first, last] lies in the pool's values.
func (p *Pool) Contains(first, last int) bool {
	return first <= last && p.Min() <= first && last <= p.Max()
}

// Min and Max are the pool's first and last values; Total their count.
func (p *Pool) Min() int   { return p.min }
func (p *Pool) Max() int   { return p.min + p.total - 1 }
func (p *Pool) Total() int { return p.total }

// Remain is how many values this member can still hand out: the free units
// of the blocks it owns (the rest of the pool belongs to other SMFs).
func (p *Pool) Remain() int {
	info, err := p.m.PoolInfo(p.index)
	if err != nil {
		return 0
	}
	return int(info.OwnedUnits - info.InUseUnits)
}
