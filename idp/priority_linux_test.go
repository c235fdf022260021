package idp

import (
	"os"
	"strings"
	"testing"
)

// threadNice reads the calling thread's nice value (field 19 of /proc/thread-self/stat).
func threadNice(t *testing.T) string {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Skip(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) ": field 3 on
	return f[19-3]
}

// TestHashingThreadIsNiced: password hashes run on a thread of their own at nice 19, and the
// caller's thread keeps its priority, so that a login flood yields the CPU to other requests.
func TestHashingThreadIsNiced(t *testing.T) {
	var inside string
	background(func() { inside = threadNice(t) })
	if inside != "19" {
		t.Errorf("hashing thread nice = %s, want 19", inside)
	}
	if outside := threadNice(t); outside == "19" {
		t.Errorf("the caller's thread is niced too")
	}
}
