package sign

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestFaults drives every service of the stack into trouble: each fault either heals within
// the retries or ends in a clear error, and a failure returns no bundle.
func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		mode     string
		setup    func(st *testserver.SigningStack, o *Options, r *TokenRequest)
		err      error
		message  string
		requests func(st *testserver.SigningStack) (got, want int)
	}{
		{name: "oidc 401", mode: "tsa", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.OIDC.Faults.FailNext(1, http.StatusUnauthorized)
		},
			err: ErrToken, message: "id-token: write",
			requests: func(st *testserver.SigningStack) (int, int) { return st.OIDC.Faults.Requests(), 1 }},
		{name: "oidc wrong request token", mode: "tsa", setup: func(_ *testserver.SigningStack, _ *Options, r *TokenRequest) { r.Token = "stale" },
			err: ErrToken, message: "401"},
		{name: "oidc 500 every time", mode: "rekor", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.OIDC.Faults.FailNext(3, http.StatusInternalServerError)
		},
			err: ErrToken, message: "500 Internal Server Error",
			requests: func(st *testserver.SigningStack) (int, int) { return st.OIDC.Faults.Requests(), 3 }},
		{name: "oidc 500 then ok", mode: "rekor", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.OIDC.Faults.FailNext(1, http.StatusInternalServerError)
		},
			requests: func(st *testserver.SigningStack) (int, int) { return st.OIDC.Faults.Requests(), 2 }},
		{name: "no token request url", mode: "tsa", setup: func(_ *testserver.SigningStack, _ *Options, r *TokenRequest) { r.URL = "" },
			err: ErrToken, message: "id-token: write"},
		{name: "fulcio 503 then ok", mode: "tsa", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Fulcio.FailNext(1, http.StatusServiceUnavailable)
		},
			requests: func(st *testserver.SigningStack) (int, int) { return st.Fulcio.Requests(), 2 }},
		{name: "fulcio 503 every time", mode: "tsa", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Fulcio.FailNext(3, http.StatusServiceUnavailable)
		},
			err: ErrFulcio, message: "503 Service Unavailable",
			requests: func(st *testserver.SigningStack) (int, int) { return st.Fulcio.Requests(), 3 }},
		{name: "fulcio 400 is not retried", mode: "tsa", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Fulcio.FailNext(1, http.StatusBadRequest)
		},
			err: ErrFulcio, message: "400 Bad Request",
			requests: func(st *testserver.SigningStack) (int, int) { return st.Fulcio.Requests(), 1 }},
		{name: "tsa timeout", mode: "tsa", setup: func(st *testserver.SigningStack, o *Options, _ *TokenRequest) {
			st.TSA.HangNext(3)
			o.Transport = testTransport(st, 100*time.Millisecond, nil)
		}, err: ErrTSA, message: "timed out after 100ms (3 attempts)",
			requests: func(st *testserver.SigningStack) (int, int) { return st.TSA.Requests(), 3 }},
		{name: "tsa timeout then ok", mode: "tsa", setup: func(st *testserver.SigningStack, o *Options, _ *TokenRequest) {
			st.TSA.HangNext(1)
			o.Transport = testTransport(st, 200*time.Millisecond, nil)
		}, requests: func(st *testserver.SigningStack) (int, int) { return st.TSA.Requests(), 2 }},
		{name: "tsa 429 then ok", mode: "tsa", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.TSA.FailNext(2, http.StatusTooManyRequests)
		},
			requests: func(st *testserver.SigningStack) (int, int) { return st.TSA.Requests(), 3 }},
		{name: "rekor 409", mode: "rekor", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Rekor.FailNext(1, http.StatusConflict)
		},
			requests: func(st *testserver.SigningStack) (int, int) { return st.Rekor.Requests(), 2 }},
		{name: "rekor 500 every time", mode: "rekor", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Rekor.FailNext(3, http.StatusInternalServerError)
		},
			err: ErrRekor, message: "(3 attempts)",
			requests: func(st *testserver.SigningStack) (int, int) { return st.Rekor.Requests(), 3 }},
		{name: "rekor 502 then ok", mode: "rekor", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.Rekor.FailNext(2, http.StatusBadGateway)
		},
			requests: func(st *testserver.SigningStack) (int, int) { return st.Rekor.Requests(), 3 }},
		{name: "rekor v2 503 is not sent again", mode: "rekor2", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.RekorV2.FailNext(1, http.StatusServiceUnavailable)
		}, err: ErrRekor, message: "503 Service Unavailable",
			requests: func(st *testserver.SigningStack) (int, int) { return st.RekorV2.Requests(), 1 }},
		{name: "rekor v2 429 then ok", mode: "rekor2", setup: func(st *testserver.SigningStack, _ *Options, _ *TokenRequest) {
			st.RekorV2.FailNext(1, http.StatusTooManyRequests)
		}, requests: func(st *testserver.SigningStack) (int, int) { return st.RekorV2.Requests(), 2 }},
		{name: "rekor timeout", mode: "rekor", setup: func(st *testserver.SigningStack, o *Options, _ *TokenRequest) {
			st.Rekor.HangNext(3)
			o.Transport = testTransport(st, 100*time.Millisecond, nil)
		}, err: ErrRekor, message: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
			logs := &logSink{}
			opts, req := stackOptions(st, tt.mode, logs), stackToken(st)
			if tt.setup != nil {
				tt.setup(st, &opts, &req)
			}
			bundle, err := signOnce(context.Background(), opts, req)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v\nlog:\n%s", err, tt.err, logs)
			}
			if err != nil && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			if err != nil && bundle != nil {
				t.Errorf("a failed run returned a bundle")
			}
			if err == nil {
				independentVerify(t, st, bundle, tt.mode)
			}
			if tt.requests != nil {
				if got, want := tt.requests(st); got != want {
					t.Errorf("service saw %d requests, want %d", got, want)
				}
			}
		})
	}
}

// signOnce gets a token and signs the test SBOM statement with a new signer, as one run would.
func signOnce(ctx context.Context, opts Options, req TokenRequest) ([]byte, error) {
	tok, err := RequestIDToken(ctx, opts.Transport, req, nil)
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(ctx, tok, opts)
	if err != nil {
		return nil, err
	}
	stmt, err := testStatement(imageDigest)
	if err != nil {
		return nil, err
	}
	b, _, err := s.Sign(ctx, stmt)
	return b, err
}
