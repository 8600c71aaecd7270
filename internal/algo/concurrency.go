package algo

// Leases is the state of Concurrency: lease IDs and their deadlines (µs),
// and the instant the newest lease was taken at (HW), below which the key's
// time does not run while any lease is in flight.
type Leases struct {
	ID       []string
	Deadline []int64
	HW       int64
}

// StepConcurrency admits a new lease while fewer than R are in flight. A
// lease is in flight until released or until its deadline (now + P) passes.
// n is 0 (a question) or 1 (acquire id).
//
// While a lease is in flight, time does not run backwards for the key: a
// step before HW decides, and dates a new lease, at HW, so a clock that
// steps back cannot date leases early and, once corrected, let more than R
// be in flight. (With no lease in flight there is nothing to protect, and
// HW is forgotten, as a store forgets a key whose state is full.) Durations
// are measured from now.
func StepConcurrency(p *Params, l *Leases, now, n int64, id string) Decision {
	t := max(now, l.HW)
	k := 0
	var first, last int64
	for i, dl := range l.Deadline {
		if dl <= t {
			continue
		}
		l.ID[k], l.Deadline[k] = l.ID[i], dl
		k++
		if first == 0 || dl < first {
			first = dl
		}
		last = max(last, dl)
	}
	clear(l.ID[k:])
	l.ID, l.Deadline = l.ID[:k], l.Deadline[:k]
	count := int64(k)
	reset := int64(0)
	if count > 0 {
		reset = last - now
	} else {
		t, l.HW = now, 0
	}
	if n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: Never}
	}
	if count+n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: first - now}
	}
	if n > 0 {
		l.ID = append(l.ID, id)
		l.Deadline = append(l.Deadline, t+p.P)
		l.HW = t
		reset = max(reset, t+p.P-now)
	}
	return Decision{Allowed: true, Remaining: p.R - count - n, ResetAfter: reset}
}

// Release removes lease id, reporting whether it was held.
func (l *Leases) Release(id string) bool {
	for i, x := range l.ID {
		if x == id {
			last := len(l.ID) - 1
			l.ID[i], l.Deadline[i] = l.ID[last], l.Deadline[last]
			l.ID[last] = ""
			l.ID, l.Deadline = l.ID[:last], l.Deadline[:last]
			return true
		}
	}
	return false
}
