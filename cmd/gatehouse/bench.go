package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/term"
)

// benchConfig is everything `gatehouse bench` reads.
type benchConfig struct {
	duration    time.Duration
	requests    uint64
	rate        int
	concurrency int
	timeout     time.Duration
	// durationSet is whether --duration was given; with only --requests the count alone bounds.
	durationSet bool

	// with is a scenario run in the background of each foreground one (for example login-flood
	// while client-credentials is measured), with its own concurrency and rate.
	with            string
	withConcurrency int
	withRate        int

	// Remote mode: a running deployment.
	issuer, clientID, clientSecret  string
	username, password, redirectURI string
	resourceURL                     string
}

func newBenchCmd(e *env, g *globals) *cobra.Command {
	c := &benchConfig{}
	cmd := &cobra.Command{
		Use:   "bench SCENARIO…",
		Short: "Run a bounded load against the provider and print latency and throughput",
		Long: `Run each scenario in turn for --duration (or --requests) and print requests/s, latency
percentiles and errors by status (any status other than 2xx is an error and fails the run).

Scenarios:
` + scenarioHelp() + `
Without --issuer, bench is self-contained: it starts Gatehouse in process on a fresh SQLite file
in a temporary directory, or on the PostgreSQL database of --database, with the rate limits
lifted (the load comes from one address), creates the clients and user the scenarios need,
serves on 127.0.0.1, runs, cleans up and stops. With --issuer it loads a running deployment
with the confidential client of --client-id and --client-secret; "refresh" also needs
--username, --password and --redirect-uri (a registered redirect URI of that client, which must
allow the authorization_code and refresh_token grants and the offline_access scope), and is
skipped without them.

Bench's own flags are read from GATEHOUSE_BENCH_<FLAG> (GATEHOUSE_BENCH_ISSUER,
GATEHOUSE_BENCH_CLIENT_SECRET, GATEHOUSE_BENCH_PASSWORD, …).`,
		Example: `  gatehouse bench client-credentials introspect refresh jwks discovery --duration 5s
  GATEHOUSE_SECRET=… gatehouse bench --database postgres://… client-credentials -o json
  gatehouse bench --issuer https://id.example.com --client-id ID --client-secret … --rate 200 client-credentials`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindBenchEnv(cmd, e.getenv); err != nil {
				return err
			}
			c.durationSet = cmd.Flags().Changed("duration") || e.getenv("GATEHOUSE_BENCH_DURATION") != ""
			return bench(cmd.Context(), e, g, c, args)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&c.duration, "duration", 10*time.Second, "how long each scenario runs")
	f.Uint64Var(&c.requests, "requests", 0, "stop each scenario after this many requests instead (0: bound by --duration only)")
	f.IntVar(&c.rate, "rate", 0, "requests per second; 0 sends as fast as --concurrency workers can")
	f.IntVar(&c.concurrency, "concurrency", 32, "workers, connections and virtual users")
	f.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	f.StringVar(&c.with, "with", "", "a scenario to run in the background of each one measured, e.g. login-flood (reported on its own row)")
	f.IntVar(&c.withConcurrency, "with-concurrency", 200, "workers of the --with scenario")
	f.IntVar(&c.withRate, "with-rate", 0, "requests per second of the --with scenario; 0: as fast as its workers can")
	f.StringVar(&c.issuer, "issuer", "", "URL of a running provider to load (remote mode); empty: self-contained")
	f.StringVar(&c.clientID, "client-id", "", "remote mode: a confidential client allowed client_credentials")
	f.StringVar(&c.clientSecret, "client-secret", "", "remote mode: that client's secret")
	f.StringVar(&c.username, "username", "", "remote mode, sign-in scenarios: a user's email, or several comma-separated (one account signing in many times at once meets its throttle)")
	f.StringVar(&c.password, "password", "", "remote mode, refresh: that user's password")
	f.StringVar(&c.redirectURI, "redirect-uri", "", "remote mode, refresh: a redirect URI registered for the client")
	f.StringVar(&c.resourceURL, "resource-url", "", "remote mode, resource-*: base URL of the resource API (the client must get todos:read and todos:write for it)")
	return cmd
}

// bindBenchEnv reads bench's own flags from GATEHOUSE_BENCH_<FLAG> rather than GATEHOUSE_<FLAG>:
// GATEHOUSE_ISSUER configures a server and must not switch bench to remote mode.
func bindBenchEnv(cmd *cobra.Command, getenv func(string) string) error {
	var errs []error
	cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		// The root's hook may have set it from GATEHOUSE_<FLAG>: undo that.
		if err := f.Value.Set(f.DefValue); err != nil {
			errs = append(errs, err)
		}
		name := "GATEHOUSE_BENCH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func (c *benchConfig) validate(args []string) error {
	var errs []error
	for _, a := range args {
		if findScenario(a) == nil {
			errs = append(errs, fmt.Errorf("unknown scenario %q: want one of %s", a, strings.Join(scenarioNames(), ", ")))
		}
	}
	if c.duration <= 0 && c.requests == 0 {
		errs = append(errs, errors.New("--duration or --requests must bound the run"))
	}
	if c.concurrency < 1 {
		errs = append(errs, errors.New("--concurrency must be at least 1"))
	}
	if c.with != "" && findScenario(c.with) == nil {
		errs = append(errs, fmt.Errorf("--with: unknown scenario %q: want one of %s", c.with, strings.Join(scenarioNames(), ", ")))
	}
	if c.withConcurrency < 1 {
		errs = append(errs, errors.New("--with-concurrency must be at least 1"))
	}
	if c.withRate < 0 {
		errs = append(errs, errors.New("--with-rate must not be negative"))
	}
	if c.rate < 0 {
		errs = append(errs, errors.New("--rate must not be negative"))
	}
	if c.issuer != "" && (c.clientID == "" || c.clientSecret == "") {
		errs = append(errs, errors.New("--issuer needs --client-id and --client-secret (GATEHOUSE_BENCH_CLIENT_ID, GATEHOUSE_BENCH_CLIENT_SECRET)"))
	}
	return errors.Join(errs...)
}

// benchResult is one scenario's figures.
type benchResult struct {
	Scenario string `json:"scenario"`
	// Background marks the --with scenario's row: it ran alongside the row before it.
	Background bool    `json:"background,omitempty"`
	Skipped    string  `json:"skipped,omitempty"`
	Requests   uint64  `json:"requests"`
	Seconds    float64 `json:"duration_seconds"`
	PerSecond  float64 `json:"requests_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// Statuses counts every outcome by status code ("transport": no response).
	Statuses map[string]int `json:"statuses"`
	// Errors counts the unexpected outcomes: a status the scenario does not expect (anything
	// but 2xx for most), or "transport".
	Errors map[string]int `json:"errors"`
	// PeakRSSMB is the process's peak resident memory during the run (Linux; self-contained
	// mode, where the process is the server and the load generator together).
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	// Samples are the first few unexpected responses.
	Samples []string `json:"error_samples,omitempty"`
}

func (r benchResult) errorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

const maxSamples = 3

func bench(ctx context.Context, e *env, g *globals, c *benchConfig, args []string) error {
	if err := c.validate(args); err != nil {
		return err
	}
	var t *benchTarget
	var err error
	if c.issuer != "" {
		t, err = remoteTarget(c)
	} else {
		t, err = startSelfContained(ctx, g, c)
	}
	if err != nil {
		return err
	}
	defer t.close(context.WithoutCancel(ctx))

	progress := progressWriter(e.stderr)
	var results []benchResult
	for _, name := range args {
		res, err := runScenario(ctx, t, c, findScenario(name), progress)
		if errors.Is(err, errSkip) {
			fmt.Fprintf(e.stderr, "bench: %s skipped: %v\n", name, err)
			results = append(results, benchResult{Scenario: name, Skipped: err.Error(), Statuses: map[string]int{}, Errors: map[string]int{}})
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, res...)
		if ctx.Err() != nil {
			break
		}
	}
	if err := printResults(e.stdout, g.output, results); err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if n := r.errorCount(); n > 0 {
			failed += n
			for _, s := range r.Samples {
				fmt.Fprintf(e.stderr, "bench: %s: %s\n", r.Scenario, s)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("bench: %d unexpected responses", failed)
	}
	return ctx.Err()
}

// load is one attack: a prepared plan and how hard to run it.
type load struct {
	name        string
	plan        plan
	concurrency int
	rate        int
	duration    time.Duration
	requests    uint64
}

// runScenario sets the scenario (and the --with one) up, attacks and gathers the figures: one
// result, or two when a background scenario ran alongside.
func runScenario(ctx context.Context, t *benchTarget, c *benchConfig, s *scenario, progress io.Writer) ([]benchResult, error) {
	p, err := s.setup(ctx, t)
	if err != nil {
		return nil, err
	}
	duration := c.duration
	if c.requests > 0 && !c.durationSet {
		duration = 0
	}
	fg := load{name: s.name, plan: p, concurrency: c.concurrency, rate: c.rate, duration: duration, requests: c.requests}

	var bgDone chan benchResult
	stopBG := func() {}
	if c.with != "" {
		w := findScenario(c.with)
		bp, err := w.setup(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("--with %s: %w", w.name, err)
		}
		// The background runs until the foreground is done (bounded by the duration too).
		bctx, cancel := context.WithCancel(ctx)
		stopBG = cancel
		bgDone = make(chan benchResult, 1)
		bg := load{name: w.name, plan: bp, concurrency: c.withConcurrency, rate: c.withRate, duration: max(c.duration, time.Second)}
		go func() { bgDone <- attack(bctx, t, bg, nil) }()
	}
	resetPeakRSS()
	res := attack(ctx, t, fg, progress)
	stopBG()
	res.PeakRSSMB = t.peakRSS()
	out := []benchResult{res}
	if bgDone != nil {
		bg := <-bgDone
		bg.Background = true
		out = append(out, bg)
	}
	return out, nil
}

// attack runs one load and gathers its figures; it stops early when ctx is done.
//
// Each load has its own connection pool, as separate clients do: sharing one, a background load
// whose answers come slowly (a flood the server holds back) would take the connections the
// foreground waits for, and the figures would measure the load generator.
func attack(ctx context.Context, t *benchTarget, l load, progress io.Writer) benchResult {
	pool := newBenchTransport(l.concurrency)
	defer pool.CloseIdleConnections()
	transport := http.RoundTripper(pool)
	if l.plan.wrap != nil {
		transport = l.plan.wrap(transport)
	}
	workers := uint64(l.concurrency)
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport, Timeout: t.timeout}),
		vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.MaxBody(64<<10),
	)
	pacer := boundedPacer{Pacer: vegeta.ConstantPacer{Freq: l.rate, Per: time.Second}, max: l.requests}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-done:
		}
	}()

	var count atomic.Uint64
	stopProgress := startProgress(progress, l.name, &count, l.duration, l.requests)
	var m vegeta.Metrics
	res := benchResult{Scenario: l.name, Statuses: map[string]int{}, Errors: map[string]int{}}
	for r := range atk.Attack(l.plan.targeter, pacer, l.duration, l.name) {
		m.Add(r)
		count.Add(1)
		key := "transport"
		if r.Code != 0 {
			key = strconv.Itoa(int(r.Code))
		}
		res.Statuses[key]++
		if r.Code != 0 && l.plan.expected(int(r.Code)) {
			continue
		}
		res.Errors[key]++
		if len(res.Samples) < maxSamples {
			sample := r.Error
			if len(r.Body) > 0 {
				sample = fmt.Sprintf("%d %s", r.Code, trimBody(r.Body))
			}
			res.Samples = append(res.Samples, sample)
		}
	}
	m.Close()
	stopProgress()
	res.Requests = m.Requests
	res.Seconds = m.Duration.Seconds() + m.Wait.Seconds()
	if res.Seconds > 0 {
		res.PerSecond = float64(m.Requests) / res.Seconds
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.P50ms, res.P95ms, res.P99ms, res.MaxMs = ms(m.Latencies.P50), ms(m.Latencies.P95), ms(m.Latencies.P99), ms(m.Latencies.Max)
	return res
}

// resetPeakRSS restarts the kernel's count of this process's peak resident memory (Linux;
// elsewhere a no-op), so each scenario reports its own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB is this process's peak resident memory (VmHWM) in MB, or 0 where unknown.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return math.Round(kb/1024*10) / 10
		}
	}
	return 0
}

// boundedPacer stops after max hits (0: never).
type boundedPacer struct {
	vegeta.Pacer
	max uint64
}

func (p boundedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= p.max {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

func trimBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// progressWriter is w when it is a terminal, else nil: progress lines would litter a log.
func progressWriter(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return w
	}
	return nil
}

// startProgress rewrites one status line on w every 200 ms until the returned stop is called.
func startProgress(w io.Writer, name string, count *atomic.Uint64, duration time.Duration, requests uint64) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	began := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
				el := time.Since(began).Truncate(100 * time.Millisecond)
				bound := ""
				if duration > 0 {
					bound = " / " + duration.String()
				}
				if requests > 0 {
					bound += fmt.Sprintf(" (%d/%d requests)", count.Load(), requests)
				}
				fmt.Fprintf(w, "\r\033[K%s: %d requests, %s%s", name, count.Load(), el, bound)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func printResults(w io.Writer, format string, results []benchResult) error {
	if format == "json" {
		return printJSON(w, results)
	}
	rows := make([][]string, 0, len(results))
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for _, r := range results {
		name := r.Scenario
		if r.Background {
			name = "+" + name
		}
		if r.Skipped != "" {
			rows = append(rows, []string{name, "skipped", "", "", "", "", "", "", "", "", ""})
			continue
		}
		rss := "-"
		if r.PeakRSSMB > 0 {
			rss = strconv.FormatFloat(r.PeakRSSMB, 'f', 0, 64)
		}
		rows = append(rows, []string{
			name, strconv.FormatUint(r.Requests, 10), strconv.FormatFloat(r.Seconds, 'f', 1, 64) + "s",
			strconv.FormatFloat(r.PerSecond, 'f', 1, 64), f(r.P50ms), f(r.P95ms), f(r.P99ms), f(r.MaxMs), rss,
			formatCounts(r.Statuses), formatCounts(r.Errors),
		})
	}
	return printTable(w, []string{"SCENARIO", "REQUESTS", "DURATION", "REQ/S", "P50 MS", "P95 MS", "P99 MS", "MAX MS", "PEAK RSS MB", "STATUSES", "ERRORS"}, rows)
}

// formatCounts is "0" or, for example, "401×3 transport×1".
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func scenarioHelp() string {
	var b strings.Builder
	for _, s := range scenarios {
		fmt.Fprintf(&b, "  %-20s %s\n", s.name, s.description)
	}
	return b.String()
}

func scenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return names
}

func findScenario(name string) *scenario {
	i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
	if i < 0 {
		return nil
	}
	return &scenarios[i]
}
