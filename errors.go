package smartlimit

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalidLimit means a Limit was rejected before any I/O: a rate or
	// period that is not positive, a negative burst, an unknown algorithm,
	// or numbers too large to compute exactly.
	ErrInvalidLimit = errors.New("smartlimit: invalid limit")

	// ErrInvalidKey means a key was rejected before any I/O: it is empty,
	// longer than MaxKeyLen, or contains '}' (which would change the Redis
	// Cluster hash tag).
	ErrInvalidKey = errors.New("smartlimit: invalid key")

	// ErrInvalidCost means a cost was rejected before any I/O: it is
	// negative, or above 1 for a Concurrency limit.
	ErrInvalidCost = errors.New("smartlimit: invalid cost")

	// ErrWouldExceedDeadline means Wait gave up at once because the request
	// could not pass before the context's deadline.
	ErrWouldExceedDeadline = errors.New("smartlimit: wait would exceed context deadline")

	// ErrNeverAllowed means Wait gave up because the request can never pass:
	// its cost is larger than the limit's capacity.
	ErrNeverAllowed = errors.New("smartlimit: cost exceeds the limit's capacity")

	// ErrNotDecided means a tier that is working could not decide one
	// request: its table is full, the key's state is too contended, or it
	// cannot hold the limit. It is the condition of that request, not an
	// outage, so a failover coordinator asks the next tier for that request
	// and does not count it against the tier's circuit breaker. Tiers wrap
	// it (memfallback.ErrFull and mongostore.ErrContention match it with
	// errors.Is); a tier's own error type may match it with an Is method.
	ErrNotDecided = errors.New("smartlimit: the tier could not decide this request")

	// ErrUnexpectedReply means Redis answered a script call with a reply of
	// the wrong shape, for example a script of another version under the
	// same SHA1. It is wrapped with the reply's details.
	ErrUnexpectedReply = errors.New("smartlimit: unexpected reply from script")
)

// InputError describes bad input to a limiter call. Every check rejects bad
// input with an *InputError before it does any I/O. It matches (with
// errors.Is) ErrInvalidLimit, ErrInvalidKey or ErrInvalidCost, depending on
// Field.
type InputError struct {
	Field  string // "rate", "period", "burst", "algorithm", "limits", "key", "cost", "lease" or "prefix"
	Value  string // the offending value, formatted
	Reason string
}

// Error returns "smartlimit: invalid FIELD "VALUE": REASON".
func (e *InputError) Error() string {
	return "smartlimit: invalid " + e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns the sentinel error for e.Field.
func (e *InputError) Unwrap() error {
	switch e.Field {
	case "key", "prefix":
		return ErrInvalidKey
	case "cost":
		return ErrInvalidCost
	}
	return ErrInvalidLimit
}

// BatchError reports the items of an AllowMany call that failed after the
// call reached the backend. The results of the other items are valid.
type BatchError struct {
	// Errs has one entry per request, nil for the items that succeeded.
	Errs []error
}

// Error says how many items failed and gives the first failure.
func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return "smartlimit: " + strconv.Itoa(n) + " of " + strconv.Itoa(len(e.Errs)) + " batch items failed; first: " + first.Error()
}

// Unwrap returns the items' errors, so that errors.Is and errors.As look
// into each of them.
func (e *BatchError) Unwrap() []error {
	var errs []error
	for _, err := range e.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
