package histogram_test

import (
	"fmt"
	"time"

	"github.com/smartlimit/smartlimit/cmd/smartlimit/internal/histogram"
)

func Example() {
	var h histogram.Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	// Each value is reported within 1/128 of a recorded one.
	fmt.Println(h.Count(), h.Quantile(0.5), h.Quantile(0.99), h.Max())
	// Output: 1000 501.759µs 991.231µs 1ms
}
