package sign

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/statement"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

const (
	imageName   = "ghcr.io/acme/app"
	imageDigest = "sha256:9c0a4c1bd1f5e8a3b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4"
	otherDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// testBOM is a CycloneDX document of the shape the sbom stage writes.
var testBOM = []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79","version":1,` +
	`"metadata":{"component":{"type":"container","name":"ghcr.io/acme/app","bom-ref":"image"}},` +
	`"components":[{"type":"library","name":"openssl","version":"3.0.11-1","purl":"pkg:deb/debian/openssl@3.0.11-1"}]}`)

// logSink collects what the signer logs.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// testTransport is the transport of a test run: three tries, quick backoff, attemptTimeout per
// try, trusting the stack's TUF server.
func testTransport(st *testserver.SigningStack, attemptTimeout time.Duration, logs *logSink) *transport.Transport {
	opts := []transport.Option{transport.WithRetries(3), transport.WithBackoff(time.Millisecond, 4*time.Millisecond),
		transport.WithAttemptTimeout(attemptTimeout), transport.WithMaxResponse(16 << 20), transport.WithBase(st.TUFClient.Transport)}
	if logs != nil {
		opts = append(opts, transport.WithLogf(logs.logf))
	}
	return transport.New(opts...)
}

// stackOptions points signing at the loopback stack; mode "rekor" logs in Rekor (public-good
// shape), "tsa" timestamps (GitHub shape), "rekor2" logs in Rekor v2 with a timestamp.
func stackOptions(st *testserver.SigningStack, mode string, logs *logSink) Options {
	o := Options{
		ServerURL:       st.ServerURL,
		FulcioURL:       st.FulcioURL,
		TrustedRootPath: st.TrustedRootPath,
		Transport:       testTransport(st, 5*time.Second, logs),
	}
	if logs != nil {
		o.Logf = logs.logf
	}
	switch mode {
	case "rekor":
		o.RekorURL = st.RekorURL
	case "tsa":
		o.TSAURL = st.TSAURL
	case "rekor2":
		o.RekorURL, o.RekorVersion, o.TSAURL = st.RekorV2URL, 2, st.TSAURL
	default:
		panic(mode)
	}
	return o
}

// stackToken is the runner's token request of the stack.
func stackToken(st *testserver.SigningStack) TokenRequest {
	return TokenRequest{URL: st.OIDC.TokenRequestURL, Token: st.OIDC.TokenRequestToken}
}

// newStackSigner gets an ID token from the stack's runner and a signer for it, as a run does.
func newStackSigner(t testing.TB, st *testserver.SigningStack, opts Options) *Signer {
	t.Helper()
	tok, err := RequestIDToken(context.Background(), opts.Transport, stackToken(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(context.Background(), tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sbomStatement(t testing.TB) []byte {
	t.Helper()
	st, err := testStatement(imageDigest)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testStatement(digest string) ([]byte, error) {
	return statement.New("sbom.cdx.json", []statement.Subject{{Name: imageName, Digest: digest}}, statement.PredicateCycloneDX, testBOM)
}

// independentVerify checks a bundle with sigstore-go alone, the way gh attestation verify
// does, so the signer's own Verify is not the only judge of its output.
func independentVerify(t *testing.T, st *testserver.SigningStack, bundleJSON []byte, mode string) *verify.VerificationResult {
	t.Helper()
	tr, err := root.NewTrustedRootFromPath(st.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		t.Fatalf("bundle does not parse: %v", err)
	}
	opts := []verify.VerifierOption{verify.WithSignedTimestamps(1)}
	switch mode {
	case "rekor":
		opts = []verify.VerifierOption{verify.WithIntegratedTimestamps(1), verify.WithTransparencyLog(1)}
	case "rekor2":
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	v, err := verify.NewVerifier(tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := hex.DecodeString(strings.TrimPrefix(imageDigest, "sha256:"))
	id, err := verify.NewShortCertificateIdentity(st.OIDC.URL, "", st.ExpectedSAN(), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", d), verify.WithCertificateIdentity(id)))
	if err != nil {
		t.Fatalf("sigstore-go does not verify the bundle: %v", err)
	}
	return res
}

func TestSignBothModes(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	for _, mode := range []string{"rekor", "tsa", "rekor2"} {
		t.Run(mode, func(t *testing.T) {
			var masked []string
			opts := stackOptions(st, mode, &logSink{})
			tok, err := RequestIDToken(context.Background(), opts.Transport, stackToken(st), func(s string) { masked = append(masked, s) })
			if err != nil {
				t.Fatal(err)
			}
			if len(masked) != 1 || masked[0] != lastToken(st) || tok != masked[0] {
				t.Fatalf("Mask got %d values, want the token once", len(masked))
			}
			s, err := NewSigner(context.Background(), tok, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Identity(); got.SAN != st.ExpectedSAN() || got.Issuer != st.OIDC.URL {
				t.Fatalf("identity = %+v", got)
			}

			stmt := sbomStatement(t)
			signed, r, err := s.Sign(context.Background(), stmt)
			if err != nil {
				t.Fatal(err)
			}

			res := independentVerify(t, st, signed, mode)
			if res.Statement.GetPredicateType() != statement.PredicateCycloneDX {
				t.Errorf("predicate type = %s", res.Statement.GetPredicateType())
			}

			var raw struct {
				MediaType            string `json:"mediaType"`
				VerificationMaterial struct {
					Certificate *struct{ RawBytes string }         `json:"certificate"`
					TlogEntries []struct{ KindVersion any }        `json:"tlogEntries"`
					Timestamps  *struct{ Rfc3161Timestamps []any } `json:"timestampVerificationData"`
				} `json:"verificationMaterial"`
				DSSE struct {
					Payload     []byte `json:"payload"`
					PayloadType string `json:"payloadType"`
				} `json:"dsseEnvelope"`
			}
			if err := json.Unmarshal(signed, &raw); err != nil {
				t.Fatal(err)
			}
			if raw.MediaType != BundleMediaType || raw.DSSE.PayloadType != "application/vnd.in-toto+json" || raw.VerificationMaterial.Certificate == nil {
				t.Fatalf("signed shape: %s", signed)
			}
			if !bytes.Equal(raw.DSSE.Payload, stmt) {
				t.Fatalf("payload is not the statement")
			}
			hasTlog, hasTS := len(raw.VerificationMaterial.TlogEntries) == 1, raw.VerificationMaterial.Timestamps != nil
			if hasTlog != (mode != "tsa") || hasTS != (mode != "rekor") {
				t.Fatalf("mode %s: tlog entries %v, timestamps %v", mode, hasTlog, hasTS)
			}

			if r.SAN != st.ExpectedSAN() || r.SourceRepository != "https://github.com/acme/app" || r.SourceRef != "refs/heads/main" ||
				len(r.Subjects) != 1 || r.Subjects[0] != (statement.Subject{Name: imageName, Digest: imageDigest}) {
				t.Fatalf("result = %+v", r)
			}
			want := map[string]string{"rekor": TimeSourceLog + " " + st.RekorURL, "tsa": TimeSourceTSA + " " + st.TSAURL, "rekor2": TimeSourceTSA + " " + st.TSAURL}[mode]
			if !strings.HasPrefix(r.TimeSource(), want) {
				t.Fatalf("time source = %q, want %q…", r.TimeSource(), want)
			}
			if mode == "rekor2" && (!strings.Contains(r.TimeSource(), "logged in transparency log "+st.RekorV2URL+" (log index 0)") || st.RekorV2Entries() != 1) {
				t.Fatalf("time source = %q, Rekor v2 entries %d", r.TimeSource(), st.RekorV2Entries())
			}
		})
	}
}

func lastToken(st *testserver.SigningStack) string {
	m := st.OIDC.Minted()
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}
