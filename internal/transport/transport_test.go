package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script answers each request with the next reply; a reply of 0 drops the connection after
// reading the request, -1 hangs until the test ends.
type script struct {
	mu      sync.Mutex
	replies []reply
	got     []string // method, UA and body of every request seen
}

type reply struct {
	status int
	header map[string]string
	body   string
}

func (s *script) serve(t *testing.T) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.UserAgent()+" "+string(body))
		rep := reply{status: 200, body: "ok"}
		if len(s.replies) > 0 {
			rep, s.replies = s.replies[0], s.replies[1:]
		}
		s.mu.Unlock()
		switch rep.status {
		case 0:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		case -1:
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func (s *script) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func fast(opts ...Option) *Transport {
	t := New(append([]Option{WithBackoff(time.Millisecond, 4*time.Millisecond), WithUserAgent("bom-attest/test")}, opts...)...)
	return t
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		ctx      func(context.Context) context.Context
		replies  []reply
		attempts int
		status   int   // final status when there is no error
		err      error // sentinel, when the call fails
		tries    int   // requests the server saw
	}{
		{name: "GET retried on 503", method: "GET", replies: []reply{{status: 503}, {status: 502}, {status: 200}}, status: 200, tries: 3},
		{name: "GET gives up after attempts", method: "GET", replies: []reply{{status: 500}, {status: 500}, {status: 500}}, attempts: 2, status: 500, tries: 2},
		{name: "GET retried on dropped connection", method: "GET", replies: []reply{{status: 0}, {status: 200}}, status: 200, tries: 2},
		{name: "4xx not retried", method: "GET", replies: []reply{{status: 404}}, status: 404, tries: 1},
		{name: "403 without rate limit not retried", method: "POST", replies: []reply{{status: 403}}, status: 403, tries: 1},
		{name: "POST retried on 429", method: "POST", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 201}}, status: 201, tries: 2},
		{name: "POST retried on secondary rate limit 403", method: "POST", replies: []reply{{status: 403, header: map[string]string{"Retry-After": "0"}}, {status: 201}}, status: 201, tries: 2},
		{name: "POST not retried on 502 without a check", method: "POST", replies: []reply{{status: 502}, {status: 201}}, status: 502, tries: 1},
		{name: "POST dropped after sending: outcome unknown", method: "POST", replies: []reply{{status: 0}, {status: 201}}, err: ErrOutcomeUnknown, tries: 1},
		{name: "idempotent POST retried on 502", method: "POST", ctx: Idempotent, replies: []reply{{status: 502}, {status: 200}}, status: 200, tries: 2},
		{name: "idempotent POST retried after drop", method: "POST", ctx: Idempotent, replies: []reply{{status: 0}, {status: 200}}, status: 200, tries: 2},
		{name: "resend check says applied", method: "POST", ctx: func(ctx context.Context) context.Context {
			return WithResendCheck(ctx, func(context.Context) (bool, error) { return true, nil })
		}, replies: []reply{{status: 502}, {status: 201}}, err: ErrApplied, tries: 1},
		{name: "resend check says not applied", method: "POST", ctx: func(ctx context.Context) context.Context {
			return WithResendCheck(ctx, func(context.Context) (bool, error) { return false, nil })
		}, replies: []reply{{status: 0}, {status: 201}}, status: 201, tries: 2},
		{name: "resend check fails", method: "POST", ctx: func(ctx context.Context) context.Context {
			return WithResendCheck(ctx, func(context.Context) (bool, error) { return false, errors.New("list failed") })
		}, replies: []reply{{status: 504}}, err: ErrOutcomeUnknown, tries: 1},
		{name: "Retry-After beyond max wait is returned", method: "GET", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "3600"}}}, status: 429, tries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{replies: tt.replies}
			srv := s.serve(t)
			opts := []Option{}
			if tt.attempts > 0 {
				opts = append(opts, WithRetries(tt.attempts))
			}
			c := fast(opts...).Client()
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL+"/x", bytes.NewReader([]byte("payload")))
			resp, err := c.Do(req)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
				}
			}
			got := s.requests()
			if len(got) != tt.tries {
				t.Errorf("server saw %d requests, want %d: %q", len(got), tt.tries, got)
			}
			for _, g := range got {
				if g != tt.method+" bom-attest/test payload" {
					t.Errorf("request = %q: want the whole body and our User-Agent on every try", g)
				}
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := &script{replies: []reply{{status: 503, header: map[string]string{"Retry-After": "2"}}, {status: 200}}}
	srv := s.serve(t)
	tr := fast()
	var waited time.Duration
	tr.sleep = func(_ context.Context, d time.Duration) error { waited += d; return nil }
	resp, err := tr.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if waited != 2*time.Second {
		t.Errorf("waited %s, want the 2s the server asked for", waited)
	}
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	if d := retryAfter(&http.Response{Header: http.Header{"Retry-After": {date}}}); d < time.Second || d > 3*time.Second {
		t.Errorf("Retry-After as a date = %s", d)
	}
	reset := time.Now().Add(10 * time.Second).Unix()
	h := http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}
	if d := retryAfter(&http.Response{Header: h}); d < 8*time.Second || d > 10*time.Second {
		t.Errorf("X-RateLimit-Reset wait = %s", d)
	}
}

func TestBackoffDoubles(t *testing.T) {
	tr := New(WithBackoff(time.Second, 5*time.Second))
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := tr.backoffFor(i + 1); got != w {
			t.Errorf("backoff after try %d = %s, want %s", i+1, got, w)
		}
	}
}

func TestAttemptTimeoutThenRetry(t *testing.T) {
	s := &script{replies: []reply{{status: -1}, {status: 200, body: "late but fine"}}}
	srv := s.serve(t)
	c := fast(WithAttemptTimeout(100 * time.Millisecond)).Client()
	start := time.Now()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The timeout bounds the headers only: the body is read after it has passed.
	time.Sleep(150 * time.Millisecond)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "late but fine" {
		t.Fatalf("body = %q, %v", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	s := &script{replies: []reply{{status: 503, header: map[string]string{"Retry-After": "30"}}}}
	srv := s.serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := New().Client().Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %s to stop the wait", d)
	}
}

func TestMaxResponse(t *testing.T) {
	s := &script{replies: []reply{{status: 200, body: strings.Repeat("x", 100)}, {status: 200, body: strings.Repeat("x", 101)}}}
	srv := s.serve(t)
	c := fast(WithMaxResponse(100)).Client()
	for i, wantErr := range []bool{false, true} {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if wantErr != errors.Is(err, ErrTooLarge) {
			t.Errorf("answer %d (%d bytes read): err = %v", i, len(b), err)
		}
	}
}

func TestRefusesPlainHTTPOffLoopback(t *testing.T) {
	var dialed atomic.Bool
	base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed.Store(true)
		return nil, errors.New("no network in tests")
	}}
	_, err := New(WithBase(base)).Client().Get("http://registry.example.com/v2/")
	if !errors.Is(err, ErrInsecure) || dialed.Load() {
		t.Fatalf("err = %v, dialed = %v", err, dialed.Load())
	}
}

// TestRedirects: same-host redirects are followed; one to another host is refused, also under an
// http.Client a library makes around the transport (which follows redirects anywhere), and the
// other host hears nothing.
func TestRedirects(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "elsewhere")
	}))
	defer other.Close()
	// 127.0.0.1 and localhost are different hosts to a browser and to us.
	away := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/x"
	mux := http.NewServeMux()
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/final", http.StatusFound) })
	mux.HandleFunc("/same307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "here") })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, away, http.StatusConflict) })
	mux.HandleFunc("/away307", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, away, http.StatusTemporaryRedirect) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for name, c := range map[string]*http.Client{"Client": fast().Client(), "a library's client": {Transport: fast()}} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/same", "/same307"} {
				resp, err := c.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "here" {
					t.Errorf("same-host redirect %s: %q", path, b)
				}
			}
			if _, err := c.Post(srv.URL+"/away307", "application/json", strings.NewReader("{}")); !errors.Is(err, ErrRedirect) {
				t.Errorf("cross-host redirect: err = %v", err)
			}
			// A 409 with Location (Rekor's "already there") is not a redirect the client follows at all.
			resp, err := c.Post(srv.URL+"/away", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict {
				t.Errorf("409 followed: %d", resp.StatusCode)
			}
			if n := reached.Load(); n != 0 {
				t.Errorf("the other host got %d requests", n)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRoYXQtbWFrZXMtaXQtdXNhYmxl"
	tr := New(WithRetries(1), WithBase(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("proxy said: bad token " + jwt + " for " + r.URL.String())
	})))
	tr.AddSecret(jwt)
	_, err := tr.Client().Get("https://fulcio.example/api")
	if err == nil || strings.Contains(err.Error(), "c2lnbmF0dXJlLXRoYXQtbWFrZXMtaXQtdXNhYmxl") {
		t.Fatalf("err = %v", err)
	}
	var lines []string
	tr = New(WithBackoff(time.Millisecond, time.Millisecond), WithRetries(2), WithLogf(func(f string, a ...any) {
		lines = append(lines, strings.TrimSpace(strings.ReplaceAll(f, "%s", "")+a[0].(string)))
	}), WithBase(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("echo " + jwt)
	})))
	tr.AddSecret(jwt)
	tr.Client().Get("https://fulcio.example/")
	for _, l := range lines {
		if strings.Contains(l, "c2lnbmF0dXJl") {
			t.Errorf("retry log leaks the token: %s", l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("retry log = %q", lines)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestErrorOnGiveUp: a client with a retry loop of its own gets an error, not the last 5xx, once
// the transport has spent its tries, and the error quotes the answer without secrets.
func TestErrorOnGiveUp(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXRoYXQtbWFrZXMtaXQtdXNhYmxl"
	tests := []struct {
		name    string
		ctx     func(context.Context) context.Context
		replies []reply
		status  int
		err     error
		message string
		tries   int
	}{
		{name: "5xx to the end", ctx: func(c context.Context) context.Context { return ErrorOnGiveUp(Idempotent(c)) },
			replies: []reply{{status: 503, body: "busy " + secret}, {status: 503, body: "busy " + secret}},
			err:     ErrGaveUp, message: "answered 503 Service Unavailable: busy *** (2 attempts)", tries: 2},
		{name: "non-idempotent 502 is not retried", ctx: ErrorOnGiveUp, replies: []reply{{status: 502}},
			err: ErrGaveUp, message: "(1 attempt)", tries: 1},
		{name: "heals", ctx: func(c context.Context) context.Context { return ErrorOnGiveUp(Idempotent(c)) },
			replies: []reply{{status: 503}, {status: 200}}, status: 200, tries: 2},
		{name: "4xx is the caller's", ctx: ErrorOnGiveUp, replies: []reply{{status: 400}}, status: 400, tries: 1},
		{name: "unmarked requests get the answer", ctx: Idempotent, replies: []reply{{status: 503}, {status: 503}}, status: 503, tries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{replies: tt.replies}
			srv := s.serve(t)
			tr := fast(WithRetries(2))
			tr.AddSecret(secret)
			req, _ := http.NewRequestWithContext(tt.ctx(context.Background()), "POST", srv.URL, strings.NewReader("payload"))
			resp, err := tr.Client().Do(req)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err = %q, want it to say %q", err, tt.message)
			}
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
				}
			}
			if got := len(s.requests()); got != tt.tries {
				t.Errorf("server saw %d requests, want %d", got, tt.tries)
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	tr := New()
	tr.AddSecret("s3cr3t-value")
	err := tr.RedactError(fmt.Errorf("%w: server said s3cr3t-value", ErrTooLarge))
	if strings.Contains(err.Error(), "s3cr3t-value") || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// TestCrossHostReads: a registry's blob GET redirected to a CDN is followed by the transport that
// allows it, with the Authorization header dropped; a POST is not, and without the option neither.
func TestCrossHostReads(t *testing.T) {
	var auth atomic.Value
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "blob")
	}))
	defer cdn.Close()
	to := strings.Replace(cdn.URL, "127.0.0.1", "localhost", 1) + "/blob"
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusTemporaryRedirect) }))
	defer reg.Close()

	get := func(tr *Transport, method string) error {
		req, _ := http.NewRequest(method, reg.URL+"/v2/app/blobs/sha256:x", strings.NewReader("{}"))
		if method == http.MethodGet {
			req.Body = nil
		}
		req.Header.Set("Authorization", "Bearer registry-token")
		resp, err := tr.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(fast(WithCrossHostReads()), http.MethodGet); err != nil {
		t.Fatalf("GET with cross-host reads: %v", err)
	}
	if a, _ := auth.Load().(string); a != "" {
		t.Errorf("the CDN got Authorization %q", a)
	}
	if err := get(fast(WithCrossHostReads()), http.MethodPost); !errors.Is(err, ErrRedirect) {
		t.Errorf("POST with cross-host reads: err = %v", err)
	}
	if err := get(fast(), http.MethodGet); !errors.Is(err, ErrRedirect) {
		t.Errorf("GET without cross-host reads: err = %v", err)
	}
	// A library's own client over the transport gets the same rule.
	lib := &http.Client{Transport: fast(WithCrossHostReads())}
	resp, err := lib.Get(reg.URL + "/v2/app/blobs/sha256:x")
	if err != nil {
		t.Fatalf("library client GET: %v", err)
	}
	resp.Body.Close()
}
