package main

import (
	"context"
	"fmt"
	"os"
)

// noEnv is an environment without SMARTLIMIT_ variables, so that the
// examples print the same everywhere.
func noEnv(string) (string, bool) { return "", false }

// One decision on the embedded server: the first request of 10/s leaves 9
// and is back to full in 100ms.
func Example_check() {
	code := runEnv(context.Background(), []string{"check", "alice", "--limit", "10/s", "--embedded"}, os.Stdout, os.Stderr, noEnv)
	fmt.Println("exit status", code)
	// Output:
	// key          alice
	// policy       10/1s
	// redis key    sl:{alice}:gcra:1:100000:10:s1
	// cost         1
	// allowed      true
	// limit        10
	// remaining    9
	// reset after  100ms
	// retry after  0s
	// delay        0s
	// tier         redis
	// exit status 0
}
