package idp

import (
	"os"
	"strings"
	"testing"
)

// threadPolicy reads the calling thread's scheduling policy (field 41 of /proc/thread-self/stat).
func threadPolicy(t *testing.T) string {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatalf("read this thread's scheduling state: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	return f[41-3]
}

// threadNice reads the calling thread's nice value (field 19 of /proc/thread-self/stat).
func threadNice(t *testing.T) string {
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Fatalf("read this thread's scheduling state: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) ": field 3 on
	return f[19-3]
}

// TestHashingThreadIsIdlePriority: password hashes run on a thread of their own in SCHED_IDLE
// (or at nice 19 where that is refused), and the caller's thread keeps its priority, so that a
// login flood yields the CPU to other requests.
func TestHashingThreadIsIdlePriority(t *testing.T) {
	var policy, nice string
	background(func() { policy, nice = threadPolicy(t), threadNice(t) })
	if policy != "5" && nice != "19" {
		t.Errorf("hashing thread: policy %s, nice %s; want SCHED_IDLE (5) or nice 19", policy, nice)
	}
	if threadPolicy(t) == "5" || threadNice(t) == "19" {
		t.Errorf("the caller's thread is lowered too")
	}
}
