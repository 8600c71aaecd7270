package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit"
)

// Environment variables shared by the commands.
const (
	envRedisURL = "SMARTLIMIT_REDIS_URL"
	envPrefix   = "SMARTLIMIT_PREFIX"
)

// defaultRedisURL is the Redis that health, scripts and check use when
// neither --redis nor SMARTLIMIT_REDIS_URL names one.
const defaultRedisURL = "redis://127.0.0.1:6379"

// redisOptions says which Redis a command talks to.
type redisOptions struct {
	// URL is a Redis URL as rueidis.ParseURL reads it; "" means the
	// command's default.
	URL string
	// Embedded runs an in-process miniredis instead of dialing URL.
	Embedded bool
	// Prefix is the key prefix (smartlimit.DefaultPrefix when "").
	Prefix string
}

// addRedisFlags defines --redis, --embedded and --prefix on c. embeddedByDefault
// is what serve and bench do when no URL is given.
func addRedisFlags(c *command, o *redisOptions, embeddedByDefault bool) {
	dflt := defaultRedisURL
	if embeddedByDefault {
		dflt = "an embedded miniredis"
	}
	c.Flag.StringVar(&o.URL, "redis", "", "Redis `URL` (redis://, rediss://, ?addr= for a Cluster, ?master_set= for Sentinel); default "+dflt)
	c.Flag.BoolVar(&o.Embedded, "embedded", false, "run against an in-process miniredis instead of a Redis server")
	c.Flag.StringVar(&o.Prefix, "prefix", smartlimit.DefaultPrefix, "key `prefix` of every Redis key")
	c.bindEnv("redis", envRedisURL)
	c.bindEnv("prefix", envPrefix)
}

// check reports conflicting Redis flags as a usage error. It runs after c
// parsed the flags.
func (o *redisOptions) check(c *command) error {
	if o.Embedded && c.Given("redis") {
		return usagef("--redis and --embedded exclude each other")
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		// smartlimit.WithPrefix says the same, but only once connected.
		return usagef("--prefix %q: must not contain '{' or '}'", o.Prefix)
	}
	if o.Embedded {
		o.URL = "" // --embedded beats $SMARTLIMIT_REDIS_URL: a flag beats the environment
	}
	if o.URL != "" {
		if _, err := rueidis.ParseURL(o.URL); err != nil {
			return usagef("--redis %s: %v", redactURL(o.URL), urlError(err))
		}
	}
	return nil
}

// target is a connected Redis: a rueidis client and a smartlimit.Client on
// it, and, when embedded, the miniredis it runs.
type target struct {
	Redis    rueidis.Client
	Client   *smartlimit.Client
	Embedded *miniredis.Miniredis // nil for a real server
	// Name describes the target for humans, without a password.
	Name string

	stop chan struct{}
}

// connect dials the Redis that o names, or starts an embedded one when o
// says so or when o names none and embeddedByDefault. Close the target.
func connect(ctx context.Context, o redisOptions, embeddedByDefault bool) (*target, error) {
	if o.Embedded || (o.URL == "" && embeddedByDefault) {
		return startEmbedded(ctx, o)
	}
	u := o.URL
	if u == "" {
		u = defaultRedisURL
	}
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--redis %s: %w", redactURL(u), urlError(err))}
	}
	// The tool never reads through rueidis' client-side cache, and managed
	// services and miniredis may refuse CLIENT TRACKING.
	opt.DisableCache = true
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", redactURL(u), err)
	}
	return newTarget(rc, nil, redactURL(u), o.Prefix)
}

// startEmbedded starts a miniredis on a free loopback port.
func startEmbedded(ctx context.Context, o redisOptions) (*target, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded miniredis: %w", err)
	}
	opt := rueidis.ClientOption{
		InitAddress:  []string{mr.Addr()},
		DisableCache: true, // miniredis has no CLIENT TRACKING
		// miniredis answers CLUSTER SLOTS, so rueidis would treat it as a
		// one-node Cluster and split every batch by hash slot; it is one
		// standalone server.
		ForceSingleClient: true,
	}
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		mr.Close()
		return nil, fmt.Errorf("connecting to the embedded miniredis: %w", err)
	}
	t, err := newTarget(rc, mr, "embedded miniredis on "+mr.Addr(), o.Prefix)
	if err != nil {
		return nil, err
	}
	// Start as an operator's Redis would be after "smartlimit scripts load".
	if err := smartlimit.LoadScripts(ctx, rc); err != nil {
		t.Close()
		return nil, err
	}
	// miniredis reads TIME from the wall clock but counts TTLs down only
	// when told to: tell it every second, so idle keys expire as in Redis.
	go func(stop chan struct{}) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mr.FastForward(time.Second)
			}
		}
	}(t.stop)
	return t, nil
}

func newTarget(rc rueidis.Client, mr *miniredis.Miniredis, name, prefix string) (*target, error) {
	var opts []smartlimit.Option
	if prefix != "" {
		opts = append(opts, smartlimit.WithPrefix(prefix))
	}
	c, err := smartlimit.New(rc, opts...)
	if err != nil {
		rc.Close()
		if mr != nil {
			mr.Close()
		}
		return nil, &usageError{err}
	}
	return &target{Redis: rc, Client: c, Embedded: mr, Name: name, stop: make(chan struct{})}, nil
}

// Close closes the client and stops the embedded server, if any.
func (t *target) Close() {
	close(t.stop)
	t.Redis.Close()
	if t.Embedded != nil {
		t.Embedded.Close()
	}
}

// redactURL returns u with its password replaced by "xxxxx", for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)" // it may hold a password we cannot find
	}
	return p.Redacted()
}

// urlError drops the URL from url.Parse's errors, which quote it whole,
// password included.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
