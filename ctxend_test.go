package smartlimit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

// cancelOnRead is a connection that, when armed, calls its cancel func as
// a reply arrives, before rueidis reads it: the reply then comes after its
// caller's context ended.
type cancelOnRead struct {
	net.Conn
	cancel *atomic.Pointer[context.CancelFunc]
}

func (c cancelOnRead) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if f := c.cancel.Swap(nil); f != nil {
		(*f)()
	}
	return n, err
}

// A request whose context ended before its reply arrived is never let
// through: the call returns the context's error, not the Result (the issue
// "Hold at the edges": a request whose own context ended is never let
// through).
func TestNoResultAfterContextEnded(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(smartlimittest.T0)
	var armed atomic.Pointer[context.CancelFunc]
	rc, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{mr.Addr()}, DisableCache: true,
		DialCtxFn: func(ctx context.Context, dst string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", dst)
			return cancelOnRead{conn, &armed}, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	l := smartlimit.Limit{Rate: 1000, Period: time.Second}
	for _, tc := range []struct {
		name string
		opt  smartlimit.Option
		call func(ctx context.Context, c *smartlimit.Client) (any, error)
	}{
		{"Allow", smartlimit.WithoutCoalescing(), func(ctx context.Context, c *smartlimit.Client) (any, error) {
			return c.Allow(ctx, "k", l)
		}},
		{"Allow coalesced", smartlimit.WithCoalescing(0), func(ctx context.Context, c *smartlimit.Client) (any, error) {
			return c.Allow(ctx, "k", l)
		}},
		{"Peek", smartlimit.WithoutCoalescing(), func(ctx context.Context, c *smartlimit.Client) (any, error) {
			return c.Peek(ctx, "k", l)
		}},
		{"AllowAll", smartlimit.WithoutCoalescing(), func(ctx context.Context, c *smartlimit.Client) (any, error) {
			return c.AllowAll(ctx, "k", 1, l, smartlimit.PerHour(100))
		}},
		{"AllowMany", smartlimit.WithoutCoalescing(), func(ctx context.Context, c *smartlimit.Client) (any, error) {
			return c.AllowMany(ctx, []smartlimit.Request{{Key: "k", Limit: l, Cost: 1}, {Key: "j", Limit: l, Cost: 1}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smartlimit.New(rc, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tc.call(ctx, c); err != nil { // connect, load the script
				t.Fatal(err)
			}
			// A deadline, far off: rueidis then sends a lone call in sync
			// mode, reading the reply whatever the context says.
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			armed.Store(&cancel)
			got, err := tc.call(cctx, c)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s after its context ended = %+v, %v; want context.Canceled", tc.name, got, err)
			}
		})
	}
}
