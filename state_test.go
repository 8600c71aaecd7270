package smartlimit

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

// A script whose source changes but whose state format does not (a faster
// script, say) reads and writes the keys and counts of the one before it,
// so a deploy keeps every limit and old and new instances share them; a new
// state format is a new key.
func TestSourceChangeKeepsState(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	c, err := New(rc, WithoutCoalescing())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for a := range numAlgorithms {
		t.Run(a.String(), func(t *testing.T) {
			l := Limit{Algorithm: a, Rate: 5, Period: time.Second}
			if r, err := c.Allow(ctx, "k", l); err != nil || r.Remaining != 4 {
				t.Fatalf("Allow = %+v, %v", r, err)
			}
			// The next version of the script: new source, new SHA1, the
			// same state format.
			next := *scripts[a]
			next.Version++
			next.Source = strings.Replace(next.Source, "\n", "\n-- the next version: faster, same state\n", 1)
			sum := sha1.Sum([]byte(next.Source))
			next.SHA1 = hex.EncodeToString(sum[:])
			p, err := check("k", l, 1)
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{c.redisKey("k", a, &p)}
			args := oneItem([]string{c.nowArg(), modeEach}, withLease(a, formatItem(a, &p), ""), 1)
			vals, err := c.run(ctx, &next, keys, args)
			if err != nil {
				t.Fatalf("the next version: %v", err)
			}
			r, err := decode(&next, vals, 0, p.Burst)
			if err != nil || r.Remaining != 3 {
				t.Fatalf("the next version's check = %+v, %v; want Remaining 3: the count of the version before", r, err)
			}
			if r, err := c.Peek(ctx, "k", l); err != nil || r.Remaining != 3 {
				t.Fatalf("Peek after the next version = %+v, %v; want Remaining 3", r, err)
			}
			// A new state format: a key of its own, which starts full.
			cur := c.redisKey("k", a, &p)
			newer := string(c.appendStateKey(nil, "k", a, &p, scripts[a].State+1))
			if newer == cur || !strings.HasSuffix(cur, ":s1") || !strings.HasSuffix(newer, ":s2") {
				t.Errorf("keys of state formats 1 and 2: %q, %q", cur, newer)
			}
		})
	}
}
