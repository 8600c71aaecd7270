package itest

import (
	"context"
	"testing"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/internal/testkit"
	"github.com/smartlimit/smartlimit/limitertest"
)

// Suite runs the conformance suite, limitertest, on the scripts in the
// Redis that rc reaches (standalone or Cluster), with the suite's clock
// sent as the client's (WithClientClock). The server expires keys by its
// own clock, which the suite's outruns and lags, so after every call the
// keys it touched are made persistent: a state whose time is up decides
// exactly as an absent key, and key expiry itself is tested on miniredis,
// whose clock the tests set.
func Suite(t *testing.T, rc rueidis.Client) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		clock := testkit.NewClock(limitertest.T0)
		c, err := smartlimit.New(rc, smartlimit.WithPrefix(Prefix()), smartlimit.WithClientClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		return limitertest.Func(&persisting{Client: c, rc: rc}, clock.Set)
	})
}

// persisting is a Client that removes the TTL of the keys each call
// touched, for Suite.
type persisting struct {
	*smartlimit.Client
	rc rueidis.Client
}

func (p *persisting) persist(ctx context.Context, key string, ls ...smartlimit.Limit) {
	for _, l := range ls {
		if k, err := p.Key(key, l); err == nil {
			p.rc.Do(ctx, p.rc.B().Persist().Key(k).Build())
		}
	}
}

func (p *persisting) AllowN(ctx context.Context, key string, l smartlimit.Limit, n int64) (smartlimit.Result, error) {
	r, err := p.Client.AllowN(ctx, key, l, n)
	p.persist(context.WithoutCancel(ctx), key, l)
	return r, err
}

func (p *persisting) AllowMany(ctx context.Context, reqs []smartlimit.Request) ([]smartlimit.Result, error) {
	rs, err := p.Client.AllowMany(ctx, reqs)
	for _, r := range reqs {
		p.persist(context.WithoutCancel(ctx), r.Key, r.Limit)
	}
	return rs, err
}

func (p *persisting) AllowAll(ctx context.Context, key string, n int64, ls ...smartlimit.Limit) (smartlimit.Result, error) {
	r, err := p.Client.AllowAll(ctx, key, n, ls...)
	p.persist(context.WithoutCancel(ctx), key, ls...)
	return r, err
}

func (p *persisting) AllowAllResults(ctx context.Context, key string, n int64, ls ...smartlimit.Limit) ([]smartlimit.Result, error) {
	rs, err := p.Client.AllowAllResults(ctx, key, n, ls...)
	p.persist(context.WithoutCancel(ctx), key, ls...)
	return rs, err
}

func (p *persisting) Peek(ctx context.Context, key string, l smartlimit.Limit) (smartlimit.Result, error) {
	r, err := p.Client.Peek(ctx, key, l)
	p.persist(context.WithoutCancel(ctx), key, l)
	return r, err
}

func (p *persisting) Acquire(ctx context.Context, key string, l smartlimit.Limit) (*smartlimit.Lease, smartlimit.Result, error) {
	ls, r, err := p.Client.Acquire(ctx, key, l)
	p.persist(context.WithoutCancel(ctx), key, l)
	return ls, r, err
}
