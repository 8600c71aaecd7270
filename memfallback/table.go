package memfallback

import (
	"sync"
	"sync/atomic"
)

// shard is one part of the key table, padded to its own cache line. Its
// mutex serialises changes to the table and to the set of entries a key
// holds; a check of an entry that already exists takes only its key's lock,
// so checks of different keys share no written memory. (A shard lock taken
// on every check bounced between cores: two goroutines over 10,000 keys ran
// slower than one.)
type shard struct {
	mu sync.Mutex
	t  atomic.Pointer[table] // replaced whole when rebuilt; changed only with mu held
	n  int                   // entries held; requires mu
	_  [40]byte
}

// table is an open-addressed hash table of one shard's keys that checks
// read without a lock. Writers hold the shard's mutex; they only fill empty
// slots and turn live ones into tombstones, and move to a new table when too
// few empty slots are left, so that a probe of any table, current or
// replaced, ends at an empty slot. A reader can therefore miss a key that is
// being added or has moved to a new table, which sends it to the locked
// path to look again; and it can find a key that was just removed, which
// its dead mark tells it (see keyState).
type table struct {
	tags []atomic.Uint64 // a slot's key's tag, or empty or tombstone
	kss  []atomic.Pointer[keyState]
	mask uint64
	live int // keys held; requires the shard's mu
	used int // keys and tombstones; requires the shard's mu
}

// Slot tags. A key's tag is its hash with the top bit set, so that it is
// neither of these.
const (
	emptyTag uint64 = 0
	tombTag  uint64 = 1
)

func tagOf(h uint64) uint64 { return h | 1<<63 }

// home is where a probe for tag starts: the hash's high half, as its low
// bits chose the shard.
func (t *table) home(tag uint64) uint64 { return tag >> 32 & t.mask }

func newTable(slots int) *table {
	return &table{tags: make([]atomic.Uint64, slots), kss: make([]atomic.Pointer[keyState], slots), mask: uint64(slots - 1)}
}

// candidate returns the first key in t with tag, or nil, without a lock
// and without reading the key's state: the caller compares the name once it
// holds the key's lock. Reading the name first would fetch the key's cache
// line, written by whichever core checked the key last, once to read and
// again to lock. With 64-bit tags a candidate is nearly always the key; a
// nil only says the key may be absent.
func (t *table) candidate(tag uint64) *keyState {
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case emptyTag:
			return nil
		case tag:
			if ks := t.kss[i].Load(); ks != nil {
				return ks
			}
		}
	}
}

// find returns the key with tag and name key, or nil. Requires the shard's
// mu held.
func (t *table) find(tag uint64, key string) *keyState {
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		switch t.tags[i].Load() {
		case emptyTag:
			return nil
		case tag:
			if ks := t.kss[i].Load(); ks != nil && ks.key == key {
				return ks
			}
		}
	}
}

// fill stores ks, whose tag is tag, in the first free slot of its probe and
// counts it. Requires the shard's mu held and ks's key absent from t.
func (t *table) fill(tag uint64, ks *keyState) {
	i := t.home(tag)
	for ; ; i = (i + 1) & t.mask {
		if tag := t.tags[i].Load(); tag == emptyTag || tag == tombTag {
			if tag == emptyTag {
				t.used++
			}
			break
		}
	}
	t.live++
	t.kss[i].Store(ks) // before the tag: a reader that matches the tag finds ks
	t.tags[i].Store(tag)
}

// rebuilt returns a new table holding t's keys, sized for live keys at
// most half full.
func (t *table) rebuilt(live int) *table {
	slots := 8
	for slots < 2*live {
		slots *= 2
	}
	nt := newTable(slots)
	for i := range t.kss {
		if ks := t.kss[i].Load(); ks != nil {
			nt.fill(t.tags[i].Load(), ks)
		}
	}
	return nt
}

// put adds ks, whose key sh does not hold and whose tag is tag, to sh's
// table, moving to a larger (or compacted) table first when the table would
// be more than three quarters used. Requires sh.mu held.
func (sh *shard) put(tag uint64, ks *keyState) {
	t := sh.t.Load()
	if (t.used+1)*4 > len(t.tags)*3 {
		t = t.rebuilt(t.live + 1)
		sh.t.Store(t)
	}
	t.fill(tag, ks)
}

// unlink removes ks, whose tag is tag and which has just been marked dead,
// from sh's table. Requires sh.mu held.
func (sh *shard) unlink(tag uint64, ks *keyState) {
	t := sh.t.Load()
	for i := t.home(tag); ; i = (i + 1) & t.mask {
		if t.kss[i].Load() == ks {
			t.tags[i].Store(tombTag)
			t.kss[i].Store(nil)
			t.live--
			return
		}
		if t.tags[i].Load() == emptyTag {
			panic("memfallback: unlink of a key the table does not hold")
		}
	}
}

// compact moves sh to a smaller table when tombstones outnumber its keys,
// so that the memory of a flood of keys is given back once they are swept.
// Requires sh.mu held.
func (sh *shard) compact() {
	if t := sh.t.Load(); len(t.tags) > 8 && t.used-t.live > t.live {
		sh.t.Store(t.rebuilt(t.live))
	}
}
