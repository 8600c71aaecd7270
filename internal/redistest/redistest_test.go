package redistest

import (
	"slices"
	"testing"
)

func TestInfoField(t *testing.T) {
	// CLUSTER INFO as rueidis hands over a RESP3 verbatim string.
	info := "txt:cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\n"
	for field, want := range map[string]string{
		"cluster_state":       "ok",
		"cluster_known_nodes": "3",
		"cluster_size":        "",
		"cluster":             "",
	} {
		if got := InfoField(info, field); got != want {
			t.Errorf("InfoField(%q) = %q, want %q", field, got, want)
		}
	}
	if got, want := InfoField("# Stats\r\nevicted_keys:12\r\n", "evicted_keys"), "12"; got != want {
		t.Errorf("InfoField(evicted_keys) = %q, want %q", got, want)
	}
}

func TestSplitAddrs(t *testing.T) {
	got := splitAddrs(" 127.0.0.1:7000,127.0.0.1:7001 ,, ")
	if want := []string{"127.0.0.1:7000", "127.0.0.1:7001"}; !slices.Equal(got, want) {
		t.Errorf("splitAddrs = %q, want %q", got, want)
	}
}

func TestClusterPorts(t *testing.T) {
	ports, err := clusterPorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || seen[p+busOffset] || p+busOffset > 65535 {
			t.Errorf("ports %v: %d or its bus port %d clashes or is out of range", ports, p, p+busOffset)
		}
		seen[p], seen[p+busOffset] = true, true
	}
}
