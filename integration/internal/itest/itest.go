// Package itest holds what the integration tests share: a key prefix of
// each test's own, Redis TIME, a classifier for the errors a client may
// return while Redis is down, and the conformance expectations that every
// algorithm must meet on a real server.
//
// On a real server the clock is Redis TIME, which the test does not set, so
// the expectations are bounds: a Remaining that counts down exactly while
// the limit's refill is far slower than the test, a RetryAfter in
// (0, the algorithm's bound], and a RetryAfter that is honest: after
// sleeping it, the request passes.
package itest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// Prefix returns a key prefix no other test or run uses, so that tests can
// share a server (one named by the environment, above all) without seeing
// each other's keys.
func Prefix() string {
	var b [4]byte
	rand.Read(b[:])
	return "slit-" + hex.EncodeToString(b[:])
}

// NewClient returns a smartlimit.Client on rc with a prefix of the test's
// own.
func NewClient(tb testing.TB, rc rueidis.Client) *smartlimit.Client {
	tb.Helper()
	c, err := smartlimit.New(rc, smartlimit.WithPrefix(Prefix()))
	if err != nil {
		tb.Fatalf("smartlimit.New: %v", err)
	}
	return c
}

// RedisTime returns the server's clock, as the scripts read it. On a
// cluster it asks a random node; the nodes of a cluster here share a
// machine clock.
func RedisTime(ctx context.Context, rc rueidis.Client) (time.Time, error) {
	t, err := rc.Do(ctx, rc.B().Time().Build()).AsStrSlice()
	if err != nil {
		return time.Time{}, err
	}
	if len(t) != 2 {
		return time.Time{}, errors.New("itest: TIME answered " + strconv.Itoa(len(t)) + " values")
	}
	sec, err1 := strconv.ParseInt(t[0], 10, 64)
	usec, err2 := strconv.ParseInt(t[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, usec*1000), nil
}

// TransportError reports whether err is one a caller can tell apart as
// "Redis could not be reached or did not answer in time", the errors a
// failover coordinator switches tiers on: a network error, a refused or
// reset connection, a context deadline or cancellation, a connection that
// closed mid-reply, or rueidis' ErrClosing.
func TransportError(err error) bool {
	var ne net.Error
	switch {
	case err == nil:
		return false
	case errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, rueidis.ErrClosing):
		return true
	}
	return false
}
