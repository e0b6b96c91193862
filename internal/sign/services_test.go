package sign

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// recorder is the bottom of a test's transport: it notes every request that reaches the network.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.UserAgent()+" "+req.Method+" "+req.URL.Host+req.URL.Path)
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// TestPublicGoodFollowsSigningConfig signs as the public-good instance does, with the stack as
// the instance: trusted root and services from its TUF repository, Rekor v1 by default and Rekor
// v2 (with a timestamp) on request. Every request, of every client, goes through the one
// transport with its User-Agent.
func TestPublicGoodFollowsSigningConfig(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	for _, tt := range []struct {
		version  int
		mode     string
		services string
	}{
		{1, "rekor", "Fulcio " + st.FulcioURL + ", Rekor " + st.RekorURL},
		{2, "rekor2", "Fulcio " + st.FulcioURL + ", Rekor v2 " + st.RekorV2URL + ", TSA " + st.TSAURL},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			rec := &recorder{base: st.TUFClient.Transport}
			logs := &logSink{}
			tr := transport.New(transport.WithBase(rec), transport.WithUserAgent("bom-attest/test"), transport.WithBackoff(time.Millisecond, time.Millisecond))
			opts := Options{Instance: InstancePublicGood, ServerURL: st.ServerURL, RekorVersion: tt.version,
				TUFMirror: st.TUFURL, TUFRoot: st.TUFRoot, Transport: tr, Logf: logs.logf}
			s := newStackSigner(t, st, opts)
			b, res, err := s.Sign(context.Background(), sbomStatement(t))
			if err != nil {
				t.Fatal(err)
			}
			independentVerify(t, st, b, tt.mode)
			if !strings.Contains(logs.String(), "public-good instance: "+tt.services) {
				t.Errorf("log does not say %q:\n%s", tt.services, logs)
			}
			if tt.version == 2 && res.LogURL != st.RekorV2URL {
				t.Errorf("logged in %q", res.LogURL)
			}
			hosts := map[string]bool{}
			for _, r := range rec.seen {
				if !strings.HasPrefix(r, "bom-attest/test ") {
					t.Errorf("request without our User-Agent: %s", r)
				}
				hosts[strings.Fields(r)[2][:strings.Index(strings.Fields(r)[2], "/")]] = true
			}
			for _, u := range []string{st.TUFURL, st.FulcioURL, st.OIDC.URL, map[int]string{1: st.RekorURL, 2: st.RekorV2URL}[tt.version]} {
				if !hosts[strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")] {
					t.Errorf("no request to %s went through the transport: %q", u, rec.seen)
				}
			}
		})
	}
}

// TestRedirectsOffTheService: a signing request redirected to another host, and a Rekor 409
// whose Location names another host, are refused, and the other host hears nothing.
func TestRedirectsOffTheService(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	var elsewhere atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer evil.Close()
	// 127.0.0.1 and localhost are different hosts to a client.
	away := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	redirect := func(status int, path string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", away+path)
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name string
		mode string
		edit func(o *Options)
		err  error
	}{
		{"fulcio 307", "tsa", func(o *Options) { o.FulcioURL = redirect(http.StatusTemporaryRedirect, "/api/v2/signingCert") }, ErrFulcio},
		{"fulcio 308", "tsa", func(o *Options) { o.FulcioURL = redirect(http.StatusPermanentRedirect, "/api/v2/signingCert") }, ErrFulcio},
		{"tsa 307", "tsa", func(o *Options) {
			o.TSAURL = redirect(http.StatusTemporaryRedirect, "/api/v1/timestamp") + "/api/v1/timestamp"
		}, ErrTSA},
		{"rekor 307", "rekor", func(o *Options) { o.RekorURL = redirect(http.StatusTemporaryRedirect, "/api/v1/log/entries") }, ErrRekor},
		{"rekor 409 elsewhere", "rekor", func(o *Options) { o.RekorURL = redirect(http.StatusConflict, "/api/v1/log/entries/0123") }, ErrRekor},
		{"rekor v2 307", "rekor2", func(o *Options) { o.RekorURL = redirect(http.StatusTemporaryRedirect, "/api/v2/log/entries") }, ErrRekor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := elsewhere.Load()
			opts := stackOptions(st, tt.mode, nil)
			tt.edit(&opts)
			_, err := signOnce(context.Background(), opts, stackToken(st))
			if !errors.Is(err, tt.err) || !errors.Is(err, transport.ErrRedirect) {
				t.Fatalf("error = %v, want %v and %v", err, tt.err, transport.ErrRedirect)
			}
			if n := elsewhere.Load() - before; n != 0 {
				t.Fatalf("the other host got %d requests", n)
			}
		})
	}
}

// TestCancelStopsSigning: a service that never answers does not hold a cancelled run, though
// sigstore-go's Fulcio and TSA clients make their requests without a context.
func TestCancelStopsSigning(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	tests := []struct {
		name string
		mode string
		hang *testserver.SigstoreFaults
		err  error
	}{
		{"fulcio", "tsa", st.Fulcio, ErrFulcio},
		{"tsa", "tsa", st.TSA, ErrTSA},
		{"rekor", "rekor", st.Rekor, ErrRekor},
		{"rekor v2", "rekor2", st.RekorV2, ErrRekor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := stackOptions(st, tt.mode, nil)
			opts.Transport = testTransport(st, time.Minute, nil)
			tt.hang.HangNext(1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			_, err := signOnce(ctx, opts, stackToken(st))
			if !errors.Is(err, tt.err) || !errors.Is(err, context.Canceled) {
				t.Fatalf("error = %v, want %v and %v", err, tt.err, context.Canceled)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("a cancelled signing took %s to stop", d)
			}
		})
	}
}
