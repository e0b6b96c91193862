package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/transport"
)

func TestFetchTrust(t *testing.T) {
	st := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	junk := filepath.Join(t.TempDir(), "junk.json")
	if err := os.WriteFile(junk, []byte(`{"mediaType":"nope"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	trusting := testTransport(st, 5*time.Second, nil)
	tests := []struct {
		name      string
		plan      Plan
		transport *transport.Transport
		tufRoot   []byte
		config    bool // a signing config comes with the root
		err       error
	}{
		{name: "file", plan: Plan{TrustedRootPath: st.TrustedRootPath}},
		{name: "TUF with a pinned root", plan: Plan{TUFMirror: st.TUFURL}, tufRoot: st.TUFRoot},
		{name: "TUF with the signing config", plan: Plan{TUFMirror: st.TUFURL, RekorVersion: 1, FromSigningConfig: true}, tufRoot: st.TUFRoot, config: true},
		{name: "TUF with the Rekor v2 signing config", plan: Plan{TUFMirror: st.TUFURL, RekorVersion: 2, FromSigningConfig: true}, tufRoot: st.TUFRoot, config: true},
		// Trust on first use is gone: a repository without a root to start from is refused.
		{name: "TUF without a root to start from", plan: Plan{TUFMirror: st.TUFURL}, err: ErrTrustedRoot},
		{name: "TUF root signed by someone else", plan: Plan{TUFMirror: st.TUFURL},
			tufRoot: testserver.StartSigningStack(t, testserver.SigningStackOptions{}).TUFRoot, err: ErrTrustedRoot},
		{name: "TUF server not trusted", plan: Plan{TUFMirror: st.TUFURL}, transport: transport.New(transport.WithRetries(1)), tufRoot: st.TUFRoot, err: ErrTrustedRoot},
		{name: "missing file", plan: Plan{TrustedRootPath: filepath.Join(t.TempDir(), "none.json")}, err: ErrTrustedRoot},
		{name: "not a trusted root", plan: Plan{TrustedRootPath: junk}, err: ErrTrustedRoot},
		{name: "nowhere to get it", plan: Plan{Instance: InstanceGitHub}, err: ErrTrustedRoot},
	}
	bundles := signedBundles(t, st)
	policy := Policy{SubjectDigest: imageDigest, Issuer: st.OIDC.URL, SAN: st.ExpectedSAN()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.transport
			if tr == nil {
				tr = trusting
			}
			got, err := fetchTrust(context.Background(), tt.plan, tr, tt.tufRoot)
			if !errors.Is(err, tt.err) {
				t.Fatalf("fetchTrust() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			for mode, b := range bundles {
				if _, err := Verify(b, got.root, policy); err != nil {
					t.Fatalf("%s bundle does not verify with the fetched root: %v", mode, err)
				}
			}
			if (got.signingConfig != nil) != tt.config {
				t.Fatalf("signing config = %v, want one: %v", got.signingConfig, tt.config)
			}
			if tt.config {
				p, err := tt.plan.follow(got.signingConfig, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				want := Plan{TUFMirror: st.TUFURL, FulcioURL: st.FulcioURL, RekorURL: st.RekorURL, RekorVersion: 1}
				if tt.plan.RekorVersion == 2 {
					want.RekorURL, want.RekorVersion, want.TSAURL = st.RekorV2URL, 2, st.TSAURL
				}
				if p != want {
					t.Fatalf("followed the signing config to\n %+v\nwant\n %+v", p, want)
				}
			}
		})
	}
}

// TestGitHubTUFRoot pins the root GitHub's TUF repository is trusted from to what gh v2.83.0
// embeds, and checks it is a root signed by its own keys, which TUF can start from.
func TestGitHubTUFRoot(t *testing.T) {
	sum := sha256.Sum256(GitHubTUFRoot())
	if got, want := hex.EncodeToString(sum[:]), "98cba97be9075bc98b2322de3de85fbd1b70ec7392991dfd2f53d215bede1a8d"; got != want {
		t.Fatalf("GitHubTUFRoot() sha256 = %s, want %s (the root.json of cli/cli v2.83.0)", got, want)
	}
	tm, err := trustedmetadata.New(GitHubTUFRoot())
	if err != nil {
		t.Fatalf("not a self-signed TUF root: %v", err)
	}
	if tm.Root.Signed.Type != "root" || tm.Root.Signed.Version < 1 {
		t.Fatalf("root = %s v%d", tm.Root.Signed.Type, tm.Root.Signed.Version)
	}
	root := GitHubTUFRoot()
	root[0] = 'x'
	if GitHubTUFRoot()[0] == 'x' {
		t.Fatal("GitHubTUFRoot hands out the embedded bytes themselves")
	}
}

// refusal is a file readFile must refuse, and what its error says.
type refusal struct {
	name    string
	path    string
	ctx     context.Context
	message string
}

// TestReadFileRefuses builds files that are not what an input should name, and checks each
// fails at once with an error naming the file.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.json")
	if err := os.WriteFile(small, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []refusal{
		{name: "directory", path: dir, message: "not a regular file"},
		{name: "device", path: os.DevNull, message: "not a regular file"},
		{name: "too large", path: big, message: "larger than 1 KiB"},
		{name: "cancelled", path: small, ctx: cancelled, message: "context canceled"},
		{name: "missing", path: filepath.Join(dir, "none"), message: "no such file"},
	}
	tests = append(tests, specialFiles(t, dir)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			start := time.Now()
			_, err := localfile.Read(ctx, tt.path, 1024)
			if err == nil || !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("readFile(%s) error = %v, want one naming the file and saying %q", tt.path, err, tt.message)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
	if b, err := localfile.Read(context.Background(), small, 1024); err != nil || string(b) != "{}" {
		t.Fatalf("readFile(small) = %q, %v", b, err)
	}
}

// TestReadTrustedRootAndBundleName checks the exported readers say what failed.
func TestReadTrustedRootAndBundleName(t *testing.T) {
	if _, err := ReadTrustedRoot(context.Background(), os.DevNull); !errors.Is(err, ErrTrustedRoot) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadTrustedRoot(%s) = %v", os.DevNull, err)
	}
	if _, err := ReadBundle(context.Background(), os.DevNull); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadBundle(%s) = %v", os.DevNull, err)
	}
}
