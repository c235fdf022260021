package resource_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/resource"
)

// TestDocsAssetsFromTheBinary: /docs sends the strict CSP and loads its renderer from
// /docs/assets (gzip when accepted, plain otherwise, cacheable), never from another origin.
func TestDocsAssetsFromTheBinary(t *testing.T) {
	e := newEnv(t)
	r := e.do("", "GET", "/docs", nil)
	e.want(r, http.StatusOK)
	if got := r.header.Get("Content-Security-Policy"); got != resource.DocsCSP || !strings.Contains(got, "script-src 'self';") {
		t.Errorf("CSP %q", got)
	}
	body := string(r.body)
	if strings.Contains(body, "https://") || strings.Contains(body, "<script>") {
		t.Errorf("/docs refers to another origin or has an inline script:\n%s", body)
	}
	for _, asset := range []string{"js", "css"} {
		i := strings.Index(body, "/docs/assets/elements-")
		if i < 0 {
			t.Fatalf("no asset link in %s", body)
		}
		path := body[i : i+strings.IndexAny(body[i:], `"`)]
		path = path[:strings.LastIndexByte(path, '.')+1] + asset
		for _, gz := range []bool{true, false} {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+path, nil)
			tr := &http.Transport{DisableCompression: true}
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			enc := resp.Header.Get("Content-Encoding")
			if resp.StatusCode != 200 || (enc == "gzip") != gz || len(b) < 10000 ||
				!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("ETag") == "" {
				t.Errorf("GET %s (gzip %v): %d, %d bytes, Content-Encoding %q, headers %v", path, gz, resp.StatusCode, len(b), enc, resp.Header)
			}
			if !gz && asset == "js" && !strings.Contains(string(b[:2000]), "function") {
				t.Errorf("GET %s without gzip does not look like JavaScript: %.100s", path, b)
			}
		}
	}
	e.want(e.do("", "GET", "/docs/assets/other.js", nil), http.StatusNotFound)
}

// TestDocsRenderUnderCSP loads /docs in headless Chromium: the API renders (operation names
// appear) with no Content-Security-Policy violation and no request to another origin. Without
// Chromium it skips, or fails when GATEHOUSE_TEST_REQUIRE names "browser" (dbtest.Chromium).
func TestDocsRenderUnderCSP(t *testing.T) {
	path := dbtest.Chromium(t)
	e := newEnv(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(profile), chromedp.Flag("disable-component-update", true))
	timeout, cancelTimeout := context.WithTimeout(t.Context(), 60*time.Second)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
		for deadline := time.Now().Add(5 * time.Second); os.RemoveAll(profile) != nil && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	})

	var mu sync.Mutex
	var problems, requests []string
	self, _ := url.Parse(e.ts.URL)
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			if strings.HasSuffix(ev.Entry.URL, "/favicon.ico") {
				return // the browser's own guess
			}
			if ev.Entry.Level == log.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
				problems = append(problems, fmt.Sprintf("log %s: %s", ev.Entry.Source, ev.Entry.Text))
			}
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				if s := string(a.Value); strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Refused") {
					problems = append(problems, "console: "+s)
				}
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	waitFor := func(expr string) string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
				if err != nil {
					t.Fatal(err)
				}
				return text
			}
			if time.Now().After(deadline) {
				mu.Lock()
				body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
				t.Fatalf("docs did not show %s in 20 s (%v)\nproblems: %v\nrequests: %v\ntext: %s", expr, err, problems, requests, body)
			}
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(e.ts.URL+"/docs")); err != nil {
		t.Fatal(err)
	}
	// Elements renders the tags and schemas in its sidebar once it has the document, and an
	// operation's page on its hash route.
	waitFor(`document.body.innerText.includes("categories") && document.body.innerText.includes("TodoBody")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#/operations/list-todos"`)); err != nil {
		t.Fatal(err)
	}
	text := waitFor(`document.body.innerText.includes("List todos") && document.body.innerText.includes("/api/v1/todos")`)
	time.Sleep(200 * time.Millisecond) // late violations
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "data" && u.Host != self.Host) {
			t.Errorf("request to another origin: %s", r)
		}
	}
	t.Logf("rendered %d characters of docs; %d requests, all same-origin", len(text), len(requests))
}
