package sign

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/bom-attest/bom-attest/internal/testserver"
)

func TestFetchTrustedRoot(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	junk := filepath.Join(t.TempDir(), "junk.json")
	if err := os.WriteFile(junk, []byte(`{"mediaType":"nope"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		plan    Plan
		client  *http.Client
		tufRoot []byte
		err     error
	}{
		{name: "file", plan: Plan{TrustedRootPath: st.TrustedRootPath}},
		{name: "TUF with a pinned root", plan: Plan{TUFMirror: st.TUFURL}, client: st.TUFClient, tufRoot: st.TUFRoot},
		{name: "TUF with the first root fetched over HTTPS", plan: Plan{TUFMirror: st.TUFURL}, client: st.TUFClient},
		{name: "TUF root signed by someone else", plan: Plan{TUFMirror: st.TUFURL}, client: st.TUFClient,
			tufRoot: testserver.StartSigningStack(t, testserver.SigningStackOptions{}).TUFRoot, err: ErrTrustedRoot},
		{name: "TUF server not trusted", plan: Plan{TUFMirror: st.TUFURL}, client: &http.Client{}, err: ErrTrustedRoot},
		{name: "first root only over HTTPS", plan: Plan{TUFMirror: "http" + st.TUFURL[len("https"):]}, client: st.TUFClient, err: ErrTrustedRoot},
		{name: "missing file", plan: Plan{TrustedRootPath: filepath.Join(t.TempDir(), "none.json")}, err: ErrTrustedRoot},
		{name: "not a trusted root", plan: Plan{TrustedRootPath: junk}, err: ErrTrustedRoot},
		{name: "nowhere to get it", plan: Plan{Instance: InstanceGitHub}, err: ErrTrustedRoot},
	}
	bundles := signedBundles(t, st)
	policy := Policy{SubjectDigest: imageDigest, Issuer: st.OIDC.URL, SAN: st.ExpectedSAN()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FetchTrustedRoot(context.Background(), tt.plan, tt.client, tt.tufRoot)
			if !errors.Is(err, tt.err) {
				t.Fatalf("FetchTrustedRoot() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			for mode, b := range bundles {
				if _, err := Verify(b, got, policy); err != nil {
					t.Fatalf("%s bundle does not verify with the fetched root: %v", mode, err)
				}
			}
		})
	}
}
