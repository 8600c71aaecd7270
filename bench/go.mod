module github.com/smartlimit/smartlimit/bench

go 1.26.0

require (
	github.com/go-redis/redis_rate/v10 v10.0.1
	github.com/redis/go-redis/v9 v9.0.4
	github.com/sethvargo/go-limiter v0.7.1
	github.com/smartlimit/smartlimit v0.0.0
	github.com/ulule/limiter/v3 v3.11.2
)

require (
	github.com/cespare/xxhash/v2 v2.2.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/pkg/errors v0.9.1 // indirect
)

require (
	github.com/redis/rueidis v1.0.79
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/time v0.16.0
)

replace github.com/smartlimit/smartlimit => ../
