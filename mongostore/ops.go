package mongostore

import (
	"context"
	"errors"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
)

// Peek returns key's state under l without consuming anything: Remaining
// (and ResetAfter) is what is there now, and Allowed, RetryAfter and Delay
// are those of a request of cost 1, as the scripts' peek mode reports them.
// It reads the document and writes nothing.
func (s *Store) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return smartlimit.Result{}, err
	}
	p, err := params(key, l, 1)
	if err != nil {
		return smartlimit.Result{}, err
	}
	d, err := s.get(ctx, docID(key, &p))
	if err != nil {
		return smartlimit.Result{}, err
	}
	now := s.now()
	st := newState(&p, d)
	d0 := st.step(now, 0, "") // what is there (prunes a log, adds nothing)
	d1 := st.step(now, 1, "") // what a request would get; never written
	d1.Remaining, d1.ResetAfter = d0.Remaining, d0.ResetAfter
	return result(&p, d1), nil
}

// Reset forgets key's state under l: the next check finds a full limit. It
// deletes the document. A check that read the document before the delete
// and writes after it puts its own decision back, as if it had come just
// before the Reset, unless another check has created the document again in
// between: then its write loses, and it is decided again on the new one.
func (s *Store) Reset(ctx context.Context, key string, l smartlimit.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := params(key, l, 0)
	if err != nil {
		return err
	}
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: docID(key, &p)}}); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// AllowAll consumes n units for key under every limit in limits, or under
// none of them when any denies: for example 10/s and 1000/day together. The
// limits must differ and must not be Concurrency limits. The Result is the
// binding one, as smartlimit.Combine describes; the limits that would have
// allowed report Allowed false with what is still there.
//
// The documents are read together and written together, each on its own
// version condition. Without multi-document transactions (which FerretDB,
// DocumentDB's elastic clusters and Cosmos DB's Mongo API lack or limit) the
// writes are not one atomic step: when one of them loses a race, the others
// are taken back, each on the condition that nobody wrote it since, and the
// call is decided again. A charge that cannot be taken back (another writer
// built on it in that instant) stays, making that limit stricter by n,
// never looser; Stats counts them as Stranded.
func (s *Store) AllowAll(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) (smartlimit.Result, error) {
	rs, err := s.AllowAllResults(ctx, key, n, limits...)
	if err != nil {
		return smartlimit.Result{}, err
	}
	return smartlimit.Combine(rs), nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits; see smartlimit.MultiResultLimiter.
func (s *Store) AllowAllResults(ctx context.Context, key string, n int64, limits ...smartlimit.Limit) ([]smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(limits) == 0 {
		return nil, &smartlimit.InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	groups := make([]*group, 0, len(limits))
	for _, l := range limits {
		p, err := params(key, l, n)
		if err != nil {
			return nil, err
		}
		if l.Algorithm == smartlimit.Concurrency {
			return nil, &smartlimit.InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
		id := docID(key, &p)
		for _, g := range groups {
			if g.id == id {
				return nil, &smartlimit.InputError{Field: "limits", Value: l.String(), Reason: "the same limit twice"}
			}
		}
		groups = append(groups, &group{id: id, p: p, items: []item{{cost: n}}})
	}
	rs := make([]smartlimit.Result, len(groups))
	denied := make([]smartlimit.Result, len(groups))
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > s.retries {
				s.contention.Add(1)
				return nil, contention(attempt)
			}
			if err := s.wait(ctx, attempt); err != nil {
				return nil, err
			}
		}
		docs, err := s.load(ctx, groups)
		if err != nil {
			return nil, err
		}
		now := s.now()
		all := true
		before := make([]*state, len(groups))
		for i, g := range groups {
			g.st, g.err = newState(&g.p, docs[g.id]), nil
			g.read = token(docs[g.id])
			d0 := g.st.step(now, 0, "") // what is there; prunes a log
			before[i] = g.st.clone()
			d := g.st.step(now, n, "")
			all = all && d.Allowed
			rs[i] = result(&g.p, d)
			// Should another limit deny, this one is not charged: it reports
			// what is there, with no retry of its own, as the scripts do.
			if d.Allowed {
				d.Allowed, d.Remaining, d.ResetAfter = false, d0.Remaining, d0.ResetAfter
			}
			denied[i] = result(&g.p, d)
		}
		switch {
		case !all:
			return denied, nil
		case n == 0:
			return rs, nil
		}
		lost, err := s.write(ctx, groups, now)
		var failed error
		for _, g := range groups {
			if g.err != nil && failed == nil {
				failed = g.err
			}
		}
		if err == nil && failed == nil && len(lost) == 0 {
			return rs, nil
		}
		// Take back what was written. After a failed round trip some writes
		// may have been applied; the tokens make undoing the others a no-op.
		var written []int
		for i, g := range groups {
			if err != nil || g.written {
				written = append(written, i)
			}
		}
		if uerr := s.undo(ctx, groups, before, written, now); uerr != nil && err == nil && failed == nil {
			return nil, uerr
		}
		if err != nil {
			return nil, err
		}
		if failed != nil {
			return nil, failed
		}
	}
}

// undo restores the states before of the groups at indexes written, which
// were written as version before.v+1 with the groups' tokens, in one round
// trip: each restore is conditional on that token, so a document another
// writer has changed since keeps its state (and the charge), and is counted
// as stranded. A restore is a write with a token of its own, so that a
// check that read the document before it cannot match it. A document that
// was absent is deleted.
func (s *Store) undo(ctx context.Context, groups []*group, before []*state, written []int, now int64) error {
	if len(written) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, 0, len(written))
	for _, i := range written {
		g, b := groups[i], before[i]
		filter := bson.D{{Key: "_id", Value: g.id}, {Key: "w", Value: g.token}}
		if b.v == 0 { // it was absent
			models = append(models, mongo.NewDeleteOneModel().SetFilter(filter))
			continue
		}
		models = append(models, mongo.NewUpdateOneModel().SetFilter(filter).
			SetUpdate(bson.D{{Key: "$set", Value: append(b.fields(now, b.v+2), bson.E{Key: "w", Value: newToken()})}}))
	}
	res, err := s.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if res != nil {
		if missed := int64(len(models)) - res.MatchedCount - res.DeletedCount; missed > 0 && err == nil {
			s.stranded.Add(missed)
		}
	}
	if err != nil {
		return wrap("undo", err)
	}
	return nil
}

// Acquire takes a lease for key under l, which must be a Concurrency limit.
// When the Result is not Allowed the lease is nil. Release the lease when
// the work is done; otherwise it expires after l.Period.
func (s *Store) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, smartlimit.Result{}, err
	}
	p, err := params(key, l, 1)
	if err != nil {
		return nil, smartlimit.Result{}, err
	}
	if l.Algorithm != smartlimit.Concurrency {
		return nil, smartlimit.Result{}, &smartlimit.InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "Acquire takes a Concurrency limit"}
	}
	id := smartlimit.NewLeaseID()
	r, err := s.one(ctx, key, &p, 1, id)
	if err != nil || !r.Allowed {
		return nil, r, err
	}
	return smartlimit.NewLease(key, l, id, s.release), r, nil
}

// release removes a lease from its document, conditionally, retrying on
// contention like a check.
func (s *Store) release(ctx context.Context, ls *smartlimit.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := params(ls.Key, ls.Limit, 0)
	if err != nil {
		return err
	}
	if ls.ID == "" {
		return nil // AllowN's anonymous leases cannot be released
	}
	id := docID(ls.Key, &p)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt > s.retries {
				s.contention.Add(1)
				return contention(attempt)
			}
			if err := s.wait(ctx, attempt); err != nil {
				return err
			}
		}
		d, err := s.get(ctx, id)
		if err != nil || d == nil {
			return err // absent: the lease expired with its document
		}
		st := newState(&p, d)
		if !st.ls.Release(ls.ID) {
			return nil // released before, or expired and pruned
		}
		g := &group{id: id, p: p, st: st, read: d.W}
		lost, err := s.write(ctx, []*group{g}, s.now())
		switch {
		case err != nil:
			return err
		case g.err != nil:
			return g.err
		case len(lost) == 0:
			return nil
		}
	}
}

// TTLIndexName is the name of the TTL index that EnsureIndexes creates on
// expireAt, and PlainIndexName that of the ordinary index it creates
// instead on servers that refuse TTL indexes.
const (
	TTLIndexName   = "smartlimit_expireAt_ttl"
	PlainIndexName = "smartlimit_expireAt"
)

// EnsureIndexes creates a TTL index on expireAt, so that the server deletes
// each document once its limit is back to full and unused (MongoDB's TTL
// monitor runs about once a minute; a document it has not deleted yet
// decides exactly as an absent one). It is idempotent.
//
// A server that refuses TTL indexes (FerretDB v1, for one, answers
// NotImplemented) gets a warning on Options.Logger and an ordinary index on
// expireAt instead, and EnsureIndexes returns nil: the limiter works the
// same, and Cleanup, run periodically, deletes what the server would have.
// Other failures (no connection, no permission) are returned.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	keys := bson.D{{Key: "expireAt", Value: 1}}
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: keys, Options: options.Index().SetName(TTLIndexName).SetExpireAfterSeconds(0),
	})
	if err == nil {
		return nil
	}
	if !refusesTTL(err) {
		return wrap("create TTL index", err)
	}
	s.log.WarnContext(ctx, "smartlimit: mongostore: the server refused a TTL index on expireAt; expired limiter documents stay until Cleanup deletes them: run it periodically",
		slog.String("collection", s.coll.Database().Name()+"."+s.coll.Name()), slog.Any("err", err))
	if _, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(PlainIndexName)}); err != nil {
		return wrap("create index", err)
	}
	return nil
}

// refusesTTL reports whether err is the server declining the TTL index
// itself, rather than a failure to reach it or an index that conflicts
// with one already there.
func refusesTTL(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return false
	}
	const (
		unauthorized          = 13
		indexOptionsConflict  = 85
		indexKeySpecsConflict = 86
	)
	return !se.HasErrorCode(unauthorized) && !se.HasErrorCode(indexOptionsConflict) && !se.HasErrorCode(indexKeySpecsConflict)
}

// Cleanup deletes every document whose expireAt has passed, by the Store's
// clock, and returns how many it deleted. Servers with a TTL index need it
// only to reclaim space sooner; on the others, run it every few minutes
// ("smartlimit mongo cleanup" does). Deleting an expired document changes no
// decision: its limit is back to full and unused.
func (s *Store) Cleanup(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "expireAt", Value: bson.D{{Key: "$lte", Value: s.clock().UTC()}}}})
	if err != nil {
		return 0, wrap("cleanup", err)
	}
	return res.DeletedCount, nil
}
