package testserver

import (
	"bytes"
	"crypto"
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
	"testing"

	"github.com/digitorus/timestamp"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorv2note "github.com/sigstore/rekor-tiles/v2/pkg/note"
	rekorv2verify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestOIDCIssuerTokenRequest(t *testing.T) {
	o := StartOIDCIssuer(t, nil)
	get := func(url, auth string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get(o.TokenRequestURL+"&audience=sigstore", "bearer "+o.TokenRequestToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: %s %s", resp.Status, body)
	}
	var tok struct{ Value string }
	if err := json.Unmarshal(body, &tok); err != nil || tok.Value == "" {
		t.Fatalf("answer %s: %v", body, err)
	}
	claims, err := oidcVerify(http.DefaultClient, o.URL, tok.Value)
	if err != nil {
		t.Fatalf("token does not verify against discovery + JWKS: %v", err)
	}
	for name, want := range OIDCGitHubClaims() {
		if claims[name] != want {
			t.Errorf("claim %s = %v, want %v", name, claims[name], want)
		}
	}

	if resp, _ := get(o.TokenRequestURL+"&audience=sigstore", "bearer wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong request token: %s", resp.Status)
	}
	if resp, _ := get(o.URL+"/token?audience=sigstore", "bearer "+o.TokenRequestToken); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no api-version: %s", resp.Status)
	}
	_, body = get(o.TokenRequestURL+"&audience=other", "bearer "+o.TokenRequestToken)
	_ = json.Unmarshal(body, &tok)
	if _, err := oidcVerify(http.DefaultClient, o.URL, tok.Value); err == nil {
		t.Error("a token for another audience verified")
	}
	if len(o.Minted()) != 2 {
		t.Errorf("minted %d tokens, want 2", len(o.Minted()))
	}
}

// sigstoreCertPost asks the stack's Fulcio for a certificate the way a client does.
func sigstoreCertPost(t *testing.T, s *SigningStack, token, signedSubject string, key *ecdsa.PrivateKey) (*http.Response, []byte) {
	t.Helper()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	digest := sha256.Sum256([]byte(signedSubject))
	pop, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	body, _ := json.Marshal(map[string]any{
		"credentials": map[string]any{"oidcIdentityToken": token},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
			"proofOfPossession": base64.StdEncoding.EncodeToString(pop),
		},
	})
	resp, err := http.Post(s.FulcioURL+"/api/v2/signingCert", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestSigningStackFulcio(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	stranger := StartOIDCIssuer(t, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := s.OIDC.Mint("sigstore")
	wrongAud, _ := s.OIDC.Mint("https://github.com/acme")
	foreign, _ := stranger.Mint("sigstore")
	sub := "repo:acme/app:ref:refs/heads/main"
	tests := []struct {
		name          string
		token, signed string
		status        int
	}{
		{"good", good, sub, http.StatusOK},
		{"proof over another subject", good, "repo:evil/app:ref:refs/heads/main", http.StatusBadRequest},
		{"audience is not sigstore", wrongAud, sub, http.StatusUnauthorized},
		{"untrusted issuer", foreign, sub, http.StatusUnauthorized},
		{"tampered token", good[:len(good)-4] + "AAAA", sub, http.StatusUnauthorized},
		{"no token", "", sub, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := sigstoreCertPost(t, s, tt.token, tt.signed, key)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d: %s", resp.Status, tt.status, body)
			}
			if tt.status != http.StatusOK {
				return
			}
			var answer struct {
				SignedCertificateEmbeddedSct struct {
					Chain struct{ Certificates []string }
				}
			}
			if err := json.Unmarshal(body, &answer); err != nil || len(answer.SignedCertificateEmbeddedSct.Chain.Certificates) != 3 {
				t.Fatalf("answer %s: %v", body, err)
			}
			block, _ := pem.Decode([]byte(answer.SignedCertificateEmbeddedSct.Chain.Certificates[0]))
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, e := range leaf.Extensions {
				seen[e.Id.String()] = true
			}
			for i := 8; i <= 22; i++ {
				if oid := fmt.Sprintf("1.3.6.1.4.1.57264.1.%d", i); !seen[oid] {
					t.Errorf("leaf lacks extension %s", oid)
				}
			}
			sum, err := certificate.SummarizeCertificate(leaf)
			if err != nil {
				t.Fatal(err)
			}
			want := certificate.Extensions{
				Issuer: s.OIDC.URL, BuildSignerURI: s.ExpectedSAN(), SourceRepositoryURI: "https://github.com/acme/app",
				SourceRepositoryOwnerURI: "https://github.com/acme", SourceRepositoryRef: "refs/heads/main", BuildTrigger: "push",
				RunInvocationURI: "https://github.com/acme/app/actions/runs/3003/attempts/1", SourceRepositoryVisibilityAtSigning: "private",
				RunnerEnvironment: "github-hosted", SourceRepositoryIdentifier: "2002", SourceRepositoryOwnerIdentifier: "1001",
			}
			if err := certificate.CompareExtensions(want, sum.Extensions); err != nil {
				t.Error(err)
			}
			if sum.SubjectAlternativeName != s.ExpectedSAN() {
				t.Errorf("SAN = %s", sum.SubjectAlternativeName)
			}
			tr, err := root.NewTrustedRootFromPath(s.TrustedRootPath)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.FulcioCertificateAuthorities()[0].Verify(leaf, leaf.NotBefore.Add(1)); err != nil {
				t.Errorf("leaf does not chain to the trusted root: %v", err)
			}
		})
	}
}

func TestSigningStackTSA(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	tr, err := root.NewTrustedRootFromPath(s.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	sig := []byte("a signature")
	query, err := timestamp.CreateRequest(bytes.NewReader(sig), &timestamp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	post := func(ct string, body []byte) (*http.Response, []byte) {
		resp, err := http.Post(s.TSAURL, ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("application/timestamp-query", query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	ts, err := tr.TimestampingAuthorities()[0].Verify(body, sig)
	if err != nil {
		t.Fatalf("timestamp does not verify against the trusted root: %v", err)
	}
	if ts.URI != s.TSAURL {
		t.Errorf("TSA URI = %s", ts.URI)
	}
	if _, err := tr.TimestampingAuthorities()[0].Verify(body, []byte("another signature")); err == nil {
		t.Error("timestamp verified for another signature")
	}
	if resp, _ := post("application/json", query); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %s", resp.Status)
	}
	if resp, _ := post("application/timestamp-query", []byte("junk")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("junk body: %s", resp.Status)
	}
}

// sigstoreLeaf is a fresh key and the stack's Fulcio certificate for it, in PEM.
func sigstoreLeaf(t *testing.T, s *SigningStack) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, _ := s.OIDC.Mint("sigstore")
	resp, body := sigstoreCertPost(t, s, tok, fmt.Sprint(s.OIDC.Claims()["sub"]), key)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("certificate: %s %s", resp.Status, body)
	}
	var answer struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct{ Certificates []string }
		}
	}
	if err := json.Unmarshal(body, &answer); err != nil || len(answer.SignedCertificateEmbeddedSct.Chain.Certificates) == 0 {
		t.Fatalf("certificate answer %s: %v", body, err)
	}
	return key, answer.SignedCertificateEmbeddedSct.Chain.Certificates[0]
}

func TestSigningStackRekor(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	key, certPEM := sigstoreLeaf(t, s)

	entry := func(signWith *ecdsa.PrivateKey, payload string) []byte {
		const pt = "application/vnd.in-toto+json"
		pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(pt), pt, len(payload), payload)
		d := sha256.Sum256([]byte(pae))
		sig, _ := ecdsa.SignASN1(rand.Reader, signWith, d[:])
		env, _ := json.Marshal(map[string]any{"payload": base64.StdEncoding.EncodeToString([]byte(payload)), "payloadType": pt,
			"signatures": []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}}})
		b, _ := json.Marshal(map[string]any{"kind": "dsse", "apiVersion": "0.0.1", "spec": map[string]any{"proposedContent": map[string]any{
			"envelope": string(env), "verifiers": []string{base64.StdEncoding.EncodeToString([]byte(certPEM))}}}})
		return b
	}
	post := func(b []byte) (*http.Response, []byte) {
		resp, err := http.Post(s.RekorURL+"/api/v1/log/entries", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, out
	}

	first := entry(key, `{"n":1}`)
	resp, body := post(first)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("ETag") == "" {
		t.Fatalf("create: %s %s", resp.Status, body)
	}
	var created map[string]struct {
		LogIndex     int64
		Verification struct{ SignedEntryTimestamp string }
	}
	if err := json.Unmarshal(body, &created); err != nil || created[resp.Header.Get("ETag")].Verification.SignedEntryTimestamp == "" {
		t.Fatalf("answer %s: %v", body, err)
	}
	if resp, _ := post(entry(key, `{"n":2}`)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("second entry: %s", resp.Status)
	}

	resp, _ = post(first)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Location") == "" {
		t.Fatalf("duplicate: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	got, err := http.Get(s.RekorURL + resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusOK {
		t.Fatalf("fetching the existing entry: %s", got.Status)
	}

	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if resp, body := post(entry(stranger, `{"n":3}`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("signature by a key the certificate is not for: %s %s", resp.Status, body)
	}
	if resp, _ := post([]byte(`{"kind":"rpm"}`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unsupported kind: %s", resp.Status)
	}
	if s.RekorEntries() != 2 {
		t.Fatalf("log holds %d entries, want 2", s.RekorEntries())
	}
	if s.Rekor.Requests() != 6 {
		t.Fatalf("Rekor counted %d requests, want 6", s.Rekor.Requests())
	}
}

// TestSigningStackFulcioSpeaksProtojson: requests are decoded with Fulcio's own types, so a
// misspelled field or a wrong enum name is refused as the real service refuses it.
func TestSigningStackFulcioSpeaksProtojson(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, _ := s.OIDC.Mint("sigstore")
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	digest := sha256.Sum256([]byte(fmt.Sprint(s.OIDC.Claims()["sub"])))
	pop, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	request := func(publicKeyRequest string, alg string) []byte {
		b, _ := json.Marshal(map[string]any{publicKeyRequest: map[string]any{
			"publicKey":         map[string]any{"algorithm": alg, "content": pub},
			"proofOfPossession": base64.StdEncoding.EncodeToString(pop),
		}})
		return b
	}
	tests := []struct {
		name   string
		body   []byte
		status int
	}{
		{"token in the header, as sigstore-go sends it", request("publicKeyRequest", "ECDSA"), http.StatusOK},
		{"misspelled field", request("publicKeyRequests", "ECDSA"), http.StatusBadRequest},
		{"snake case is protojson too", request("public_key_request", "ECDSA"), http.StatusOK},
		{"unknown algorithm", request("publicKeyRequest", "ECDSA_P256"), http.StatusBadRequest},
		{"not JSON", []byte("nope"), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.FulcioURL+"/api/v2/signingCert", bytes.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d: %s", resp.Status, tt.status, body)
			}
		})
	}
}

// TestSigningStackRekorV2 logs hashedrekord entries as a Rekor v2 client does and checks each
// answer's checkpoint and inclusion proof with rekor-tiles' verifier and the trusted root's key.
func TestSigningStackRekorV2(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	key, certPEM := sigstoreLeaf(t, s)
	block, _ := pem.Decode([]byte(certPEM))

	tr, err := root.NewTrustedRootFromPath(s.TrustedRootPath)
	if err != nil {
		t.Fatal(err)
	}
	var logKey crypto.PublicKey
	for _, l := range tr.RekorLogs() {
		if l.BaseURL == s.RekorV2URL {
			logKey = l.PublicKey
		}
	}
	if logKey == nil {
		t.Fatal("the trusted root lacks the Rekor v2 log")
	}
	verifier, _ := signature.LoadVerifier(logKey, crypto.SHA256)
	noteVerifier, err := rekorv2note.NewNoteVerifier("127.0.0.1", verifier)
	if err != nil {
		t.Fatal(err)
	}

	entry := func(signWith *ecdsa.PrivateKey, data string) []byte {
		d := sha256.Sum256([]byte(data))
		sig, _ := ecdsa.SignASN1(rand.Reader, signWith, d[:])
		b, _ := json.Marshal(map[string]any{"hashedRekordRequestV002": map[string]any{
			"digest": base64.StdEncoding.EncodeToString(d[:]),
			"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "verifier": map[string]any{
				"x509Certificate": map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(block.Bytes)},
				"keyDetails":      "PKIX_ECDSA_P256_SHA_256",
			}},
		}})
		return b
	}
	post := func(b []byte) (*http.Response, []byte) {
		resp, err := http.Post(s.RekorV2URL+"/api/v2/log/entries", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp, out
	}
	var first []byte
	for i := range 3 {
		req := entry(key, fmt.Sprint("artifact ", i))
		if i == 0 {
			first = req
		}
		resp, body := post(req)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("entry %d: %s %s", i, resp.Status, body)
		}
		var tle protorekor.TransparencyLogEntry
		if err := protojson.Unmarshal(body, &tle); err != nil {
			t.Fatalf("entry %d: %v: %s", i, err, body)
		}
		if tle.LogIndex != int64(i) || tle.IntegratedTime != 0 || tle.GetKindVersion().GetVersion() != "0.0.2" {
			t.Fatalf("entry %d: %v", i, &tle)
		}
		if err := rekorv2verify.VerifyLogEntry(&tle, noteVerifier); err != nil {
			t.Fatalf("entry %d does not verify against the log's key: %v", i, err)
		}
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if resp, body := post(entry(stranger, "forged")); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("signature by a key the certificate is not for: %s %s", resp.Status, body)
	}
	if resp, body := post(first); resp.StatusCode != http.StatusConflict {
		t.Fatalf("the same entry again: %s %s", resp.Status, body)
	}
	if resp, body := post([]byte(`{"hashedRekordRequestV0002":{}}`)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("misspelled field: %s %s", resp.Status, body)
	}
	if s.RekorV2Entries() != 3 {
		t.Fatalf("log holds %d entries, want 3", s.RekorV2Entries())
	}
}

// TestSigningStackTUF fetches the trusted root and both signing configs through sigstore-go's
// TUF client, as a signer of the public-good instance does.
func TestSigningStackTUF(t *testing.T) {
	s := StartSigningStack(t, SigningStackOptions{})
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(s.TUFClient)
	c, err := tuf.New(&tuf.Options{Root: s.TUFRoot, RepositoryBaseURL: s.TUFURL, DisableLocalCache: true, Fetcher: f})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.GetTrustedRoot(c); err != nil {
		t.Fatal(err)
	}
	for target, logs := range map[string][]string{
		"signing_config.v0.2.json":          {s.RekorURL},
		"signing_config_rekor_v2.v0.2.json": {s.RekorV2URL, s.RekorURL},
	} {
		raw, err := c.GetTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := root.NewSigningConfigFromJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range sc.RekorLogURLs() {
			got = append(got, l.URL)
		}
		if fmt.Sprint(got) != fmt.Sprint(logs) || sc.FulcioCertificateAuthorityURLs()[0].URL != s.FulcioURL || sc.TimestampAuthorityURLs()[0].URL != s.TSAURL {
			t.Errorf("%s names logs %v, want %v; %v", target, got, logs, sc)
		}
	}
}
