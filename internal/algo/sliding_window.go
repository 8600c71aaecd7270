package algo

// Log is the state of SlidingWindow: the instants (µs) of the units
// accepted, oldest first, one entry per unit. Its zero value is empty.
type Log struct{ T []int64 }

// StepSlidingWindow is the exact sliding window: at most R units in any
// window (now-P, now]. Entries at or before now-P are pruned first. When
// allowed with n > 0 the log gains n entries at now; otherwise it is left as
// pruned, which changes no decision.
func StepSlidingWindow(p *Params, l *Log, now, n int64) Decision {
	if k := len(l.T); k > 0 && now < l.T[k-1] {
		now = l.T[k-1] // monotonic guard: never before the newest entry
	}
	i := 0
	for i < len(l.T) && l.T[i] <= now-p.P {
		i++
	}
	if i > 0 {
		l.T = append(l.T[:0], l.T[i:]...)
	}
	count := int64(len(l.T))
	reset := int64(0)
	if count > 0 {
		reset = l.T[count-1] + p.P - now
	}
	if n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: Never}
	}
	if count+n > p.R {
		// The (count+n-R)-th oldest entry must leave the window first.
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: l.T[count+n-p.R-1] + p.P - now}
	}
	for range n {
		l.T = append(l.T, now)
	}
	if n > 0 {
		reset = p.P
	}
	return Decision{Allowed: true, Remaining: p.R - count - n, ResetAfter: reset}
}

// Leases is the state of Concurrency: lease IDs and their deadlines (µs).
type Leases struct {
	ID       []string
	Deadline []int64
}

// StepConcurrency admits a new lease while fewer than R are in flight. A
// lease is in flight until released or until its deadline (now + P) passes.
// n is 0 (a question) or 1 (acquire id).
func StepConcurrency(p *Params, l *Leases, now, n int64, id string) Decision {
	k := 0
	var first, last int64
	for i, dl := range l.Deadline {
		if dl <= now {
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
	}
	if n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: Never}
	}
	if count+n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: first - now}
	}
	if n > 0 {
		l.ID = append(l.ID, id)
		l.Deadline = append(l.Deadline, now+p.P)
		reset = max(reset, p.P)
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
