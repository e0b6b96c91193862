package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// The fuzz targets serve fuzzed bytes as a service's answer from loopback, to the code that
// reads it in a real run (sigstore-go's clients and ours, over the transport), and check it
// neither panics nor hangs. Seeds are real answers of the loopback stack and a few broken ones.

// fuzzBound is how long one answer may take to be dealt with.
const fuzzBound = 10 * time.Second

// answering is a loopback service that answers every request with the bytes set last.
type answering struct {
	mu     sync.Mutex
	status int
	header map[string]string
	body   []byte
	URL    string
}

func startAnswering(t testing.TB, status int, header map[string]string) *answering {
	a := &answering{status: status, header: header}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		a.mu.Lock()
		status, body := a.status, a.body
		a.mu.Unlock()
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *answering) set(body []byte) { a.setStatus(a.status, body) }

func (a *answering) setStatus(status int, body []byte) {
	a.mu.Lock()
	a.status, a.body = status, body
	a.mu.Unlock()
}

func fuzzTransport() *transport.Transport {
	return transport.New(transport.WithRetries(1), transport.WithAttemptTimeout(fuzzBound/2), transport.WithMaxResponse(16<<20))
}

// bounded runs fn and fails the test with fn's error, or when fn has not returned within
// fuzzBound (a hang is a finding too, so the fuzzer keeps the input).
func bounded(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(fuzzBound):
		t.Fatalf("%s has not returned after %s", what, fuzzBound)
	}
}

// fakeToken is a JWT-shaped token with GitHub's claims; only Fulcio would check its signature.
func fakeToken(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(b) + "." + enc([]byte("signature-bytes-of-some-length"))
}

func FuzzParseClaims(f *testing.F) {
	f.Add(fakeToken(map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main",
		"job_workflow_ref": "acme/app/.github/workflows/release.yml@refs/heads/main"}))
	f.Add(fakeToken(map[string]any{"iss": "x", "sub": "y"}))
	f.Add(fakeToken(map[string]any{"iss": 1, "sub": []string{"a"}}))
	f.Add("a.b.c")
	f.Add("a.!!!.c")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := parseClaims(token)
		if err == nil && (c.Issuer == "" || c.Subject == "" || c.JobWorkflowRef == "") {
			t.Fatalf("parseClaims(%q) = %+v without an error", token, c)
		}
		if err != nil && !strings.HasPrefix(err.Error(), ErrToken.Error()+": ") {
			t.Fatalf("error %q is not an ErrToken", err)
		}
		if err != nil && len(token) > 20 && strings.Contains(err.Error(), token) {
			t.Fatalf("the error quotes the token: %v", err)
		}
	})
}

func FuzzTokenAnswer(f *testing.F) {
	f.Add(200, []byte(`{"count":1,"value":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}`))
	f.Add(200, []byte(`{"value":""}`))
	f.Add(200, []byte(`{"value":7}`))
	f.Add(200, []byte(`[]`))
	f.Add(401, []byte(`{"message":"Bad credentials"}`))
	f.Add(500, []byte(`req-secret echoed`))
	f.Add(204, []byte{})
	a := startAnswering(f, http.StatusOK, map[string]string{"Content-Type": "application/json"})
	// One transport for all tries, as in a run: its connections are reused, not piled up.
	tr := fuzzTransport()
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		a.setStatus(status, body)
		var masked []string
		bounded(t, "RequestIDToken", func() error {
			tok, err := RequestIDToken(context.Background(), tr, TokenRequest{URL: a.URL + "/token?api-version=2.0", Token: "req-secret"},
				func(s string) { masked = append(masked, s) })
			if err == nil && (tok == "" || len(masked) != 1 || masked[0] != tok || status != 200) {
				return fmt.Errorf("token %q, masked %q, status %d", tok, masked, status)
			}
			if err != nil && strings.Contains(err.Error(), "req-secret") {
				return fmt.Errorf("the request token leaked: %v", err)
			}
			return nil
		})
	})
}

// fuzzStack is the loopback stack a service's fuzz target borrows the rest of signing from.
func fuzzStack(f *testing.F) *testserver.SigningStack {
	return testserver.StartSigningStack(f, testserver.SigningStackOptions{})
}

func stackIDToken(f *testing.F, st *testserver.SigningStack) string {
	tok, err := RequestIDToken(context.Background(), fuzzTransport(), stackToken(st), nil)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func FuzzFulcioAnswer(f *testing.F) {
	st := fuzzStack(f)
	// A real answer of the stack's Fulcio, for another key than the signer's.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256([]byte(fmt.Sprint(st.OIDC.Claims()["sub"])))
	pop, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	reqBody, _ := json.Marshal(map[string]any{"publicKeyRequest": map[string]any{
		"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		"proofOfPossession": base64.StdEncoding.EncodeToString(pop),
	}})
	req, _ := http.NewRequest(http.MethodPost, st.FulcioURL+"/api/v2/signingCert", bytes.NewReader(reqBody))
	req.Header.Set("Authorization", "Bearer "+stackIDToken(f, st))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.Fatal(err)
	}
	real, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f.Add(real)
	f.Add([]byte(`{"signedCertificateDetachedSct":{"chain":{"certificates":["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}}}`))
	f.Add([]byte(`{"signedCertificateEmbeddedSct":{"chain":{"certificates":[]}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))

	fulcio := startAnswering(f, http.StatusOK, map[string]string{"Content-Type": "application/json"})
	tok := stackIDToken(f, st)
	opts := Options{ServerURL: st.ServerURL, FulcioURL: fulcio.URL, TSAURL: st.TSAURL, TrustedRootPath: st.TrustedRootPath, Transport: fuzzTransport()}
	f.Fuzz(func(t *testing.T, body []byte) {
		fulcio.set(body)
		bounded(t, "NewSigner", func() error {
			// Fulcio's answer is never for the signer's fresh key, so it must always be refused.
			if s, err := NewSigner(context.Background(), tok, opts); err == nil {
				return fmt.Errorf("a certificate from a fuzzed answer was accepted: %+v", s.Identity())
			}
			return nil
		})
	})
}

// fuzzSigner is a signer of the stack whose service of one kind is replaced by answering.
func fuzzSigner(f *testing.F, st *testserver.SigningStack, edit func(o *Options)) *Signer {
	opts := Options{ServerURL: st.ServerURL, FulcioURL: st.FulcioURL, TrustedRootPath: st.TrustedRootPath, Transport: fuzzTransport()}
	edit(&opts)
	s, err := NewSigner(context.Background(), stackIDToken(f, st), opts)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// fuzzSign signs the test statement with a service answering body, and checks that what comes
// back, if anything, is a bundle that verifies.
func fuzzSign(t *testing.T, s *Signer, a *answering, body []byte) {
	a.set(body)
	stmt := sbomStatement(t)
	bounded(t, "Sign", func() error {
		b, res, err := s.Sign(context.Background(), stmt)
		if err == nil && (b == nil || res == nil || res.SAN == "") {
			return fmt.Errorf("Sign succeeded with nothing to show")
		}
		return nil
	})
}

func FuzzTSAAnswer(f *testing.F) {
	st := fuzzStack(f)
	query, err := timestamp.CreateRequest(strings.NewReader("another signature"), &timestamp.RequestOptions{})
	if err != nil {
		f.Fatal(err)
	}
	resp, err := http.Post(st.TSAURL, "application/timestamp-query", bytes.NewReader(query))
	if err != nil {
		f.Fatal(err)
	}
	real, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f.Add(real)
	f.Add(real[:len(real)/2])
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Add([]byte{})
	tsa := startAnswering(f, http.StatusOK, map[string]string{"Content-Type": "application/timestamp-reply"})
	s := fuzzSigner(f, st, func(o *Options) { o.TSAURL = tsa.URL + "/api/v1/timestamp" })
	f.Fuzz(func(t *testing.T, body []byte) { fuzzSign(t, s, tsa, body) })
}

func FuzzRekorAnswer(f *testing.F) {
	st := fuzzStack(f)
	// A real answer: the stack's log entry for a signature of the same signer.
	real := newStackSigner(f, st, stackOptions(st, "rekor", nil))
	realBundle, _, err := real.Sign(context.Background(), sbomStatement(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rekorV1Answer(f, st, realBundle))
	f.Add([]byte(`{"x":{}}`))
	f.Add([]byte(`{"x":{"logID":"00","logIndex":1,"integratedTime":1,"body":"e30=","verification":{"signedEntryTimestamp":"AA==","inclusionProof":{"rootHash":"00","logIndex":0,"treeSize":1,"hashes":[],"checkpoint":"c"}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	rekor := startAnswering(f, http.StatusCreated, map[string]string{"Content-Type": "application/json", "ETag": "x"})
	s := fuzzSigner(f, st, func(o *Options) { o.RekorURL = rekor.URL })
	f.Fuzz(func(t *testing.T, body []byte) { fuzzSign(t, s, rekor, body) })
}

func FuzzRekorV2Answer(f *testing.F) {
	st := fuzzStack(f)
	real := newStackSigner(f, st, stackOptions(st, "rekor2", nil))
	realBundle, _, err := real.Sign(context.Background(), sbomStatement(f))
	if err != nil {
		f.Fatal(err)
	}
	var b struct {
		VerificationMaterial struct {
			TlogEntries []json.RawMessage `json:"tlogEntries"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(realBundle, &b); err != nil || len(b.VerificationMaterial.TlogEntries) != 1 {
		f.Fatalf("bundle: %v", err)
	}
	f.Add([]byte(b.VerificationMaterial.TlogEntries[0]))
	f.Add([]byte(`{"logIndex":"0","kindVersion":{"kind":"hashedrekord","version":"0.0.2"}}`))
	f.Add([]byte(`{"inclusionProof":{"checkpoint":{}}}`))
	f.Add([]byte(`{}`))
	rekor := startAnswering(f, http.StatusCreated, map[string]string{"Content-Type": "application/json"})
	s := fuzzSigner(f, st, func(o *Options) { o.RekorURL, o.RekorVersion, o.TSAURL = rekor.URL, 2, st.TSAURL })
	f.Fuzz(func(t *testing.T, body []byte) { fuzzSign(t, s, rekor, body) })
}

// rekorV1Answer is what the stack's Rekor v1 log answers for the entry it made for bundle.
func rekorV1Answer(f *testing.F, st *testserver.SigningStack, bundle []byte) []byte {
	answers := st.RekorAnswers()
	if len(answers) != 1 || !json.Valid(bundle) {
		f.Fatalf("the stack's log holds %d entries, want the bundle's one", len(answers))
	}
	return answers[0]
}
