//go:build race

package memfallback_test

// raceEnabled reports whether the race detector is on; the flood test
// scales itself down by 10 then, to stay within seconds.
const raceEnabled = true
