package algo

// LogModulus is the modulus of a sliding window log's counts. Counts are
// kept modulo 2^52 so that they never leave the range a Lua number holds
// exactly, however long a key stays busy; a window never holds more than
// Rate ≤ 2^50 units, so differences of counts modulo 2^52 are exact.
const LogModulus = 1 << 52

// LogEntry is one accepted request of a sliding window log: its instant
// (µs), its cost N, and the units the log had accepted before it (Before,
// modulo LogModulus).
type LogEntry struct{ T, Before, N int64 }

// Log is the state of SlidingWindow: one entry per accepted request (not
// per unit, so one check adds at most one entry whatever its cost), oldest
// first, instants non-decreasing. The units in a window are the newest
// entry's Before+N less the Before of the window's oldest entry, so entries
// that left the window need not be kept; they are dropped when a request
// is accepted. Its zero value is empty.
type Log struct{ E []LogEntry }

// mod returns a modulo LogModulus in [0, LogModulus).
func mod(a int64) int64 { return a & (LogModulus - 1) }

// StepSlidingWindow is the exact sliding window: at most R units in any
// window (now-P, now]. When allowed with n > 0 the log drops the entries
// that left the window and gains one; otherwise it is left as it was. Time
// never runs backwards for a key: before the newest entry the step decides
// at that entry's instant, and measures the durations it returns from now.
// (Entries are dropped only once they have left the newest entry's window,
// which every later step's window starts after.)
func StepSlidingWindow(p *Params, l *Log, now, n int64) Decision {
	t := now
	var newest LogEntry
	if k := len(l.E); k > 0 {
		newest = l.E[k-1]
		t = max(t, newest.T) // monotonic guard
	}
	first := l.outside(t - p.P) // the index of the window's oldest entry
	var count, base, reset int64
	if first < len(l.E) {
		base = l.E[first].Before
		count = mod(newest.Before + newest.N - base)
		reset = newest.T + p.P - now
	}
	if n > p.R {
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: Never}
	}
	if need := count + n - p.R; need > 0 {
		// The oldest entry whose leaving frees need units leaves at T+P;
		// the newest frees count ≥ need.
		lo, hi := first, len(l.E)-1
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); mod(l.E[m].Before+l.E[m].N-base) >= need {
				hi = m
			} else {
				lo = m + 1
			}
		}
		return Decision{Remaining: p.R - count, ResetAfter: reset, RetryAfter: l.E[lo].T + p.P - now}
	}
	if n > 0 {
		// Drop what left the newest entry's window: no later step looks
		// there, even when this entry is taken back (memfallback's peeks
		// and all-or-nothing checks undo a step by dropping it).
		l.E = append(l.E[l.outside(newest.T-p.P):], LogEntry{T: t, Before: mod(newest.Before + newest.N), N: n})
		reset = t + p.P - now
	}
	return Decision{Allowed: true, Remaining: p.R - count - n, ResetAfter: reset}
}

// outside returns the number of entries at or before instant x.
func (l *Log) outside(x int64) int {
	lo, hi := 0, len(l.E)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); l.E[m].T > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
