package mongostore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartlimit/smartlimit"
	"github.com/smartlimit/smartlimit/mongostore"
)

// unreachable returns a Store whose server is a closed loopback port: any
// call that does I/O fails with a server-selection error, so a call that
// returns an *InputError did none. (The integration module runs the tier
// against servers.)
func unreachable(t *testing.T) *mongostore.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + addr + "/?directConnection=true").SetServerSelectionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	s, err := mongostore.New(c.Database("db").Collection("limits"), mongostore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := mongostore.New(nil, mongostore.Options{}); err == nil {
		t.Error("New(nil collection) = nil error")
	}
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	if _, err := mongostore.New(c.Database("d").Collection("c"), mongostore.Options{RetryBackoff: -time.Second}); err == nil || !strings.Contains(err.Error(), "RetryBackoff") {
		t.Errorf("New with a negative RetryBackoff = %v, want an error naming it", err)
	}
}

// TestBadInputBeforeIO checks that every method rejects bad input with an
// *InputError without touching the server (which would take the minute of
// server selection and then fail otherwise), and that good input does go
// to the server.
func TestBadInputBeforeIO(t *testing.T) {
	s := unreachable(t)
	ctx := context.Background()
	good := smartlimit.PerSecond(10)
	conc := smartlimit.Limit{Algorithm: smartlimit.Concurrency, Rate: 2, Period: time.Second}
	calls := []struct {
		name string
		err  func() error
		is   error
	}{
		{"AllowN empty key", func() error { _, err := s.AllowN(ctx, "", good, 1); return err }, smartlimit.ErrInvalidKey},
		{"AllowN rate 0", func() error { _, err := s.AllowN(ctx, "k", smartlimit.Limit{Period: time.Second}, 1); return err }, smartlimit.ErrInvalidLimit},
		{"AllowN cost -1", func() error { _, err := s.AllowN(ctx, "k", good, -1); return err }, smartlimit.ErrInvalidCost},
		{"AllowMany second item", func() error {
			_, err := s.AllowMany(ctx, []smartlimit.Request{{Key: "k", Limit: good, Cost: 1}, {Key: "a}b", Limit: good, Cost: 1}})
			return err
		}, smartlimit.ErrInvalidKey},
		{"Peek", func() error {
			_, err := s.Peek(ctx, "k", smartlimit.Limit{Rate: 1, Period: time.Nanosecond})
			return err
		}, smartlimit.ErrInvalidLimit},
		{"Reset", func() error { return s.Reset(ctx, "", good) }, smartlimit.ErrInvalidKey},
		{"AllowAll none", func() error { _, err := s.AllowAll(ctx, "k", 1); return err }, smartlimit.ErrInvalidLimit},
		{"AllowAll twice", func() error { _, err := s.AllowAll(ctx, "k", 1, good, good); return err }, smartlimit.ErrInvalidLimit},
		{"AllowAll concurrency", func() error { _, err := s.AllowAll(ctx, "k", 1, good, conc); return err }, smartlimit.ErrInvalidLimit},
		{"Acquire GCRA", func() error { _, _, err := s.Acquire(ctx, "k", good); return err }, smartlimit.ErrInvalidLimit},
		{"AllowN concurrency cost 2", func() error { _, err := s.AllowN(ctx, "k", conc, 2); return err }, smartlimit.ErrInvalidCost},
	}
	for _, c := range calls {
		err := c.err()
		var ie *smartlimit.InputError
		if !errors.Is(err, c.is) || !errors.As(err, &ie) {
			t.Errorf("%s = %v, want an *InputError matching %v", c.name, err, c.is)
		}
	}

	// Good input goes to the server, and its failure is no InputError.
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.AllowN(tctx, "k", good, 1)
	var ie *smartlimit.InputError
	if err == nil || errors.As(err, &ie) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AllowN on an unreachable server = %v, want the context's deadline", err)
	}
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := s.AllowN(cctx, "k", good, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("AllowN with a canceled context = %v, want context.Canceled", err)
	}
}
