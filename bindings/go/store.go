package uepool

/*
#include <stdint.h>
#include "uepool/uepool.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// SessionStore is the session store the audit and the rebuild read
// (uepool_read_held_fn: the set's UDSF, or the SMF's own database). ReadHeld
// hands every stored session's lease to add (uepool keeps those of the
// units member `member` owns under the plan it reads for), and returns
// true; false when the store cannot be read now (the member asks again
// later). It is called on the member's message thread.
type SessionStore interface {
	ReadHeld(member uint32, add func(Lease)) bool
}

// uepoolGoReadHeld is the uepool_read_held_fn the binding gives the C API:
// `user` points at the cgo.Handle of the member's SessionStore.
//
//export uepoolGoReadHeld
func uepoolGoReadHeld(user unsafe.Pointer, member C.uint32_t, list *C.uepool_held_list) C.int {
	store, ok := cgo.Handle(*(*C.uintptr_t)(user)).Value().(SessionStore)
	if !ok {
		return 0
	}
	if !store.ReadHeld(uint32(member), func(l Lease) { C.uepool_held_add(list, &l.c) }) {
		return 0
	}
	return 1
}
