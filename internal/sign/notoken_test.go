package sign

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestNoTokenAnywhere runs signing the good way and several bad ways, including services that
// echo the token back, and looks for any token in every log line, error, output and file.
func TestNoTokenAnywhere(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	dir := t.TempDir()
	logs := &logSink{}
	var texts []string
	ctx := context.Background()

	trusted, err := ReadTrustedRoot(ctx, st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"rekor", "tsa", "rekor2"} {
		s := newStackSigner(t, st, stackOptions(st, mode, logs))
		if err := os.MkdirAll(filepath.Join(dir, mode), 0o755); err != nil {
			t.Fatal(err)
		}
		bundle, res, err := s.Sign(ctx, sbomStatement(t))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, mode, "sbom.sigstore.json")
		if err := os.WriteFile(path, bundle, 0o644); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, fmt.Sprint(res.Summary()))
		// What the verify command prints of a bundle.
		again, err := Verify(bundle, trusted, Policy{SubjectDigest: imageDigest, Issuer: st.OIDC.URL, SANRegex: "^https://github.com/acme/"})
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, fmt.Sprint(again.Summary()))
	}

	// Failures whose messages carry server answers.
	fail := func(setup func(o *Options, r *TokenRequest)) {
		t.Helper()
		o, r := stackOptions(st, "tsa", logs), stackToken(st)
		o.Transport = testTransport(st, 200*time.Millisecond, logs)
		setup(&o, &r)
		if _, err := signOnce(ctx, o, r); err == nil {
			t.Fatal("expected a failure")
		} else {
			texts = append(texts, err.Error())
		}
	}
	fail(func(*Options, *TokenRequest) { st.Fulcio.FailNext(3, http.StatusServiceUnavailable) })
	fail(func(*Options, *TokenRequest) { st.TSA.HangNext(3) })
	fail(func(*Options, *TokenRequest) { st.OIDC.Faults.FailNext(1, http.StatusUnauthorized) })

	// A Fulcio and a token endpoint that quote the request back, secrets included.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("you sent " + r.Header.Get("Authorization") + " " + string(body)))
	}))
	defer echo.Close()
	var echoed []string
	fail(func(o *Options, _ *TokenRequest) { o.FulcioURL = echo.URL })
	echoed = append(echoed, texts[len(texts)-1])
	fail(func(_ *Options, r *TokenRequest) { r.URL = echo.URL + "/token?api-version=2.0" })
	echoed = append(echoed, texts[len(texts)-1])
	for _, e := range echoed {
		if !strings.Contains(e, "***") {
			t.Errorf("the echoing server's answer was not redacted (or not quoted): %s", e)
		}
	}

	texts = append(texts, logs.String())
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		texts = append(texts, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	secrets := []string{st.OIDC.TokenRequestToken}
	for _, tok := range st.OIDC.Minted() {
		secrets = append(secrets, tok, tok[strings.LastIndex(tok, ".")+1:])
	}
	if len(secrets) < 7 {
		t.Fatalf("only %d secrets to look for; the runs did not fetch tokens", len(secrets))
	}
	all := strings.Join(texts, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Fatalf("a secret (%d chars) leaked into logs, errors, outputs or files", len(s))
		}
	}
}
