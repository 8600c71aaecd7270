package memfallback

import (
	"testing"
	"unsafe"
)

// A key's state is what a store holds per key, up to MaxKeys of them: it
// is kept to 80 bytes, one of the allocator's size classes (see entry).
func TestKeyStateFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(keyState{}); n > 80 {
		t.Errorf("keyState takes %d bytes, more than 80", n)
	}
}
