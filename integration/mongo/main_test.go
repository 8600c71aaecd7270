package mongo_test

import (
	"os"
	"testing"
	"time"

	"github.com/smartlimit/smartlimit/internal/testkit"
)

// TestMain fails the run when goroutines outlive the tests: every test
// stops the servers, proxies and clients it started.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil, 10*time.Second)) }
