package web

import (
	"context"
	"testing"
	"time"
)

// TestTarpitReleasesOnCancel: a held answer is released when its request ends (the client went
// away or the server shuts down), and its slot with it; a nil Tarpit holds nothing.
func TestTarpitReleasesOnCancel(t *testing.T) {
	tp := NewTarpit(time.Hour, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tp.Hold(ctx); close(done) }()
	for tp.Held() != 1 {
		time.Sleep(time.Millisecond)
	}
	tp.Hold(context.Background()) // the only slot is taken: returns at once
	cancel()
	<-done
	if n := tp.Held(); n != 0 {
		t.Fatalf("%d held after the request ended", n)
	}
	if NewTarpit(0, 10) != nil || NewTarpit(time.Second, 0) != nil {
		t.Fatal("a zero delay or hold built a tarpit")
	}
	var none *Tarpit
	none.Hold(context.Background())
}
