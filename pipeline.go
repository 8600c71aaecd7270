package smartlimit

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"
	"github.com/smartlimit/smartlimit/internal/algo"
)

// maxBatchItems caps the items of one script call: each takes one key and
// at most six ARGV (a run of its own), and the smallest cap a managed
// service puts on one command is 3,999 arguments (ElastiCache Serverless).
const maxBatchItems = 500

// AllowMany decides every request as AllowN would and returns the results
// in request order, in one round trip per Redis node.
//
// Requests are sent as few script calls as the server allows: on a
// standalone or Sentinel Redis, every request goes into one script call
// (chunked at 500); on a Cluster, requests are grouped by hash slot, one
// call per slot, and rueidis sends each node its calls in one pipeline, the
// nodes in parallel. A call whose requests share one algorithm runs that
// algorithm's script, and "multi" otherwise. Requests for the same key are
// decided in order.
//
// Bad input in any request is an *InputError before any I/O. When single
// calls fail (a node down, say), the other results are still returned, with
// a *BatchError that holds each failed item's error. When ctx ends before
// the replies, AllowMany returns ctx's error and no results.
func (c *Client) AllowMany(ctx context.Context, reqs []Request) ([]Result, error) {
	params := make([]algo.Params, len(reqs))
	for i, r := range reqs {
		var err error
		if i > 0 && r.Limit == reqs[i-1].Limit && r.Cost >= 0 && r.Limit.Algorithm != Concurrency {
			// Batches mostly repeat one limit: validate it once.
			params[i], err = params[i-1], checkKey(r.Key)
		} else {
			params[i], err = check(r.Key, r.Limit, r.Cost)
		}
		if err != nil {
			return nil, fmt.Errorf("smartlimit: request %d: %w", i, err)
		}
	}
	rs, err := c.sendMany(ctx, reqs, params)
	if err := ended(ctx); err != nil {
		return nil, err
	}
	return rs, err
}

// sendMany runs validated requests, with their limits' params, as AllowMany
// describes.
func (c *Client) sendMany(ctx context.Context, reqs []Request, params []algo.Params) ([]Result, error) {
	results := make([]Result, len(reqs))
	if len(reqs) == 0 {
		return results, nil
	}
	calls := c.batchCalls(reqs, params)
	cmds := make(rueidis.Commands, len(calls))
	for i, bc := range calls {
		cmds[i] = c.evalCmd(bc.script(), true, bc.keys, bc.args.args)
	}
	resps := c.doMulti(ctx, cmds)

	// NOSCRIPT means the script did not run: send those calls again with
	// EVAL, which also caches the script on that node.
	var retry []int
	for i, resp := range resps {
		if re, ok := rueidis.IsRedisErr(resp.Error()); ok && re.IsNoScript() {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		// A new slice: a detached DoMulti may still read cmds.
		evals := make(rueidis.Commands, 0, len(retry))
		for _, i := range retry {
			evals = append(evals, c.evalCmd(calls[i].script(), false, calls[i].keys, calls[i].args.args))
		}
		for j, resp := range c.doMulti(ctx, evals) {
			resps[retry[j]] = resp
		}
	}

	var errs []error
	for i, resp := range resps {
		s := calls[i].script()
		vals, err := replyArray(s, resp)
		for j, idx := range calls[i].idx {
			if err == nil {
				results[idx], err = decode(s, vals, 5*j, params[idx].Burst)
			}
			if err != nil {
				if errs == nil {
					errs = make([]error, len(reqs))
				}
				errs[idx] = err
			}
		}
	}
	if errs != nil {
		return results, &BatchError{Errs: errs}
	}
	return results, nil
}

// batchCall is one script call of a batch: the requests it carries (by
// index) and its KEYS and ARGV.
type batchCall struct {
	idx   []int
	keys  []string
	args  runArgs
	alg   Algorithm // of every item, unless mixed
	mixed bool
}

// script returns the script that runs bc: its items' algorithm's own, or
// "multi" for a mix. Every script runs batches of its own algorithms, and
// the smaller one costs Redis less per call: each script defines its
// algorithms' functions anew on every call.
func (bc *batchCall) script() *Script {
	if bc.mixed {
		return scripts[numAlgorithms]
	}
	return scripts[bc.alg]
}

// batchCalls groups requests into script calls: one group on a standalone
// server, one per hash slot on a Cluster, each cut at maxBatchItems.
func (c *Client) batchCalls(reqs []Request, params []algo.Params) []*batchCall {
	var calls []*batchCall
	open := map[uint16]*batchCall{} // the call being filled, per slot
	now := c.nowArg()
	var last Limit // batches mostly repeat one limit: format it once
	var it itemArgs
	// Every Redis key goes into one buffer, made a string once and sliced:
	// one allocation for the batch's keys instead of one per key.
	buf := make([]byte, 0, len(reqs)*(len(c.prefix)+48))
	ends := make([]int, len(reqs))
	for i, r := range reqs {
		var slot uint16
		if c.cluster {
			slot = Slot(r.Key)
		}
		bc := open[slot]
		if bc == nil || len(bc.idx) == maxBatchItems {
			// On a standalone server one call takes every request: size it
			// once. On a Cluster, calls grow with their slot's requests.
			size := 8
			if !c.cluster {
				size = min(len(reqs)-i, maxBatchItems)
			}
			bc = &batchCall{
				idx:  make([]int, 0, size),
				args: runArgs{args: append(make([]string, 0, 8+size), now, modeEach)},
			}
			open[slot] = bc
			calls = append(calls, bc)
		}
		a := r.Limit.Algorithm
		if len(bc.idx) == 0 {
			bc.alg = a
		} else if a != bc.alg {
			bc.mixed = true
		}
		bc.idx = append(bc.idx, i)
		buf = c.appendRedisKey(buf, r.Key, a, &params[i])
		ends[i] = len(buf)
		if i == 0 || r.Limit != last {
			last, it = r.Limit, formatItem(a, &params[i])
		}
		bc.args.add(withLease(a, it, ""), r.Cost)
	}
	all := string(buf)
	for _, bc := range calls {
		bc.args.end()
		bc.keys = make([]string, len(bc.idx))
		for j, i := range bc.idx {
			start := 0
			if i > 0 {
				start = ends[i-1]
			}
			bc.keys[j] = all[start:ends[i]]
		}
	}
	return calls
}

// Slot returns the Redis Cluster hash slot of every Redis key that a check
// of key touches: the CRC16 of key, which is the keys' hash tag, mod 16384.
func Slot(key string) uint16 {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^key[i]]
	}
	return crc & 16383
}

// crc16tab is the table of CRC16-CCITT (XMODEM), the checksum Redis Cluster
// hashes keys with.
var crc16tab = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
