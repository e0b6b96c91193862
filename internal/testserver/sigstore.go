package testserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/digitorus/timestamp"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	fulciocert "github.com/sigstore/fulcio/pkg/certificate"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1" // registers the dsse kind the log accepts
	rekorutil "github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// SigningStackOptions configures StartSigningStack.
type SigningStackOptions struct {
	// ServerURL is the GitHub server the identities live on; Fulcio builds the SAN and the
	// URI extensions from it (default "https://github.com").
	ServerURL string
	// Claims are the ID token claims (nil: OIDCGitHubClaims()).
	Claims map[string]any
}

// SigningStack is a Sigstore deployment on loopback speaking the real protocols: an OIDC issuer,
// Fulcio (POST /api/v2/signingCert, requests decoded with Fulcio's own protobuf types), an
// RFC 3161 timestamp authority (POST /api/v1/timestamp), a Rekor v1 log (POST
// /api/v1/log/entries, GET /api/v1/log/entries/{uuid}) and a Rekor v2 log (POST
// /api/v2/log/entries, entries made by rekor-tiles' own code, checkpoints signed as notes), plus
// a trusted_root.json for all of them. A TUF repository publishes that trusted root and the
// stack's signing configs, as the public-good instance does, so bundles can be checked by an
// independent verifier and signers can find the services the way they find the real ones.
type SigningStack struct {
	OIDC *OIDCIssuer
	// ServerURL is the GitHub server URL identities are built on.
	ServerURL string
	// FulcioURL, RekorURL and RekorV2URL are base URLs; TSAURL is the full timestamp endpoint.
	FulcioURL, RekorURL, RekorV2URL, TSAURL string
	// TrustedRootPath is a trusted_root.json naming the stack's Fulcio CA, TSA and both logs.
	TrustedRootPath string
	// TUFURL serves the same trusted root through TUF over HTTPS, with signing_config.v0.2.json
	// (Fulcio, Rekor v1, TSA) and signing_config_rekor_v2.v0.2.json (Rekor v2 before v1);
	// TUFRoot is the repository's first root.json and TUFClient trusts the server's certificate.
	TUFURL    string
	TUFRoot   []byte
	TUFClient *http.Client
	// Fault knobs; each counts the requests its service received.
	Fulcio, Rekor, RekorV2, TSA *SigstoreFaults

	client *http.Client

	fulcioRoot, fulcioInter *x509.Certificate
	fulcioKey               *ecdsa.PrivateKey
	tsaLeaf                 *x509.Certificate
	tsaChain                []*x509.Certificate
	tsaKey                  *ecdsa.PrivateKey
	rekorKey                *ecdsa.PrivateKey
	rekorLogID              string

	rekorMu      sync.Mutex
	rekorTree    *testonly.Tree
	rekorEntries map[string]models.LogEntryAnon

	rekorV2 *rekorV2Log
}

// StartSigningStack starts every service of the stack and writes its trusted root into a
// temporary directory; everything stops when the test ends.
func StartSigningStack(t testing.TB, opts SigningStackOptions) *SigningStack {
	t.Helper()
	s := &SigningStack{
		OIDC:         StartOIDCIssuer(t, opts.Claims),
		ServerURL:    strings.TrimSuffix(opts.ServerURL, "/"),
		Fulcio:       &SigstoreFaults{},
		Rekor:        &SigstoreFaults{},
		RekorV2:      &SigstoreFaults{},
		TSA:          &SigstoreFaults{},
		client:       &http.Client{Timeout: 10 * time.Second},
		rekorTree:    testonly.New(rfc6962.DefaultHasher),
		rekorEntries: map[string]models.LogEntryAnon{},
	}
	if s.ServerURL == "" {
		s.ServerURL = "https://github.com"
	}
	var err error
	if err = s.makeKeys(); err != nil {
		t.Fatalf("signing stack keys: %v", err)
	}

	fulcio := http.NewServeMux()
	fulcio.HandleFunc("POST /api/v2/signingCert", s.serveSigningCert)
	tsa := http.NewServeMux()
	tsa.HandleFunc("POST /api/v1/timestamp", s.serveTimestamp)
	rekor := http.NewServeMux()
	rekor.HandleFunc("POST /api/v1/log/entries", s.serveRekorCreate)
	rekor.HandleFunc("GET /api/v1/log/entries/{uuid}", s.serveRekorGet)
	rekorV2 := http.NewServeMux()
	rekorV2.HandleFunc("POST /api/v2/log/entries", s.serveRekorV2Create)
	for _, srv := range []struct {
		h   http.Handler
		url *string
		f   *SigstoreFaults
	}{{fulcio, &s.FulcioURL, s.Fulcio}, {tsa, &s.TSAURL, s.TSA}, {rekor, &s.RekorURL, s.Rekor}, {rekorV2, &s.RekorV2URL, s.RekorV2}} {
		ts := httptest.NewServer(srv.h)
		f := srv.f
		t.Cleanup(func() {
			f.release()
			ts.Close()
		})
		*srv.url = ts.URL
	}
	s.TSAURL += "/api/v1/timestamp"
	if s.rekorV2, err = newRekorV2Log(s.RekorV2URL); err != nil {
		t.Fatalf("signing stack Rekor v2 log: %v", err)
	}

	trusted, err := s.trustedRoot()
	if err != nil {
		t.Fatalf("signing stack trusted root: %v", err)
	}
	s.TrustedRootPath = filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(s.TrustedRootPath, trusted, 0o644); err != nil {
		t.Fatal(err)
	}
	configs, err := s.signingConfigs()
	if err != nil {
		t.Fatalf("signing stack signing configs: %v", err)
	}
	configs["trusted_root.json"] = trusted
	if err := s.startTUF(t, configs); err != nil {
		t.Fatalf("signing stack TUF repository: %v", err)
	}
	return s
}

// ExpectedSAN is the identity Fulcio puts in certificates for the stack's tokens: the server URL
// and the job_workflow_ref claim.
func (s *SigningStack) ExpectedSAN() string {
	return s.ServerURL + "/" + fmt.Sprint(s.OIDC.Claims()["job_workflow_ref"])
}

// RekorV2Entries is how many entries the Rekor v2 log holds.
func (s *SigningStack) RekorV2Entries() int { return s.rekorV2.size() }

// RekorAnswers are the Rekor v1 log's answers for the entries it holds, as GET
// /api/v1/log/entries/{uuid} gives them (fuzz targets start from them).
func (s *SigningStack) RekorAnswers() [][]byte {
	s.rekorMu.Lock()
	defer s.rekorMu.Unlock()
	var out [][]byte
	for uuid, anon := range s.rekorEntries {
		b, err := json.Marshal(models.LogEntry{uuid: anon})
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

// RekorEntries is how many entries the log holds.
func (s *SigningStack) RekorEntries() int {
	s.rekorMu.Lock()
	defer s.rekorMu.Unlock()
	return len(s.rekorEntries)
}

// SigstoreFaults makes one service of the stack misbehave for its next requests, in order.
// The zero value is ready to use.
type SigstoreFaults struct {
	mu       sync.Mutex
	queue    []int
	requests int
	stop     chan struct{}
}

// sigstoreHang stands in the fault queue for "never answer".
const sigstoreHang = -1

// FailNext answers the next n requests with status (a 409 from Rekor still logs the entry, as a
// retried request that reached the log the first time).
func (f *SigstoreFaults) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, status)
	}
}

// HangNext leaves the next n requests unanswered until the client gives up.
func (f *SigstoreFaults) HangNext(n int) { f.FailNext(n, sigstoreHang) }

// Requests counts the requests the service received, faulty ones included.
func (f *SigstoreFaults) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *SigstoreFaults) next() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.stop == nil {
		f.stop = make(chan struct{})
	}
	if len(f.queue) == 0 {
		return 0
	}
	st := f.queue[0]
	f.queue = f.queue[1:]
	return st
}

func (f *SigstoreFaults) stopped() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop == nil {
		f.stop = make(chan struct{})
	}
	return f.stop
}

func (f *SigstoreFaults) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop == nil {
		f.stop = make(chan struct{})
	}
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
}

// apply consumes the next fault and, if there is one, answers with it; true means handled.
func (f *SigstoreFaults) apply(w http.ResponseWriter, r *http.Request) bool {
	return f.answer(f.next(), w, r)
}

func (f *SigstoreFaults) answer(st int, w http.ResponseWriter, r *http.Request) bool {
	switch st {
	case 0:
		return false
	case sigstoreHang:
		select {
		case <-r.Context().Done():
		case <-f.stopped():
		}
		return true
	default:
		oidcWriteJSON(w, st, map[string]any{"code": st, "message": "injected fault: " + http.StatusText(st)})
		return true
	}
}

func (s *SigningStack) makeKeys() error {
	now := time.Now()
	var err error
	s.fulcioRoot, s.fulcioKey, err = sigstoreCA("bom-attest test fulcio root", nil, nil, now, x509.ExtKeyUsageCodeSigning)
	if err != nil {
		return err
	}
	rootKey := s.fulcioKey
	s.fulcioInter, s.fulcioKey, err = sigstoreCA("bom-attest test fulcio intermediate", s.fulcioRoot, rootKey, now, x509.ExtKeyUsageCodeSigning)
	if err != nil {
		return err
	}

	tsaRoot, tsaRootKey, err := sigstoreCA("bom-attest test tsa root", nil, nil, now, x509.ExtKeyUsageTimeStamping)
	if err != nil {
		return err
	}
	tsaInter, tsaInterKey, err := sigstoreCA("bom-attest test tsa intermediate", tsaRoot, tsaRootKey, now, x509.ExtKeyUsageTimeStamping)
	if err != nil {
		return err
	}
	s.tsaKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	// RFC 3161 wants the timestamping EKU alone and critical; Go only writes it non-critical.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return err
	}
	s.tsaLeaf, err = sigstoreIssue(&x509.Certificate{
		Subject:         pkix.Name{CommonName: "bom-attest test tsa", Organization: []string{"bom-attest"}},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}, tsaInter, &s.tsaKey.PublicKey, tsaInterKey)
	if err != nil {
		return err
	}
	s.tsaChain = []*x509.Certificate{tsaInter, tsaRoot}

	s.rekorKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&s.rekorKey.PublicKey)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(der)
	s.rekorLogID = hex.EncodeToString(sum[:])
	return nil
}

func (s *SigningStack) trustedRoot() ([]byte, error) {
	start := time.Now().Add(-time.Hour)
	logID, err := hex.DecodeString(s.rekorLogID)
	if err != nil {
		return nil, err
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root: s.fulcioRoot, Intermediates: []*x509.Certificate{s.fulcioInter},
			ValidityPeriodStart: start, URI: s.FulcioURL,
		}},
		map[string]*root.TransparencyLog{},
		[]root.TimestampingAuthority{&root.SigstoreTimestampingAuthority{
			Root: s.tsaChain[1], Intermediates: s.tsaChain[:1], Leaf: s.tsaLeaf,
			ValidityPeriodStart: start, URI: s.TSAURL,
		}},
		map[string]*root.TransparencyLog{
			s.rekorLogID: {
				BaseURL: s.RekorURL, ID: logID, ValidityPeriodStart: start,
				HashFunc: crypto.SHA256, PublicKey: &s.rekorKey.PublicKey, SignatureHashFunc: crypto.SHA256,
			},
			hex.EncodeToString(s.rekorV2.logID): {
				BaseURL: s.RekorV2URL, ID: s.rekorV2.logID, ValidityPeriodStart: start,
				HashFunc: crypto.SHA256, PublicKey: &s.rekorV2.key.PublicKey, SignatureHashFunc: crypto.SHA256,
			},
		})
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// signingConfigs are the stack's two signing configs, shaped as the public-good instance's: the
// default names Rekor v1 only; the Rekor v2 one names the v2 log first and v1 as the fallback
// for clients without v2.
func (s *SigningStack) signingConfigs() (map[string][]byte, error) {
	start := time.Now().Add(-time.Hour)
	svc := func(u string, version uint32) root.Service {
		return root.Service{URL: u, MajorAPIVersion: version, ValidityPeriodStart: start, Operator: "bom-attest test"}
	}
	anyOne := root.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY}
	out := map[string][]byte{}
	for name, logs := range map[string][]root.Service{
		"signing_config.v0.2.json":          {svc(s.RekorURL, 1)},
		"signing_config_rekor_v2.v0.2.json": {svc(s.RekorV2URL, 2), svc(s.RekorURL, 1)},
	} {
		sc, err := root.NewSigningConfig(root.SigningConfigMediaType02,
			[]root.Service{svc(s.FulcioURL, 1)}, []root.Service{svc(s.OIDC.URL, 1)},
			logs, anyOne, []root.Service{svc(s.TSAURL, 1)}, anyOne)
		if err != nil {
			return nil, err
		}
		if out[name], err = sc.MarshalJSON(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Fulcio

// sigstoreFail answers an error the way Sigstore's gRPC gateways do.
func sigstoreFail(w http.ResponseWriter, status int, format string, args ...any) {
	oidcWriteJSON(w, status, map[string]any{"code": status, "message": fmt.Sprintf(format, args...)})
}

// protoRequest applies the service's next fault, then decodes the request into m with protojson,
// which refuses unknown fields as the gateways of Fulcio and Rekor v2 do: a client that misspells
// a field fails here as it would against the real service. False means it has answered.
func protoRequest(f *SigstoreFaults, w http.ResponseWriter, r *http.Request, m proto.Message) bool {
	if f.apply(w, r) {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = protojson.Unmarshal(body, m)
	}
	if err != nil {
		sigstoreFail(w, http.StatusBadRequest, "request body: %v", err)
		return false
	}
	return true
}

func (s *SigningStack) serveSigningCert(w http.ResponseWriter, r *http.Request) {
	var req fulciopb.CreateSigningCertificateRequest
	if !protoRequest(s.Fulcio, w, r, &req) {
		return
	}
	fail := func(status int, format string, args ...any) { sigstoreFail(w, status, format, args...) }
	if req.GetCertificateSigningRequest() != nil {
		fail(http.StatusBadRequest, "only public key requests are supported here")
		return
	}
	token := req.GetCredentials().GetOidcIdentityToken()
	if scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " "); token == "" && ok && strings.EqualFold(scheme, "bearer") {
		token = cred
	}
	if token == "" {
		fail(http.StatusUnauthorized, "no identity token")
		return
	}
	claims, err := oidcVerify(s.client, s.OIDC.URL, token)
	if err != nil {
		fail(http.StatusUnauthorized, "identity token: %v", err)
		return
	}

	if alg := req.GetPublicKeyRequest().GetPublicKey().GetAlgorithm(); alg != fulciopb.PublicKeyAlgorithm_ECDSA {
		fail(http.StatusBadRequest, "only ECDSA keys are supported here, got algorithm %s", alg)
		return
	}
	block, _ := pem.Decode([]byte(req.GetPublicKeyRequest().GetPublicKey().GetContent()))
	if block == nil {
		fail(http.StatusBadRequest, "public key is not PEM")
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fail(http.StatusBadRequest, "public key: %v", err)
		return
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		fail(http.StatusBadRequest, "only ECDSA keys are supported here, got %T", pub)
		return
	}
	pop := req.GetPublicKeyRequest().GetProofOfPossession()
	sub := fmt.Sprint(claims["sub"])
	digest := sha256.Sum256([]byte(sub))
	if !ecdsa.VerifyASN1(ecPub, digest[:], pop) {
		fail(http.StatusBadRequest, "proof of possession: signature over the token subject does not verify")
		return
	}

	leaf, err := s.issueLeaf(ecPub, claims)
	if err != nil {
		fail(http.StatusInternalServerError, "issuing certificate: %v", err)
		return
	}
	var chain []string
	for _, c := range []*x509.Certificate{leaf, s.fulcioInter, s.fulcioRoot} {
		chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	answer, err := protojson.Marshal(&fulciopb.SigningCertificate{Certificate: &fulciopb.SigningCertificate_SignedCertificateEmbeddedSct{
		SignedCertificateEmbeddedSct: &fulciopb.SigningCertificateEmbeddedSCT{Chain: &fulciopb.CertificateChain{Certificates: chain}},
	}})
	if err != nil {
		fail(http.StatusInternalServerError, "encoding answer: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// issueLeaf maps GitHub claims to Fulcio's certificate extensions the way Fulcio's
// github-workflow issuer does.
func (s *SigningStack) issueLeaf(pub *ecdsa.PublicKey, claims map[string]any) (*x509.Certificate, error) {
	c := func(name string) string {
		if v, ok := claims[name]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	base := s.ServerURL + "/"
	san, err := url.Parse(base + c("job_workflow_ref"))
	if err != nil {
		return nil, err
	}
	ext := fulciocert.Extensions{
		Issuer:                              c("iss"),
		GithubWorkflowTrigger:               c("event_name"),
		GithubWorkflowSHA:                   c("sha"),
		GithubWorkflowName:                  c("workflow"),
		GithubWorkflowRepository:            c("repository"),
		GithubWorkflowRef:                   c("ref"),
		BuildSignerURI:                      base + c("job_workflow_ref"),
		BuildSignerDigest:                   c("job_workflow_sha"),
		RunnerEnvironment:                   c("runner_environment"),
		SourceRepositoryURI:                 base + c("repository"),
		SourceRepositoryDigest:              c("sha"),
		SourceRepositoryRef:                 c("ref"),
		SourceRepositoryIdentifier:          c("repository_id"),
		SourceRepositoryOwnerURI:            base + c("repository_owner"),
		SourceRepositoryOwnerIdentifier:     c("repository_owner_id"),
		BuildConfigURI:                      base + c("workflow_ref"),
		BuildConfigDigest:                   c("workflow_sha"),
		BuildTrigger:                        c("event_name"),
		RunInvocationURI:                    base + c("repository") + "/actions/runs/" + c("run_id") + "/attempts/" + c("run_attempt"),
		SourceRepositoryVisibilityAtSigning: c("repository_visibility"),
		DeploymentEnvironment:               c("environment"),
	}
	exts, err := ext.Render()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return sigstoreIssue(&x509.Certificate{
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(10 * time.Minute),
		URIs:            []*url.URL{san},
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: exts,
	}, s.fulcioInter, pub, s.fulcioKey)
}

// TSA

func (s *SigningStack) serveTimestamp(w http.ResponseWriter, r *http.Request) {
	if s.TSA.apply(w, r) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/timestamp-query" {
		http.Error(w, "content type must be application/timestamp-query, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, "timestamp request: "+err.Error(), http.StatusBadRequest)
		return
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              time.Now(),
		Nonce:             req.Nonce,
		Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		AddTSACertificate: req.Certificates,
		ExtraExtensions:   req.Extensions,
	}
	resp, err := ts.CreateResponseWithOpts(s.tsaLeaf, s.tsaKey, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}

// Rekor

func (s *SigningStack) serveRekorCreate(w http.ResponseWriter, r *http.Request) {
	fault := s.Rekor.next()
	if fault != http.StatusConflict && s.Rekor.answer(fault, w, r) {
		return
	}
	pe, err := models.UnmarshalProposedEntry(io.LimitReader(r.Body, 1<<20), runtime.JSONConsumer())
	if err != nil {
		oidcWriteJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": err.Error()})
		return
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		oidcWriteJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": err.Error()})
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		oidcWriteJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": err.Error()})
		return
	}
	uuid, anon, existed, err := s.rekorAppend(body)
	if err != nil {
		oidcWriteJSON(w, http.StatusInternalServerError, map[string]any{"code": 500, "message": err.Error()})
		return
	}
	location := "/api/v1/log/entries/" + uuid
	if existed || fault == http.StatusConflict {
		w.Header().Set("Location", location)
		oidcWriteJSON(w, http.StatusConflict, map[string]any{"code": 409,
			"message": "an equivalent entry already exists in the transparency log with UUID " + uuid})
		return
	}
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", location)
	oidcWriteJSON(w, http.StatusCreated, models.LogEntry{uuid: anon})
}

func (s *SigningStack) serveRekorGet(w http.ResponseWriter, r *http.Request) {
	if s.Rekor.apply(w, r) {
		return
	}
	uuid := r.PathValue("uuid")
	s.rekorMu.Lock()
	anon, ok := s.rekorEntries[uuid]
	s.rekorMu.Unlock()
	if !ok {
		oidcWriteJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "entry not found"})
		return
	}
	oidcWriteJSON(w, http.StatusOK, models.LogEntry{uuid: anon})
}

// rekorAppend adds a canonical entry body to the tree and signs what Rekor signs: the SET over
// {body, integratedTime, logID, logIndex} and a checkpoint over the new tree head.
func (s *SigningStack) rekorAppend(body []byte) (string, models.LogEntryAnon, bool, error) {
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	uuid := hex.EncodeToString(leaf)
	s.rekorMu.Lock()
	defer s.rekorMu.Unlock()
	if anon, ok := s.rekorEntries[uuid]; ok {
		return uuid, anon, true, nil
	}
	s.rekorTree.AppendData(body)
	size := s.rekorTree.Size()
	index := int64(size - 1)
	integrated := time.Now().Unix()
	b64 := base64.StdEncoding.EncodeToString(body)

	payload, err := json.Marshal(map[string]any{
		"body": b64, "integratedTime": integrated, "logID": s.rekorLogID, "logIndex": index,
	})
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	canonical, err := jsoncanonicalizer.Transform(payload)
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	digest := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, s.rekorKey, digest[:])
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}

	proof, err := s.rekorTree.InclusionProof(uint64(index), size)
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	hashes := make([]string, len(proof))
	for i, h := range proof {
		hashes[i] = hex.EncodeToString(h)
	}
	rootHash := s.rekorTree.Hash()
	signer, err := signature.LoadECDSASignerVerifier(s.rekorKey, crypto.SHA256)
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	u, err := url.Parse(s.RekorURL)
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	checkpoint, err := rekorutil.CreateAndSignCheckpoint(context.Background(), u.Host, 1, size, rootHash, signer)
	if err != nil {
		return "", models.LogEntryAnon{}, false, err
	}
	rootHex := hex.EncodeToString(rootHash)
	treeSize := int64(size)
	cp := string(checkpoint)
	anon := models.LogEntryAnon{
		Body:           b64,
		IntegratedTime: &integrated,
		LogID:          &s.rekorLogID,
		LogIndex:       &index,
		Verification: &models.LogEntryAnonVerification{
			SignedEntryTimestamp: strfmt.Base64(set),
			InclusionProof: &models.InclusionProof{
				Checkpoint: &cp,
				Hashes:     hashes,
				LogIndex:   &index,
				RootHash:   &rootHex,
				TreeSize:   &treeSize,
			},
		},
	}
	s.rekorEntries[uuid] = anon
	return uuid, anon, false, nil
}

// Certificates

func sigstoreCA(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, now time.Time, eku x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"bom-attest"}},
		NotBefore:             now.Add(-2 * time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{eku}
	}
	cert, err := sigstoreIssue(tmpl, parent, &key.PublicKey, parentKey)
	return cert, key, err
}

func sigstoreIssue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
