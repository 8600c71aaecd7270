package smartlimittest_test

import (
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/smartlimittest"
)

// Key expiry follows the latest time set, as a real Redis's absolute
// expiry times do: a step back and forth again is not time passed, and a
// step forward is, even when the clock steps back before any command.
func TestSetTimeExpiry(t *testing.T) {
	s := smartlimittest.New(t)
	T0 := smartlimittest.T0
	s.Miniredis.Set("x", "1")
	s.Miniredis.SetTTL("x", 10*time.Second)
	s.SetTime(T0.Add(8 * time.Second))
	s.SetTime(T0.Add(5 * time.Second)) // back, with no command in between
	if !s.Miniredis.Exists("x") {
		t.Fatal("x expired at T0+5s, 5 s before its time")
	}
	s.SetTime(T0.Add(9 * time.Second))
	if !s.Miniredis.Exists("x") {
		t.Fatal("x expired at T0+9s: the step back and forth again counted as time")
	}
	s.SetTime(T0.Add(11 * time.Second))
	if s.Miniredis.Exists("x") {
		t.Fatal("x still exists at T0+11s, after its expiry at T0+10s")
	}
}
