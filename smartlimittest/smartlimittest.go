// Package smartlimittest provides what tests of code that uses smartlimit
// need: a smartlimit.Client on an in-process miniredis whose clock the test
// sets, so that Redis TIME inside the scripts, and key expiry, follow it.
//
//	s := smartlimittest.New(t)
//	r, err := s.Client.Allow(ctx, "alice", smartlimit.PerSecond(10))
//	s.Advance(100 * time.Millisecond)
package smartlimittest

import (
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// T0 is the instant a Server's clock starts at: 2030-01-01 00:00:00 UTC.
var T0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TB is the part of testing.TB that New uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Server is a miniredis with a settable clock and a smartlimit.Client on
// it. Its zero value is not usable; call New.
type Server struct {
	// Miniredis is the server, for fault injection (SetError, Close,
	// Restart) and inspection (Keys, TTL).
	Miniredis *miniredis.Miniredis
	// Redis is the rueidis client the Client runs on. rueidis takes
	// miniredis, which answers CLUSTER SLOTS, for a one-node Cluster, so the
	// Client does not coalesce concurrent checks unless New is given
	// smartlimit.WithCoalescing.
	Redis rueidis.Client
	// Client is the limiter under test.
	Client *smartlimit.Client

	now    time.Time
	latest time.Time // the latest time set: key expiry follows it
	back   bool      // the clock is behind latest, and TTLs stand still
}

// New starts a miniredis at T0, connects a Client to it with opts, and
// stops both when the test ends.
func New(tb TB, opts ...smartlimit.Option) *Server {
	tb.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		tb.Fatalf("smartlimittest: starting miniredis: %v", err)
	}
	tb.Cleanup(mr.Close)
	// TIME in scripts follows SetTime; key TTLs follow it only with
	// ClockTTL. FastForward would move TTLs alone, so it is never used.
	mr.SetTime(T0)
	mr.ClockTTL(true)
	rc, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{mr.Addr()},
		DisableCache: true, // miniredis has no client tracking
	})
	if err != nil {
		tb.Fatalf("smartlimittest: connecting to miniredis: %v", err)
	}
	tb.Cleanup(rc.Close)
	c, err := smartlimit.New(rc, opts...)
	if err != nil {
		tb.Fatalf("smartlimittest: %v", err)
	}
	return &Server{Miniredis: mr, Redis: rc, Client: c, now: T0, latest: T0}
}

// Now returns the server's current time.
func (s *Server) Now() time.Time { return s.now }

// SetTime moves the server's clock, and with it TIME and key expiry, to t.
// The clock may move backwards, as a real server's can: key expiry then
// stands still until the clock passes the latest time it was set to, as a
// real Redis's does, whose keys expire at absolute times. (miniredis alone
// would count a step back and forth again as time passed.)
func (s *Server) SetTime(t time.Time) {
	s.now = t
	if t.Before(s.latest) {
		// Apply the forward time still pending (miniredis applies it on
		// the next access, and ClockTTL would drop it), then freeze.
		s.Miniredis.DB(0)
		s.Miniredis.ClockTTL(false)
		s.Miniredis.SetTime(t)
		s.back = true
		return
	}
	if s.back {
		// Past the step back: TTLs run again from the latest time.
		s.Miniredis.SetTime(s.latest)
		s.Miniredis.ClockTTL(true)
		s.back = false
	}
	s.latest = t
	s.Miniredis.SetTime(t)
}

// Advance moves the server's clock forward by d.
func (s *Server) Advance(d time.Duration) { s.SetTime(s.now.Add(d)) }
