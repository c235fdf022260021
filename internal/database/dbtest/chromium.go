package dbtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// chromiumCandidates are the browsers Chromium looks for, in order.
var chromiumCandidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

// Chromium returns the path of a Chromium for the browser tests. Without one the test skips,
// naming what it looked for, or fails when GATEHOUSE_TEST_REQUIRE names "browser" (as CI sets).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, c := range chromiumCandidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	looked := strings.Join(chromiumCandidates, ", ")
	if Required("browser") {
		t.Fatalf("no Chromium found (looked for %s), but %s=%q requires the browser tests", looked, EnvRequire, os.Getenv(EnvRequire))
	}
	t.Skipf("no Chromium found (looked for %s): skipping the browser test; set %s=browser to fail instead", looked, EnvRequire)
	return ""
}
