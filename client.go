package smartlimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// DefaultPrefix is the key prefix a Client uses unless WithPrefix says
// otherwise.
const DefaultPrefix = "sl"

// Client is the Redis tier: every check runs one of the embedded Lua scripts
// inside Redis (standalone, Sentinel or Cluster), atomically, in one round
// trip. It is safe for simultaneous use by multiple goroutines.
//
// A check of key under a limit touches the Redis keys
//
//	PREFIX:{KEY}:ALGORITHM:R:P:CAPACITY:sSTATE
//
// where R/P is the limit's rate per microsecond (for bucket algorithms
// reduced to lowest terms, so 10/s and 20/2s share state; for windows the
// rate and the period in µs), and STATE the version of the algorithm's
// state format (Script.State). All of one user key's limits share a
// Cluster hash slot, a changed limit starts from fresh state, a new state
// format never reads an old one's state, and a script that changes but
// keeps its state format keeps every key and count. Every key expires when
// its state is back to full.
//
// Every call returns by the end of its context, even while Redis stalls,
// and once the context has ended a check (AllowN, AllowMany, AllowAll,
// Peek, Acquire) returns the context's error, never a Result: a request
// whose caller gave up is not let through. (Reset and a lease's release
// report what Redis answered: what they did is done.)
//
// On a standalone Redis or behind Sentinel, concurrent checks share script
// calls (see WithCoalescing), which under load costs Redis about half the
// CPU per check; WithoutCoalescing turns that off.
type Client struct {
	rc      rueidis.Client
	prefix  string
	now     func() time.Time // nil: Redis TIME inside the script
	cluster bool
	co      *coalescer // nil: every check is a script call of its own
	coSet   bool       // WithCoalescing or WithoutCoalescing was given

	stalls stalls // where and how calls take the detached path (see do)
}

// Option configures a Client.
type Option func(*Client) error

// WithPrefix sets the prefix of every Redis key (DefaultPrefix by default).
// It must not contain '{' or '}'.
func WithPrefix(prefix string) Option {
	return func(c *Client) error {
		for _, r := range prefix {
			if r == '{' || r == '}' {
				return &InputError{Field: "prefix", Value: prefix, Reason: "must not contain '{' or '}'"}
			}
		}
		c.prefix = prefix
		return nil
	}
}

// WithClientClock makes the Client send its own time with every check
// instead of letting the script read Redis TIME, for platforms that refuse
// TIME inside scripts. now is the clock (time.Now when nil); any time from
// the Unix epoch on is sent as it is. The scripts never let time run
// backwards for a key: a check whose time is before the key's state
// decides at the state's time, and its RetryAfter and ResetAfter are
// measured on its own clock. Clocks that disagree between app servers still
// make limits looser or stricter by the skew.
func WithClientClock(now func() time.Time) Option {
	return func(c *Client) error {
		if now == nil {
			now = time.Now
		}
		c.now = now
		return nil
	}
}

// New returns a Client that checks limits on c. The rueidis client stays
// the caller's: Close it when done. Scripts need not be loaded first; see
// LoadScripts.
//
// Unless an option says otherwise, the Client coalesces concurrent checks
// (WithCoalescing(0)) on a standalone Redis or behind Sentinel, and not on a
// Cluster, where a batch splits by hash slot and would wait for its slowest
// node.
func New(c rueidis.Client, opts ...Option) (*Client, error) {
	if c == nil {
		return nil, fmt.Errorf("smartlimit: New: nil rueidis.Client")
	}
	cl := &Client{rc: c, prefix: DefaultPrefix, cluster: c.Mode() == rueidis.ClientModeCluster}
	cl.stalls.init(cl.cluster)
	for _, o := range opts {
		if err := o(cl); err != nil {
			return nil, err
		}
	}
	if !cl.coSet && !cl.cluster {
		cl.co = newCoalescer(cl, 0)
	}
	return cl, nil
}

// Redis returns the rueidis client that c runs on.
func (c *Client) Redis() rueidis.Client { return c.rc }

var _ interface {
	Limiter
	Peeker
	MultiLimiter
	MultiResultLimiter
	Leaser
} = (*Client)(nil)

// Key returns the Redis key that holds key's state under l. It is for
// operators and tests; checks compute it themselves.
func (c *Client) Key(key string, l Limit) (string, error) {
	p, err := check(key, l, 0)
	if err != nil {
		return "", err
	}
	return c.redisKey(key, l.Algorithm, &p), nil
}

func (c *Client) redisKey(key string, a Algorithm, p *algo.Params) string {
	var buf [128]byte
	return string(c.appendRedisKey(buf[:0], key, a, p))
}

// appendRedisKey appends the Redis key of key under a and p to b.
func (c *Client) appendRedisKey(b []byte, key string, a Algorithm, p *algo.Params) []byte {
	return c.appendStateKey(b, key, a, p, scripts[a].State)
}

// appendStateKey is appendRedisKey for the state format state.
func (c *Client) appendStateKey(b []byte, key string, a Algorithm, p *algo.Params, state int) []byte {
	b = append(b, c.prefix...)
	b = append(b, ":{"...)
	b = append(b, key...)
	b = append(b, "}:"...)
	b = append(b, a.String()...)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.R, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.P, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, p.Burst, 10)
	b = append(b, ":s"...)
	return strconv.AppendInt(b, int64(state), 10)
}

// Modes of the scripts (ARGV[2]).
const (
	modeEach    = "0"
	modeAll     = "1"
	modePeek    = "2"
	modeRelease = "3"
)

// itemArgs are one item's ARGV but the cost, formatted once per limit.
type itemArgs struct{ alg, p, r, b string }

func formatItem(a Algorithm, p *algo.Params) itemArgs {
	return itemArgs{strconv.Itoa(int(a)), strconv.FormatInt(p.P, 10), strconv.FormatInt(p.R, 10), strconv.FormatInt(p.Burst, 10)}
}

// withLease returns it with B set to the lease ID that a Concurrency item
// takes: leaseID, or a random one when leaseID is empty (a lease nobody can
// release: it expires).
func withLease(a Algorithm, it itemArgs, leaseID string) itemArgs {
	switch {
	case leaseID != "":
		it.b = leaseID
	case a == Concurrency:
		it.b = NewLeaseID()
	}
	return it
}

// runArgs builds a script call's ARGV after the two header ARGV: its items
// in runs that share a limit, each run its limit's four ARGV, the run's
// length and then each item's cost (see lua/_run.lua). A batch mostly
// repeats one limit, which then costs Redis one parse instead of one per
// item.
type runArgs struct {
	args  []string
	it    itemArgs // the open run's limit
	count int      // items in the open run
	at    int      // the index in args of the open run's length
}

// add appends an item of limit it and cost n.
func (w *runArgs) add(it itemArgs, n int64) {
	if w.count == 0 || it != w.it {
		w.end()
		w.args = append(w.args, it.alg, it.p, it.r, it.b, "")
		w.it, w.count, w.at = it, 0, len(w.args)-1
	}
	w.args = append(w.args, strconv.FormatInt(n, 10))
	w.count++
}

// end closes the open run. Call it before sending args.
func (w *runArgs) end() {
	if w.count > 0 {
		w.args[w.at] = strconv.Itoa(w.count)
	}
}

// oneItem appends the ARGV of a call with a single item: a run of one.
func oneItem(args []string, it itemArgs, n int64) []string {
	return append(args, it.alg, it.p, it.r, it.b, "1", strconv.FormatInt(n, 10))
}

// nowArg is a script call's ARGV[1]: the client's time in µs, or empty for
// Redis TIME. Empty, not 0, so that the Unix epoch is a client time too.
func (c *Client) nowArg() string {
	if c.now == nil {
		return ""
	}
	return strconv.FormatInt(c.now().UnixMicro(), 10)
}

// evalCmd builds EVALSHA of s, or EVAL with its source when sha is false.
func (c *Client) evalCmd(s *Script, sha bool, keys, args []string) rueidis.Completed {
	if sha {
		return c.rc.B().Evalsha().Sha1(s.SHA1).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	return c.rc.B().Eval().Script(s.Source).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// run sends one script call: EVALSHA, and EVAL only when Redis answers
// NOSCRIPT, which means the script did not run. Any other failure, a
// timeout above all, may have counted and is returned, never re-sent.
func (c *Client) run(ctx context.Context, s *Script, keys, args []string) ([]rueidis.RedisMessage, error) {
	resp := c.do(ctx, c.evalCmd(s, true, keys, args))
	if err := resp.Error(); err != nil {
		if re, ok := rueidis.IsRedisErr(err); ok && re.IsNoScript() {
			resp = c.do(ctx, c.evalCmd(s, false, keys, args))
		}
	}
	return replyArray(s, resp)
}

// A rueidis connection holds its commands in a ring of fixed size (1024 by
// default, ClientOption.RingScaleEachConn), and a command whose caller's
// context ended stays in its slot until Redis answers it. When Redis
// stalls (CLIENT PAUSE, a long script, a network partition), every check
// that times out leaves its command behind; once the ring is full, the
// next Do waits for a free slot in ring.PutOne, which takes no context, so
// callers block until Redis answers again, far past their deadlines.
//
// Client therefore sends commands in one of two ways. The direct path is
// rc.Do with the caller's context, at no extra cost. Once a call's context
// ends before its reply, its range of hash slots (see slotRanges) is marked
// stalled, and calls there take the detached path: a goroutine sends the
// command with a context that neither ends nor has a deadline, holding one
// of the range's tokens until Redis answers, while the caller waits for
// the reply, a token, or its context, whichever comes first. Redis' answer
// to a detached command clears the mark. The tokens count exactly the
// detached commands in rueidis' rings, so a stall fills at most
// maxDetached slots of a ring beyond the commands that direct calls left
// as it began, and the slow path costs a goroutine per call only while
// Redis does not answer.

// maxDetached bounds the detached commands awaiting Redis, and maxDirect
// the direct ones in flight: together well below the default ring of 1024
// slots per connection, even when every command goes to one connection.
// A range is marked stalled only once a call's context ends, so without
// maxDirect more callers than a ring holds would fill it before the first
// deadline passed, and the rest would wait for Redis in ring.PutOne, past
// their deadlines. Past maxDirect, a call waits for a direct call to end, or
// for its own context: on a healthy server that is about a round trip,
// and the ring never holds more than it can.
const (
	maxDetached = 256
	maxDirect   = 512
)

// slotRanges is how many ranges of 256 hash slots a Cluster Client marks
// stalled apart, each with its share of the tokens. A node serves ranges
// of slots, so a stalled node sends its own ranges down the detached path
// and uses up their tokens only, not those of the healthy nodes; just the
// few ranges that straddle two nodes share a stall. A range is coarse on
// purpose: each range costs a direct call's command in the ring before it
// is marked. A standalone server is one range.
const slotRanges = 64

// stalls holds the stall marks and tokens of a Client's detached path.
type stalls struct {
	marks   atomic.Uint64   // a bit per range
	direct  chan struct{}   // a slot per direct call in flight, maxDirect in all
	tokens  []chan struct{} // per range; one on a standalone server
	cluster bool
}

func (st *stalls) init(cluster bool) {
	st.cluster = cluster
	st.direct = make(chan struct{}, maxDirect)
	st.tokens = make([]chan struct{}, 1)
	if cluster {
		st.tokens = make([]chan struct{}, slotRanges)
	}
	for i := range st.tokens {
		st.tokens[i] = make(chan struct{}, maxDetached/len(st.tokens))
	}
}

// rng returns the range of a command's slot: on a Cluster its 256-slot
// range of hash slots; on a standalone server, one server, range 0.
func (st *stalls) rng(slot uint16) uint {
	if !st.cluster {
		return 0
	}
	return uint(slot&16383) >> 8
}

func (st *stalls) stalled(slot uint16) bool {
	return st.marks.Load()&(1<<st.rng(slot)) != 0
}

func (st *stalls) mark(slot uint16)  { st.marks.Or(1 << st.rng(slot)) }
func (st *stalls) clear(slot uint16) { st.marks.And(^(1 << st.rng(slot))) }

func (st *stalls) pool(slot uint16) chan struct{} {
	return st.tokens[st.rng(slot)%uint(len(st.tokens))]
}

// enter takes a direct call's slot, waiting while maxDirect are in flight,
// and returns ctx's error if ctx ends first; leave gives the slot back.
func (st *stalls) enter(ctx context.Context) error {
	select {
	case st.direct <- struct{}{}:
		return nil
	default:
	}
	select {
	case st.direct <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *stalls) leave() { <-st.direct }

// do is rc.Do that returns by ctx's end even when Redis stalls; see above.
func (c *Client) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if err := ctx.Err(); err != nil {
		return rueidis.NewErrorResult(err) // rueidis would not send it either
	}
	if c.stalls.stalled(cmd.Slot()) {
		return c.doDetached(ctx, cmd)
	}
	if err := c.stalls.enter(ctx); err != nil {
		return rueidis.NewErrorResult(err)
	}
	if c.stalls.stalled(cmd.Slot()) { // marked while it waited for the slot
		c.stalls.leave()
		return c.doDetached(ctx, cmd)
	}
	return c.direct(ctx, cmd)
}

// direct is rc.Do of a call that holds a direct slot, which it gives back
// however rc.Do returns, and only after marking the range stalled if the
// caller's context ended first: a caller waiting for the slot must see the
// mark, or it too would leave a command in the ring.
func (c *Client) direct(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	defer c.stalls.leave()
	resp := c.rc.Do(ctx, cmd)
	if resp.NonRedisError() != nil && ctx.Err() != nil {
		c.stalls.mark(cmd.Slot()) // the command may wait in its ring slot for Redis
	}
	return resp
}

// doDetached sends cmd from a goroutine of its own; see above.
func (c *Client) doDetached(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	tokens := c.stalls.pool(cmd.Slot())
	select {
	case tokens <- struct{}{}:
	case <-ctx.Done():
		return rueidis.NewErrorResult(ctx.Err())
	}
	reply := make(chan rueidis.RedisResult, 1)
	go func() {
		// Without a deadline rueidis waits for the reply, or for the
		// connection to fail (ClientOption.ConnWriteTimeout), so the
		// token is held exactly as long as the command's ring slot.
		resp := c.rc.Do(context.WithoutCancel(ctx), cmd)
		if resp.NonRedisError() == nil {
			c.stalls.clear(cmd.Slot()) // Redis answers again
		}
		<-tokens
		reply <- resp
	}()
	select {
	case resp := <-reply:
		return resp
	case <-ctx.Done():
		return rueidis.NewErrorResult(ctx.Err())
	}
}

// doMulti is rc.DoMulti as do is rc.Do: the detached path when any
// command's slot is stalled.
func (c *Client) doMulti(ctx context.Context, cmds rueidis.Commands) []rueidis.RedisResult {
	if err := ctx.Err(); err != nil {
		return errorResults(len(cmds), err)
	}
	for _, cmd := range cmds {
		if c.stalls.stalled(cmd.Slot()) {
			return c.doMultiDetached(ctx, cmds, cmd.Slot())
		}
	}
	if err := c.stalls.enter(ctx); err != nil {
		return errorResults(len(cmds), err)
	}
	for _, cmd := range cmds {
		if c.stalls.stalled(cmd.Slot()) { // marked while it waited for the slot
			c.stalls.leave()
			return c.doMultiDetached(ctx, cmds, cmd.Slot())
		}
	}
	return c.directMulti(ctx, cmds)
}

// doMultiDetached is doDetached for cmds, one of which is in a stalled slot.
func (c *Client) doMultiDetached(ctx context.Context, cmds rueidis.Commands, slot uint16) []rueidis.RedisResult {
	// One token for the call: rueidis queues a DoMulti as one ring slot
	// per node (ring.PutMulti).
	tokens := c.stalls.pool(slot)
	select {
	case tokens <- struct{}{}:
	case <-ctx.Done():
		return errorResults(len(cmds), ctx.Err())
	}
	reply := make(chan []rueidis.RedisResult, 1)
	go func() {
		resps := c.rc.DoMulti(context.WithoutCancel(ctx), cmds...)
		for i, resp := range resps {
			if resp.NonRedisError() == nil {
				c.stalls.clear(cmds[i].Slot())
			}
		}
		<-tokens
		reply <- resps
	}()
	select {
	case resps := <-reply:
		return resps
	case <-ctx.Done():
		return errorResults(len(cmds), ctx.Err())
	}
}

// directMulti is direct for rc.DoMulti.
func (c *Client) directMulti(ctx context.Context, cmds rueidis.Commands) []rueidis.RedisResult {
	defer c.stalls.leave()
	resps := c.rc.DoMulti(ctx, cmds...)
	if ctx.Err() != nil {
		for i, resp := range resps {
			if resp.NonRedisError() != nil {
				c.stalls.mark(cmds[i].Slot())
			}
		}
	}
	return resps
}

func errorResults(n int, err error) []rueidis.RedisResult {
	resps := make([]rueidis.RedisResult, n)
	for i := range resps {
		resps[i] = rueidis.NewErrorResult(err)
	}
	return resps
}

func replyArray(s *Script, resp rueidis.RedisResult) ([]rueidis.RedisMessage, error) {
	vals, err := resp.ToArray()
	if err != nil {
		return nil, fmt.Errorf("smartlimit: %s: %w", s.Name, err)
	}
	return vals, nil
}

// decode turns five reply integers, from vals[i:], into a Result.
func decode(s *Script, vals []rueidis.RedisMessage, i int, capacity int64) (Result, error) {
	if len(vals) < i+5 {
		return Result{}, fmt.Errorf("%w: %s returned %d values, want at least %d", ErrUnexpectedReply, s.Name, len(vals), i+5)
	}
	var v [5]int64
	for j := range v {
		x, err := vals[i+j].AsInt64()
		if err != nil {
			return Result{}, fmt.Errorf("%w: %s value %d: %v", ErrUnexpectedReply, s.Name, i+j, err)
		}
		v[j] = x
	}
	r := Result{
		Allowed:    v[0] == 1,
		Limit:      capacity,
		Remaining:  v[1],
		ResetAfter: time.Duration(v[2]) * time.Microsecond,
		RetryAfter: time.Duration(v[3]) * time.Microsecond,
		Delay:      time.Duration(v[4]) * time.Microsecond,
		Tier:       TierRedis,
	}
	if v[3] == algo.Never {
		r.RetryAfter = Never
	}
	return r, nil
}

// Allow is shorthand for AllowN(ctx, key, l, 1).
func (c *Client) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	return c.AllowN(ctx, key, l, 1)
}

// AllowN reports whether n units may pass for key under l now, consuming
// them if so, in one atomic script call. n = 0 asks without consuming. A
// Concurrency limit acquires a lease that only expires; use Acquire to be
// able to release it.
func (c *Client) AllowN(ctx context.Context, key string, l Limit, n int64) (Result, error) {
	return c.one(ctx, key, l, n, modeEach, "")
}

// Peek returns key's state under l without consuming anything: Remaining is
// what is available now and Allowed reports whether a request of cost 1
// would pass.
func (c *Client) Peek(ctx context.Context, key string, l Limit) (Result, error) {
	return c.one(ctx, key, l, 1, modePeek, "")
}

// Wait blocks until one unit passes for key under l, or ctx ends; see WaitN.
func (c *Client) Wait(ctx context.Context, key string, l Limit) error {
	return WaitN(ctx, c, key, l, 1)
}

func (c *Client) one(ctx context.Context, key string, l Limit, n int64, mode, id string) (Result, error) {
	p, err := check(key, l, n)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if c.co != nil && mode == modeEach && id == "" {
		r, err = c.co.allow(ctx, Request{Key: key, Limit: l, Cost: n}, p)
	} else {
		r, err = c.sendOne(ctx, key, l, &p, n, mode, id)
	}
	if err == nil {
		err = ended(ctx)
	}
	if err != nil {
		return Result{}, err
	}
	return r, nil
}

// ended returns ctx's error if ctx ended, for a reply that came too late:
// a caller whose context ended has given up, and must not be let through
// on a Result it can no longer act on in time. The units may have been
// counted, as with any timeout.
func ended(ctx context.Context) error { return ctx.Err() }

// sendOne runs one validated check in its algorithm's script.
func (c *Client) sendOne(ctx context.Context, key string, l Limit, p *algo.Params, n int64, mode, id string) (Result, error) {
	s := scripts[l.Algorithm]
	keys := [1]string{c.redisKey(key, l.Algorithm, p)}
	var argv [8]string
	args := oneItem(append(argv[:0], c.nowArg(), mode), withLease(l.Algorithm, formatItem(l.Algorithm, p), id), n)
	vals, err := c.run(ctx, s, keys[:], args)
	if err != nil {
		return Result{}, err
	}
	return decode(s, vals, 0, p.Burst)
}

// AllowAll consumes n units for key under every limit, or under none when
// any denies, in one script call: for example 10/s and 1000/day together.
// The limits may use different algorithms but must differ from each other.
// The Result is the binding one, as Combine describes.
func (c *Client) AllowAll(ctx context.Context, key string, n int64, limits ...Limit) (Result, error) {
	rs, err := c.AllowAllResults(ctx, key, n, limits...)
	if err != nil {
		return Result{}, err
	}
	return Combine(rs), nil
}

// AllowAllResults is AllowAll with each limit's own Result, in the order of
// limits; see MultiResultLimiter.
func (c *Client) AllowAllResults(ctx context.Context, key string, n int64, limits ...Limit) ([]Result, error) {
	if len(limits) == 0 {
		return nil, &InputError{Field: "limits", Value: "", Reason: "AllowAll needs at least one limit"}
	}
	keys := make([]string, len(limits))
	w := runArgs{args: append(make([]string, 0, 2+6*len(limits)), c.nowArg(), modeAll)}
	caps := make([]int64, len(limits))
	for i, l := range limits {
		p, err := check(key, l, n)
		if err != nil {
			return nil, err
		}
		if l.Algorithm == Concurrency {
			return nil, &InputError{Field: "algorithm", Value: l.String(), Reason: "AllowAll does not take Concurrency limits; use Acquire"}
		}
		keys[i] = c.redisKey(key, l.Algorithm, &p)
		for _, k := range keys[:i] {
			if k == keys[i] {
				return nil, &InputError{Field: "limits", Value: l.String(), Reason: "the same limit twice"}
			}
		}
		caps[i] = p.Burst
		w.add(formatItem(l.Algorithm, &p), n)
	}
	w.end()
	s := scripts[numAlgorithms]
	vals, err := c.run(ctx, s, keys, w.args)
	if err == nil {
		err = ended(ctx)
	}
	if err != nil {
		return nil, err
	}
	rs := make([]Result, len(limits))
	for i := range rs {
		if rs[i], err = decode(s, vals, 5*i, caps[i]); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// Acquire takes a lease for key under l, which must be a Concurrency limit.
// When the Result is not Allowed the lease is nil. Release the lease when
// the work is done; otherwise it expires after l.Period (as does a lease
// whose grant arrived after ctx ended: Acquire then returns ctx's error).
func (c *Client) Acquire(ctx context.Context, key string, l Limit) (*Lease, Result, error) {
	if l.Algorithm != Concurrency {
		return nil, Result{}, &InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "Acquire takes a Concurrency limit"}
	}
	id := NewLeaseID()
	r, err := c.one(ctx, key, l, 1, modeEach, id)
	if err != nil || !r.Allowed {
		return nil, r, err
	}
	return NewLease(key, l, id, c.release), r, nil
}

func (c *Client) release(ctx context.Context, ls *Lease) error {
	_, err := c.ReleaseLease(ctx, ls.Key, ls.Limit, ls.ID)
	return err
}

// ReleaseLease gives back the lease id of key under l, a Concurrency limit,
// and reports whether it was still held. Lease.Release is the usual way; this
// is for a lease whose *Lease is not at hand, such as one whose ID another
// process printed.
func (c *Client) ReleaseLease(ctx context.Context, key string, l Limit, id string) (held bool, err error) {
	p, err := check(key, l, 0)
	if err != nil {
		return false, err
	}
	switch {
	case l.Algorithm != Concurrency:
		return false, &InputError{Field: "algorithm", Value: l.Algorithm.String(), Reason: "ReleaseLease takes a Concurrency limit"}
	case id == "":
		return false, &InputError{Field: "lease", Value: id, Reason: "must not be empty"}
	}
	s := scripts[Concurrency]
	keys := [1]string{c.redisKey(key, Concurrency, &p)}
	var argv [8]string
	args := oneItem(append(argv[:0], c.nowArg(), modeRelease), withLease(Concurrency, formatItem(Concurrency, &p), id), 0)
	vals, err := c.run(ctx, s, keys[:], args)
	if err != nil {
		return false, err
	}
	if len(vals) != 1 {
		return false, fmt.Errorf("%w: %s release returned %d values, want 1", ErrUnexpectedReply, s.Name, len(vals))
	}
	n, err := vals[0].AsInt64()
	if err != nil {
		return false, fmt.Errorf("%w: %s release: %v", ErrUnexpectedReply, s.Name, err)
	}
	return n == 1, nil
}

// NewLeaseID returns a random lease ID: 16 bytes from crypto/rand, in hex.
// It is for implementations of Leaser outside this package, whose leases
// need IDs that no two acquisitions share (and that never equal the
// reserved "hw").
func NewLeaseID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// Reset forgets key's state under l: the next check finds a full limit.
func (c *Client) Reset(ctx context.Context, key string, l Limit) error {
	p, err := check(key, l, 0)
	if err != nil {
		return err
	}
	if err := c.do(ctx, c.rc.B().Del().Key(c.redisKey(key, l.Algorithm, &p)).Build()).Error(); err != nil {
		return fmt.Errorf("smartlimit: reset: %w", err)
	}
	return nil
}
