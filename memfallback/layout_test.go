package memfallback

import (
	"testing"
	"unsafe"
)

// A key's state is what a store holds per key, up to MaxKeys of them, and
// what a check writes: it is kept to 64 bytes, one cache line (see entry).
func TestKeyStateFitsACacheLine(t *testing.T) {
	if n := unsafe.Sizeof(keyState{}); n > 64 {
		t.Errorf("keyState takes %d bytes, more than 64", n)
	}
}
