package smartlimit

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/smartlimit/smartlimit/internal/algo"
)

// WithCoalescing makes concurrent AllowN calls on the Client share script
// calls, as group commit does for a database log. It is the default on a
// standalone Redis and behind Sentinel; this option sets the batch size, or
// turns coalescing on for a Cluster. The mechanism: while four batches are in
// flight, the checks that arrive wait for one of them, then go together as
// one batch of at most maxBatch, sent as AllowMany sends its requests.
// Nothing waits on a timer, so light traffic goes out at once as before;
// under heavy concurrency many checks share one script call and one round
// trip, which costs Redis about half the CPU per check and lifts throughput
// and latency alike (BENCHMARKS.md has the figures). On a Cluster a batch
// waits for its slowest node.
//
// Results are the same as without coalescing: each check is decided on its
// own, in arrival order. A check whose context ends while it waits returns
// the context's error, even once its batch has answered; if it was already
// taken into a batch, it may have counted, as with any timeout. maxBatch ≤ 0
// means 100.
func WithCoalescing(maxBatch int) Option {
	return func(c *Client) error {
		c.co, c.coSet = newCoalescer(c, maxBatch), true
		return nil
	}
}

// WithoutCoalescing makes every check a script call of its own, as on a
// Cluster by default. A check then never waits for other checks' batch, and
// a script error (a key of another type, say) fails only the check that
// met it; the price is about half the throughput under heavy concurrency.
func WithoutCoalescing() Option {
	return func(c *Client) error {
		c.co, c.coSet = nil, true
		return nil
	}
}

func newCoalescer(c *Client, maxBatch int) *coalescer {
	if maxBatch <= 0 {
		maxBatch = 100
	}
	return &coalescer{c: c, max: min(maxBatch, maxBatchItems)}
}

// maxInFlight is how many batches may be in flight at once. A check that
// arrives with fewer in flight goes out at once, so light concurrency sees
// plain pipelining; under heavy load the rest gather into batches.
const maxInFlight = 4

// gatherYields bounds how often a batch's goroutine yields for the checks it
// has just answered to queue again before it sends the next batch: more
// checks per batch, so fewer script calls; fewer or more yields did no
// better (BENCHMARKS.md).
const gatherYields = 4

// coalescer batches concurrent checks. At most maxInFlight batches are in
// flight. A check that finds fewer sends itself at once, alone, from its own
// goroutine; checks that arrive meanwhile queue. When a batch returns, the
// checks that queued meanwhile go out as the next batch, sent by a goroutine
// that serves no caller, which first lets the checks it has just answered
// queue too (see gatherYields): a batch carries the latest deadline among
// its checks, or none, and no check waits for one past its own context.
type coalescer struct {
	c   *Client
	max int

	mu       sync.Mutex
	inFlight int       // batches in flight, at most maxInFlight
	pending  []*queued // arrived while maxInFlight batches were in flight
}

// queued is one check waiting in, or sent with, a batch. Queued checks are
// pooled: a check under load would otherwise allocate it and its channel.
type queued struct {
	req  Request
	p    algo.Params
	ctx  context.Context
	res  Result
	err  error
	done chan struct{} // signaled once, when res and err are set
	one  [1]*queued    // a batch of this check alone
}

var queuedPool = sync.Pool{New: func() any { return &queued{done: make(chan struct{}, 1)} }}

// signal wakes q's goroutine. done has room for the one signal a check gets,
// so this never blocks.
func (q *queued) signal() { q.done <- struct{}{} }

// free returns q to the pool. Only the goroutine that owns q calls it, and
// only once q is in no batch and no list.
func (q *queued) free() {
	*q = queued{done: q.done}
	queuedPool.Put(q)
}

func (co *coalescer) allow(ctx context.Context, req Request, p algo.Params) (Result, error) {
	q := queuedPool.Get().(*queued)
	q.req, q.p, q.ctx = req, p, ctx
	co.mu.Lock()
	if co.inFlight < maxInFlight {
		co.inFlight++
		co.mu.Unlock()
		q.one[0] = q
		co.lead(q.one[:], q) // a batch of one carries q's own context
		res, err := q.res, q.err
		q.free()
		return res, err
	}
	co.pending = append(co.pending, q)
	co.mu.Unlock()

	done := ctx.Done()
	if done == nil {
		// Nothing can cancel ctx: a plain receive costs less than select.
		<-q.done
		res, err := q.res, q.err
		q.free()
		return res, err
	}
	select {
	case <-q.done:
		res, err := q.res, q.err
		q.free()
		return res, err
	case <-done:
	}
	co.mu.Lock()
	for i, x := range co.pending {
		if x == q { // not taken into a batch: withdraw it, nothing was counted
			co.pending = slices.Delete(co.pending, i, i+1)
			co.mu.Unlock()
			q.free()
			return Result{}, ctx.Err()
		}
	}
	co.mu.Unlock()
	// In a batch, which may count it: return now, and free q once the
	// batch is done with it.
	go func() {
		<-q.done
		q.free()
	}()
	return Result{}, ctx.Err()
}

// lead sends batch and delivers its results, signaling every check in it but
// self, the caller's own check if it is one of them. Then, while checks have
// queued meanwhile, it sends them as the next batch: itself when it serves
// no caller (self is nil), from a new goroutine otherwise, so that a caller
// is held for its own batch only.
func (co *coalescer) lead(batch []*queued, self *queued) {
	for {
		co.send(batch)
		for _, q := range batch {
			if q != self {
				q.signal() // q may be freed and reused from here on
			}
		}
		co.mu.Lock()
		if self == nil {
			// The checks just signaled are mostly about to check again.
			// Yield a few times so that they can queue first, and go out
			// together in the next batch rather than one by one in the
			// batch slot this one would free: fewer, fuller batches cost
			// less per check on both sides of the wire. Only a goroutine
			// that serves no caller yields, so no caller waits for it.
			for i := 0; i < gatherYields && 2*len(co.pending) < len(batch); i++ {
				co.mu.Unlock()
				runtime.Gosched()
				co.mu.Lock()
			}
		}
		if len(co.pending) == 0 {
			co.inFlight--
			co.mu.Unlock()
			return
		}
		n := min(len(co.pending), co.max)
		batch = make([]*queued, n)
		copy(batch, co.pending)
		rest := copy(co.pending, co.pending[n:])
		clear(co.pending[rest:]) // hold no pooled check beyond the list's end
		co.pending = co.pending[:rest]
		co.mu.Unlock()
		if self != nil {
			go co.lead(batch, nil)
			return
		}
	}
}

// send runs one batch. Its context carries no cancellation of any one
// caller (each waits on its own), and the latest of their deadlines, or
// none if one has none.
func (co *coalescer) send(batch []*queued) {
	if len(batch) == 1 {
		q := batch[0]
		q.res, q.err = co.c.sendOne(q.ctx, q.req.Key, q.req.Limit, &q.p, q.req.Cost, modeEach, "")
		return
	}
	var latest time.Time
	for _, q := range batch {
		dl, ok := q.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	ctx := context.WithoutCancel(batch[0].ctx)
	if !latest.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, latest)
		defer cancel()
	}
	reqs := make([]Request, len(batch))
	params := make([]algo.Params, len(batch))
	for i, q := range batch {
		reqs[i], params[i] = q.req, q.p
	}
	rs, err := co.c.sendMany(ctx, reqs, params)
	var be *BatchError
	errors.As(err, &be)
	for i, q := range batch {
		switch {
		case be != nil:
			q.res, q.err = rs[i], be.Errs[i]
		case err != nil:
			q.err = err
		default:
			q.res = rs[i]
		}
	}
}
