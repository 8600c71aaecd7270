module github.com/smartlimit/smartlimit/integration

go 1.26.0

require (
	github.com/redis/rueidis v1.0.79
	github.com/smartlimit/smartlimit v0.0.0
)

require golang.org/x/sys v0.47.0 // indirect

replace github.com/smartlimit/smartlimit => ../
