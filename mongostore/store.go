package mongostore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// Defaults of the Options fields.
const (
	// DefaultMaxRetries is the default value of Options.MaxRetries.
	DefaultMaxRetries = 8
	// DefaultRetryBackoff is the default value of Options.RetryBackoff: a
	// round trip to a nearby server, so that a loser waits about as long
	// as the winner needs to finish.
	DefaultRetryBackoff = time.Millisecond
)

// maxBackoffShift caps the exponential backoff at RetryBackoff·2^6: past
// that, waiting longer only adds latency that the failover coordinator's
// deadline would cut anyway.
const maxBackoffShift = 6

// docVersion is the version of the document format, the "vN" of every
// _id: a new format never reads an old one's state, as with the scripts.
const docVersion = 2

// ErrContention means a check gave up because its conditional write lost
// the race to other writers of the same document Options.MaxRetries+1
// times in a row. Nothing was consumed (but see Stats.Stranded for
// AllowAll). It matches smartlimit.ErrNotDecided: one hot document is the
// condition of its key, not an outage, so a failover coordinator decides
// that request on its next tier and keeps the Mongo tier's breaker closed
// for the other keys. A key that hot needs Redis.
var ErrContention = fmt.Errorf("smartlimit: mongostore: too much contention on one document (conditional update kept losing): %w", smartlimit.ErrNotDecided)

// Options configures a Store. The zero Options is ready to use: every zero
// field means its default.
type Options struct {
	// Clock returns the time of every check. Default time.Now. Tests pass a
	// settable clock. Time is taken in whole microseconds (UnixMicro). See
	// the package documentation for what skew between app servers means.
	Clock func() time.Time
	// MaxRetries is how many times a check that lost the conditional write
	// to another writer reads and decides again before it returns
	// ErrContention. Default DefaultMaxRetries; negative means none.
	MaxRetries int
	// RetryBackoff is the base of the wait before each retry: the n-th
	// retry waits a random time in [0, RetryBackoff·2^(n-1)) ("full
	// jitter", so that racing writers spread out), capped at
	// RetryBackoff·64. Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Logger receives the line EnsureIndexes writes when the server
	// refuses a TTL index. Default slog.Default().
	Logger *slog.Logger
}

// Store is the MongoDB tier. It keeps one document per key and limit and
// decides with the same step functions as the scripts and memfallback. It
// is safe for simultaneous use by multiple goroutines, and holds no
// resources of its own: the *mongo.Collection (and its client) stay the
// caller's to disconnect.
type Store struct {
	coll    *mongo.Collection
	clock   func() time.Time
	retries int
	backoff time.Duration
	log     *slog.Logger

	conflicts  atomic.Int64
	contention atomic.Int64
	stranded   atomic.Int64
}

var _ interface {
	smartlimit.Limiter
	smartlimit.Peeker
	smartlimit.MultiLimiter
	smartlimit.MultiResultLimiter
	smartlimit.Leaser
} = (*Store)(nil)

// New returns a Store that keeps its documents in coll. Give the limiter a
// collection of its own; call EnsureIndexes once (at deploy or start-up) so
// that idle documents expire.
func New(coll *mongo.Collection, opts Options) (*Store, error) {
	switch {
	case coll == nil:
		return nil, errors.New("smartlimit: mongostore: New: nil collection")
	case opts.RetryBackoff < 0:
		return nil, fmt.Errorf("smartlimit: mongostore: RetryBackoff %v is negative", opts.RetryBackoff)
	}
	s := &Store{coll: coll, clock: opts.Clock, retries: opts.MaxRetries, backoff: opts.RetryBackoff, log: opts.Logger}
	if s.clock == nil {
		s.clock = time.Now
	}
	switch {
	case s.retries == 0:
		s.retries = DefaultMaxRetries
	case s.retries < 0:
		s.retries = 0
	}
	if s.backoff == 0 {
		s.backoff = DefaultRetryBackoff
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Collection returns the collection the Store keeps its documents in.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// Stats counts what contention cost a Store since it was created.
type Stats struct {
	// Conflicts is the number of conditional writes that lost the race to
	// another writer (a version mismatch, or a duplicate key on the insert
	// of a new document) and were decided again. On servers that stop a
	// failed bulk write early (FerretDB v1), the writes after the failure
	// count too: they were not applied and were decided again.
	Conflicts int64
	// Contention is the number of calls (or, in AllowMany, documents of a
	// batch) that gave up with ErrContention.
	Contention int64
	// Stranded is the number of AllowAll charges that could not be taken
	// back after another limit of the call lost its race, because a third
	// writer had already built on them. Each makes that limit stricter by
	// one call's cost, never looser.
	Stranded int64
}

// Stats returns the Store's contention counters.
func (s *Store) Stats() Stats {
	return Stats{Conflicts: s.conflicts.Load(), Contention: s.contention.Load(), Stranded: s.stranded.Load()}
}

// Ping reports whether the server answers, with the ping command. A
// failover coordinator's own health check (a cost-0 AllowN) also reads the
// collection; Ping is the cheaper probe for dashboards ("smartlimit health
// --mongo" runs both).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.coll.Database().RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return fmt.Errorf("smartlimit: mongostore: ping: %w", err)
	}
	return nil
}

func (s *Store) now() int64 { return s.clock().UnixMicro() }

// docID returns the _id of key's document under a limit with constants p:
// the Redis key's shape without its prefix, {KEY}:ALGORITHM:R:P:CAPACITY:vN,
// so that 10/s and 20/2s share state as they do in Redis, a changed limit
// starts fresh, and operators find the same names in both tiers.
func docID(key string, p *algo.Params) string {
	b := make([]byte, 0, len(key)+48)
	b = append(b, '{')
	b = append(b, key...)
	b = append(b, "}:"...)
	b = append(b, p.Kind.String()...)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.R, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.P, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.Burst, 10)
	b = append(b, ":v"...)
	b = strconv.AppendInt(b, docVersion, 10)
	return string(b)
}

// params validates a request as every tier does, before any I/O, and
// returns its limit's constants.
func params(key string, l smartlimit.Limit, n int64) (algo.Params, error) {
	if err := smartlimit.CheckRequest(key, l, n); err != nil {
		return algo.Params{}, err
	}
	p, err := algo.NewParams(algo.Kind(l.Algorithm), l.Rate, l.Period.Microseconds(), l.Burst)
	if err != nil {
		return p, fmt.Errorf("smartlimit: mongostore: %v: %w", l, err) // CheckRequest accepted it: not expected
	}
	return p, nil
}

func result(p *algo.Params, d algo.Decision) smartlimit.Result {
	r := smartlimit.Result{
		Allowed:    d.Allowed,
		Limit:      p.Burst,
		Remaining:  d.Remaining,
		ResetAfter: time.Duration(d.ResetAfter) * time.Microsecond,
		RetryAfter: time.Duration(d.RetryAfter) * time.Microsecond,
		Delay:      time.Duration(d.Delay) * time.Microsecond,
		Tier:       smartlimit.TierMongo,
	}
	if d.RetryAfter == algo.Never {
		r.RetryAfter = smartlimit.Never
	}
	return r
}

// wait sleeps before retry number attempt (1, 2, ...) for a random time in
// [0, backoff·2^(attempt-1)), or until ctx ends.
func (s *Store) wait(ctx context.Context, attempt int) error {
	limit := s.backoff << min(attempt-1, maxBackoffShift)
	d := time.Duration(rand.Int64N(int64(limit)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func contention(attempts int) error {
	return fmt.Errorf("%w (%d attempts)", ErrContention, attempts)
}

// wrap prefixes a driver error with the operation that failed.
func wrap(op string, err error) error {
	return fmt.Errorf("smartlimit: mongostore: %s: %w", op, err)
}

// Allow is shorthand for AllowN(ctx, key, l, 1).
func (s *Store) Allow(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	return s.AllowN(ctx, key, l, 1)
}

// AllowN reports whether n units may pass for key under l now, and consumes
// them if so. n = 0 asks without consuming (and writes nothing). A check
// reads the key's document, decides, and, when it consumed something,
// writes the new state back on the condition that nobody wrote it in
// between; it retries when somebody did. A Concurrency limit acquires a
// lease that only expires; use Acquire to be able to release it.
func (s *Store) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return smartlimit.Result{}, err
	}
	p, err := params(key, l, n)
	if err != nil {
		return smartlimit.Result{}, err
	}
	return s.one(ctx, key, &p, n, "")
}

// one decides a single request, id naming the lease a Concurrency request
// takes.
func (s *Store) one(ctx context.Context, key string, p *algo.Params, n int64, id string) (smartlimit.Result, error) {
	g := &group{id: docID(key, p), p: *p, items: []item{{cost: n, lease: id}}}
	if err := s.run(ctx, []*group{g}); err != nil {
		return smartlimit.Result{}, err
	}
	if g.err != nil {
		return smartlimit.Result{}, g.err
	}
	return result(p, g.items[0].d), nil
}

// Wait blocks until one unit passes for key under l, or ctx ends; see
// smartlimit.WaitN.
func (s *Store) Wait(ctx context.Context, key string, l smartlimit.Limit) error {
	return smartlimit.WaitN(ctx, s, key, l, 1)
}

// WaitN blocks until n units pass for key under l, consuming them, or ctx
// ends; see smartlimit.WaitN. Waiting uses real timers, not Options.Clock.
func (s *Store) WaitN(ctx context.Context, key string, l smartlimit.Limit, n int64) error {
	return smartlimit.WaitN(ctx, s, key, l, n)
}

// AllowMany decides each request as AllowN would, in request order, and
// returns the results in that order. Bad input in any request is an
// *InputError before any I/O.
//
// The whole batch costs two round trips, not two per request: one find of
// every document involved, then one unordered bulk write of the
// conditional updates. Requests on the same key and limit are decided one
// after the other on that document's state, in request order, and written
// once. Documents whose write lost a race are read and decided again,
// alone, up to Options.MaxRetries times; those that still lose fail with
// ErrContention in a *smartlimit.BatchError, as do items whose write the
// server rejected or whose retry failed, and the other results are valid.
// A failure of the first find or bulk write as a whole is returned as is,
// with no results (some writes of a failed bulk may have been applied).
func (s *Store) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ps := make([]algo.Params, len(reqs))
	for i, r := range reqs {
		p, err := params(r.Key, r.Limit, r.Cost)
		if err != nil {
			return nil, fmt.Errorf("smartlimit: request %d: %w", i, err)
		}
		ps[i] = p
	}
	var groups []*group
	byID := make(map[string]int)
	at := make([][2]int, len(reqs)) // request i is item at[i][1] of group at[i][0]
	for i, r := range reqs {
		id := docID(r.Key, &ps[i])
		gi, ok := byID[id]
		if !ok {
			gi = len(groups)
			byID[id] = gi
			groups = append(groups, &group{id: id, p: ps[i]})
		}
		g := groups[gi]
		at[i] = [2]int{gi, len(g.items)}
		g.items = append(g.items, item{cost: r.Cost})
	}
	if err := s.run(ctx, groups); err != nil {
		return nil, err
	}
	out := make([]smartlimit.Result, len(reqs))
	var errs []error
	for i := range reqs {
		g := groups[at[i][0]]
		if g.err != nil {
			if errs == nil {
				errs = make([]error, len(reqs))
			}
			errs[i] = g.err
			continue
		}
		out[i] = result(&g.p, g.items[at[i][1]].d)
	}
	if errs != nil {
		return out, &smartlimit.BatchError{Errs: errs}
	}
	return out, nil
}

// run decides every group: it reads their documents, steps each group's
// items in order, and writes the changed states conditionally, deciding the
// groups that lost a race again after a backoff. A group that gives up or
// whose write the server rejected gets its err set; run's own error is a
// failure of a round trip as a whole, or ctx ending.
func (s *Store) run(ctx context.Context, groups []*group) error {
	pending := groups
	for attempt := 0; len(pending) > 0; attempt++ {
		// A failure after the first round trip leaves the groups written
		// so far valid: it fails only those still pending.
		fail := func(err error) error {
			if attempt == 0 {
				return err
			}
			for _, g := range pending {
				g.err = err
			}
			return nil
		}
		if attempt > 0 {
			if attempt > s.retries {
				s.contention.Add(int64(len(pending)))
				return fail(contention(attempt))
			}
			if err := s.wait(ctx, attempt); err != nil {
				return fail(err)
			}
		}
		docs, err := s.load(ctx, pending)
		if err != nil {
			return fail(err)
		}
		now := s.now()
		var writes []*group
		for _, g := range pending {
			st := newState(&g.p, docs[g.id])
			g.read = token(docs[g.id])
			for i := range g.items {
				it := &g.items[i]
				it.d = st.step(now, it.cost, it.lease)
			}
			if st.dirty {
				g.st = st
				writes = append(writes, g)
			}
		}
		if len(writes) == 0 {
			return nil
		}
		lost, err := s.write(ctx, writes, now)
		if err != nil {
			return fail(err)
		}
		pending = lost
	}
	return nil
}

// group is the requests of one call on one document, in request order.
type group struct {
	id    string
	p     algo.Params
	items []item
	st    *state // the state decided, when it changed
	err   error  // set when the group failed on its own

	read    int64 // the token (w) of the document st was decided from; 0: absent or none
	token   int64 // the random token of the last write (w)
	written bool  // the last write took effect
}

type item struct {
	cost  int64
	lease string // Concurrency: the ID of the lease the request takes
	d     algo.Decision
}

// doc is the stored document of one key under one limit. Only the fields
// of its algorithm are set beside v, w and expireAt: a, b, c for the fixed-size states (algo.State),
// t, u and n for SlidingWindow (algo.Log), ids, dl and hw for Concurrency
// (algo.Leases).
type doc struct {
	ID       string    `bson:"_id"`
	V        int64     `bson:"v"`
	A        int64     `bson:"a,omitempty"`
	B        int64     `bson:"b,omitempty"`
	C        int64     `bson:"c,omitempty"`
	T        []int64   `bson:"t,omitempty"`
	Before   []int64   `bson:"u,omitempty"`
	N        []int64   `bson:"n,omitempty"`
	IDs      []string  `bson:"ids,omitempty"`
	DL       []int64   `bson:"dl,omitempty"`
	HW       int64     `bson:"hw,omitempty"`
	W        int64     `bson:"w"` // the random token of the write that stored this version
	ExpireAt time.Time `bson:"expireAt"`
}

// load reads the documents of groups in one round trip, keyed by _id. An
// absent document is a full, unused limit.
func (s *Store) load(ctx context.Context, groups []*group) (map[string]*doc, error) {
	out := make(map[string]*doc, len(groups))
	if len(groups) == 1 {
		d, err := s.get(ctx, groups[0].id)
		if d != nil {
			out[d.ID] = d
		}
		return out, err
	}
	ids := make(bson.A, len(groups))
	for i, g := range groups {
		ids[i] = g.id
	}
	cur, err := s.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, wrap("find", err)
	}
	var docs []doc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("find", err)
	}
	for i := range docs {
		out[docs[i].ID] = &docs[i]
	}
	return out, nil
}

// get reads one document; nil when it is absent.
func (s *Store) get(ctx context.Context, id string) (*doc, error) {
	var d doc
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return nil, nil
	case err != nil:
		return nil, wrap("find", err)
	}
	return &d, nil
}

// write stores each group's new state on the condition that the document
// is still the one the state was decided from, in one round trip: that it
// still carries the token (w) the state read, or, for a document that was
// absent, that there is none (no stored document has v 0). The token and
// not the version, because versions repeat: a document deleted (by Reset,
// the TTL index or Cleanup) and created again restarts at v 1, and a check
// that read the old one would overwrite the new one. The write of a state
// decided from an absent document is an upsert, so the document is
// inserted; when its condition fails the upsert tries to insert a second
// document with the same _id, and the duplicate-key error is how that lost
// race shows. The write of a state decided from a document is a plain
// update, which loses by matching nothing, also when the document is gone.
// write returns the groups that lost and marks those written; groups whose
// write the server rejected otherwise get their err set. Its
// own error means the round trip failed as a whole, and some writes may
// have been applied.
//
// Each write also stores a random token (w). When a bulk write reports
// errors, write reads the documents back and counts as written exactly
// those that carry their token: servers disagree on what a failed bulk
// reports (FerretDB v1 stops at the first error, even unordered, and
// reports it at index 0), while the documents do not.
func (s *Store) write(ctx context.Context, groups []*group, now int64) (lost []*group, err error) {
	models := make([]mongo.WriteModel, len(groups))
	for i, g := range groups {
		g.token, g.written = newToken(), false
		set := append(g.st.fields(now, g.st.v+1), bson.E{Key: "w", Value: g.token})
		// Only a state decided from no document is inserted: a state
		// decided from one that is gone since (Reset, the TTL index,
		// Cleanup) must not come back, so its write matches nothing and
		// loses, as against a document written since.
		models[i] = mongo.NewUpdateOneModel().
			SetFilter(g.condition()).
			SetUpdate(bson.D{{Key: "$set", Value: set}}).
			SetUpsert(g.st.v == 0)
	}
	res, err := s.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	var rejected error // a write error other than a lost race
	if err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 {
			return nil, wrap("update", err)
		}
		for _, we := range bwe.WriteErrors {
			if !isDuplicateKey(we.WriteError) {
				rejected = we.WriteError
				break
			}
		}
	} else if res.MatchedCount+res.UpsertedCount == int64(len(groups)) {
		for _, g := range groups {
			g.written = true
		}
		return nil, nil
	}
	if len(groups) == 1 {
		if rejected != nil {
			groups[0].err = wrap("update", rejected)
			return nil, nil
		}
		s.conflicts.Add(1)
		return groups, nil
	}
	docs, err := s.load(ctx, groups)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		switch d := docs[g.id]; {
		case d != nil && d.W == g.token:
			g.written = true
		case rejected != nil:
			// Which write the server rejected is not known for sure; the
			// unwritten ones fail rather than retry into the same error.
			g.err = wrap("update", rejected)
		default:
			s.conflicts.Add(1)
			lost = append(lost, g)
		}
	}
	return lost, nil
}

// condition is the filter of g's write: the document g.st was decided
// from, as write describes.
func (g *group) condition() bson.D {
	if g.st.v == 0 {
		return bson.D{{Key: "_id", Value: g.id}, {Key: "v", Value: int64(0)}}
	}
	return bson.D{{Key: "_id", Value: g.id}, {Key: "w", Value: g.read}}
}

// token returns the write token of d, 0 when d is absent.
func token(d *doc) int64 {
	if d == nil {
		return 0
	}
	return d.W
}

// newToken returns a random write token, never 0 (no token). 63 random
// bits: two writes of one document share one with a chance of 2^-63.
func newToken() int64 { return rand.Int64N(math.MaxInt64) + 1 }

func isDuplicateKey(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001 || we.Code == 12582
}
