package smartlimit_test

import (
	"testing"

	"github.com/smartlimit/smartlimit/limitertest"
	"github.com/smartlimit/smartlimit/smartlimittest"
)

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) limitertest.Backend {
		s := smartlimittest.New(t)
		return limitertest.Func(s.Client, s.SetTime)
	})
}
