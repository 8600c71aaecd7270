package algo

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// At most R leases are in flight under any steps of the clock, back and
// forth, while leases are in flight: a lease is in flight until released
// or P after the instant it was dated, and no lease is dated before the
// newest one in flight.
func TestConcurrencyInvariant(t *testing.T) {
	p, _ := NewParams(Concurrency, 3, 10e6, 0)
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 3))
		var l Leases
		type lease struct{ from, until int64 }
		live := map[string]lease{}
		now, hw := int64(1e15), int64(0)
		for i := range 300 {
			switch r.IntN(4) {
			case 0:
				now -= r.Int64N(20e6)
			default:
				now += r.Int64N(4e6)
			}
			if r.IntN(4) == 0 && len(l.ID) > 0 {
				id := l.ID[r.IntN(len(l.ID))]
				l.Release(id)
				delete(live, id)
				continue
			}
			id := strconv.Itoa(i)
			d := StepConcurrency(&p, &l, now, 1, id)
			at := max(now, hw)
			inFlight := 0
			for k, ls := range live {
				if ls.until <= at {
					delete(live, k)
					continue
				}
				inFlight++
			}
			if inFlight == 0 {
				at = now
			}
			if d.Allowed {
				live[id] = lease{at, at + p.P}
				hw = at
				inFlight++
			}
			if inFlight > int(p.R) {
				t.Fatalf("seed %d step %d at %d: %d leases in flight, limit %d", seed, i, now, inFlight, p.R)
			}
			if d.Allowed && l.Deadline[len(l.Deadline)-1] != at+p.P {
				t.Fatalf("seed %d step %d: lease dated %d, want %d", seed, i, l.Deadline[len(l.Deadline)-1]-p.P, at)
			}
		}
	}
}
