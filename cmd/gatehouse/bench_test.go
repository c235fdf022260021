package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runBench runs `gatehouse bench args…` with an empty environment (or env) and returns stdout,
// stderr and the error.
func runBench(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errw bytes.Buffer
	err = run(t.Context(), append([]string{"bench"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errw)
	return out.String(), errw.String(), err
}

func decodeResults(t *testing.T, stdout string) []benchResult {
	t.Helper()
	var res []benchResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("bench -o json printed %q: %v", stdout, err)
	}
	return res
}

// TestBenchScenarios runs every scenario self-contained on SQLite for a second at a low rate and
// expects requests and no unexpected response. It asserts no throughput.
func TestBenchScenarios(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			stdout, stderr, err := runBench(t, nil, s.name, "--duration", "2s", "--rate", "150", "--concurrency", "2", "-o", "json")
			if err != nil {
				t.Fatalf("bench %s: %v\nstderr: %s", s.name, err, stderr)
			}
			res := decodeResults(t, stdout)
			if len(res) != 1 || res[0].Scenario != s.name {
				t.Fatalf("results = %+v, want one for %s", res, s.name)
			}
			r := res[0]
			if r.Requests == 0 || r.Skipped != "" {
				t.Errorf("%s: %d requests (skipped %q), want some", s.name, r.Requests, r.Skipped)
			}
			if len(r.Errors) != 0 {
				t.Errorf("%s: errors %v, samples %q", s.name, r.Errors, r.Samples)
			}
			if r.P50ms <= 0 || r.MaxMs < r.P99ms || r.P99ms < r.P50ms {
				t.Errorf("%s: latencies p50 %v p99 %v max %v are not ordered", s.name, r.P50ms, r.P99ms, r.MaxMs)
			}
		})
	}
}

// TestBenchTableAndRequests bounds a run by count and checks the table.
func TestBenchTableAndRequests(t *testing.T) {
	stdout, stderr, err := runBench(t, nil, "jwks", "discovery", "--requests", "40", "--concurrency", "2")
	if err != nil {
		t.Fatalf("bench: %v\nstderr: %s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SCENARIO") || !strings.Contains(lines[0], "P99 MS") {
		t.Fatalf("table = %q, want a header and two rows", stdout)
	}
	for i, name := range []string{"jwks", "discovery"} {
		f := strings.Fields(lines[i+1])
		if f[0] != name || f[1] != "40" || f[len(f)-1] != "0" {
			t.Errorf("row %q: want %s, 40 requests, 0 errors", lines[i+1], name)
		}
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want no progress line off a terminal", stderr)
	}
}

func TestBenchUnknownScenario(t *testing.T) {
	_, _, err := runBench(t, nil, "jwks", "login-storm")
	if err == nil || !strings.Contains(err.Error(), `"login-storm"`) || !strings.Contains(err.Error(), "client-credentials, introspect, refresh, authorize, resource-read, resource-write, login-flood, jwks, discovery, mixed") {
		t.Errorf("bench login-storm = %v, want an error naming it and listing the scenarios", err)
	}
}

// TestBenchEnv: bench reads GATEHOUSE_BENCH_*, and the server's GATEHOUSE_ISSUER does not switch
// it to remote mode.
func TestBenchEnv(t *testing.T) {
	_, _, err := runBench(t, map[string]string{"GATEHOUSE_BENCH_ISSUER": "http://127.0.0.1:1"}, "jwks")
	if err == nil || !strings.Contains(err.Error(), "--client-id") {
		t.Errorf("GATEHOUSE_BENCH_ISSUER without a client = %v, want an error asking for --client-id", err)
	}
	stdout, stderr, err := runBench(t, map[string]string{"GATEHOUSE_ISSUER": "http://127.0.0.1:1", "GATEHOUSE_BENCH_REQUESTS": "10"}, "discovery", "-o", "json")
	if err != nil {
		t.Fatalf("bench with GATEHOUSE_ISSUER set: %v\nstderr: %s", err, stderr)
	}
	if res := decodeResults(t, stdout); res[0].Requests != 10 {
		t.Errorf("GATEHOUSE_BENCH_REQUESTS=10 ran %d requests", res[0].Requests)
	}
}

// TestBenchRemote loads a provider through --issuer with a client's credentials; refresh, lacking
// a user, is skipped rather than failed.
func TestBenchRemote(t *testing.T) {
	g := &globals{database: "sqlite:unused.db"}
	target, err := startSelfContained(t.Context(), g, &benchConfig{concurrency: 2, timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer target.close(t.Context())
	id, secret, err := target.machineClient(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runBench(t, map[string]string{"GATEHOUSE_BENCH_CLIENT_SECRET": secret},
		"--issuer", target.issuer, "--client-id", id, "--requests", "20", "--concurrency", "2", "-o", "json", "client-credentials", "introspect", "refresh")
	if err != nil {
		t.Fatalf("bench --issuer: %v\nstderr: %s", err, stderr)
	}
	res := decodeResults(t, stdout)
	if len(res) != 3 || res[0].Requests != 20 || res[1].Requests != 20 || res[2].Skipped == "" {
		t.Errorf("results = %+v, want 20 client-credentials, 20 introspections, refresh skipped", res)
	}
	if !strings.Contains(stderr, "refresh skipped") {
		t.Errorf("stderr = %q, want a note that refresh was skipped", stderr)
	}

	// With a user, a redirect URI and the resource API's URL, the sign-in and resource
	// scenarios run remotely too.
	if err := target.appClient(t.Context()); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err = runBench(t, map[string]string{"GATEHOUSE_BENCH_PASSWORD": target.password},
		"--issuer", target.issuer, "--client-id", target.appID, "--client-secret", target.appSecret,
		"--username", strings.Join(target.usernames, ","), "--redirect-uri", "http://127.0.0.1/bench/app", "--resource-url", target.resourceURL,
		"--requests", "10", "--concurrency", "2", "-o", "json", "authorize", "resource-read", "resource-write")
	if err != nil {
		t.Fatalf("bench --issuer --resource-url: %v\nstderr: %s", err, stderr)
	}
	for _, r := range decodeResults(t, stdout) {
		if r.Requests != 10 || len(r.Errors) != 0 || r.PeakRSSMB != 0 {
			t.Errorf("remote %s: %+v, want 10 requests, no errors and no peak memory (not the server's process)", r.Scenario, r)
		}
	}
}

// TestBenchWith runs login-flood in the background of client-credentials: two rows, the
// second marked background, both without unexpected responses.
func TestBenchWith(t *testing.T) {
	stdout, stderr, err := runBench(t, nil, "client-credentials", "--with", "login-flood", "--with-concurrency", "4",
		"--with-rate", "100", "--duration", "1s", "--rate", "100", "--concurrency", "2", "-o", "json")
	if err != nil {
		t.Fatalf("bench --with: %v\nstderr: %s", err, stderr)
	}
	res := decodeResults(t, stdout)
	if len(res) != 2 || res[0].Scenario != "client-credentials" || res[0].Background || res[1].Scenario != "login-flood" || !res[1].Background {
		t.Fatalf("results = %+v, want client-credentials then login-flood in the background", res)
	}
	for _, r := range res {
		if r.Requests == 0 || len(r.Errors) != 0 {
			t.Errorf("%s: %d requests, errors %v %q", r.Scenario, r.Requests, r.Errors, r.Samples)
		}
	}
	if res[1].Statuses["401"] == 0 {
		t.Errorf("login-flood statuses %v, want wrong passwords answered 401", res[1].Statuses)
	}
	if runtime.GOOS == "linux" && res[0].PeakRSSMB <= 0 {
		t.Errorf("peak RSS %v, want the process's peak on Linux", res[0].PeakRSSMB)
	}
	if _, _, err := runBench(t, nil, "jwks", "--with", "nope"); err == nil || !strings.Contains(err.Error(), `--with: unknown scenario "nope"`) {
		t.Errorf("--with nope = %v, want an error naming it", err)
	}
}
