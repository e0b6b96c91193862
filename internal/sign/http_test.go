package sign

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetrier(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		header   http.Header
		attempts int
		status   int
		calls    int32
		err      string
		minTime  time.Duration
	}{
		{name: "ok", statuses: []int{200}, attempts: 3, status: 200, calls: 1},
		{name: "4xx is the caller's", statuses: []int{404}, attempts: 3, status: 404, calls: 1},
		{name: "409 is the caller's", statuses: []int{409}, attempts: 3, status: 409, calls: 1},
		{name: "5xx then ok", statuses: []int{500, 502, 200}, attempts: 3, status: 200, calls: 3},
		{name: "429 then ok", statuses: []int{429, 200}, attempts: 3, status: 200, calls: 2},
		{name: "Retry-After is honoured", statuses: []int{429, 200}, header: http.Header{"Retry-After": {"1"}}, attempts: 2, status: 200, calls: 2, minTime: time.Second},
		{name: "5xx to the end", statuses: []int{503, 503, 503}, attempts: 3, calls: 3, err: "answered 503 Service Unavailable: boom (3 attempts)"},
		{name: "one attempt", statuses: []int{503}, attempts: 1, calls: 1, err: "(1 attempt)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n := calls.Add(1)
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.statuses[min(int(n), len(tt.statuses))-1])
				_, _ = w.Write([]byte("boom"))
			}))
			defer srv.Close()
			r := &retrier{client: srv.Client(), attempts: tt.attempts, backoff: time.Millisecond, timeout: time.Second, logf: func(string, ...any) {}}
			start := time.Now()
			resp, err := r.do(context.Background(), "test", http.MethodGet, srv.URL, nil, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
			} else if err != nil || resp.status != tt.status {
				t.Fatalf("do() = %v, %v; want status %d", resp, err, tt.status)
			}
			if calls.Load() != tt.calls {
				t.Errorf("%d calls, want %d", calls.Load(), tt.calls)
			}
			if time.Since(start) < tt.minTime {
				t.Errorf("returned after %s, before the %s the server asked for", time.Since(start), tt.minTime)
			}
		})
	}

	t.Run("cancelled context stops retrying", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r := &retrier{client: srv.Client(), attempts: 10, backoff: time.Hour, timeout: time.Second, logf: func(string, ...any) {}}
		_, err := r.do(ctx, "test", http.MethodGet, srv.URL, nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("connection refused is retried", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		r := &retrier{client: &http.Client{}, attempts: 2, backoff: time.Millisecond, timeout: time.Second, logf: func(string, ...any) {}}
		_, err := r.do(context.Background(), "test", http.MethodGet, url, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "(2 attempts)") {
			t.Fatalf("error = %v", err)
		}
	})
}
