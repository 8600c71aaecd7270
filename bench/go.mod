module github.com/smartlimit/smartlimit/bench

go 1.26.0

require github.com/smartlimit/smartlimit v0.0.0

require (
	github.com/redis/rueidis v1.0.79 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/time v0.16.0
)

replace github.com/smartlimit/smartlimit => ../
