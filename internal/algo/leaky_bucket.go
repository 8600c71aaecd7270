package algo

// The leaky bucket is GCRA that shapes: it keeps GCRA's state and
// arithmetic (stepGCRA, with Params.Kind LeakyBucket), and bucket gives an
// admitted request the Delay of the backlog queued before it, so that
// capacity counts the request being served: burst 3 at 1/s gives Delays 0,
// 1 s, 2 s, then a denial. lua/leaky_bucket.lua is the same: gcra with
// shaping.
