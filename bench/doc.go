// Package bench compares smartlimit's tiers with other Go rate limiters in
// benchmarks only. It is a module of its own so that the limiters it
// compares with never enter smartlimit's go.mod.
//
//	cd bench && go test -run XXX -bench . -benchmem
package bench
