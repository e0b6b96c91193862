package sign

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/transport"
)

// Limits on what is read from files an input names.
const (
	// MaxTrustedRoot bounds a trusted_root.json; public-good's is about 20 KB.
	MaxTrustedRoot = 4 << 20
	// MaxBundle bounds a Sigstore bundle, whose payload is a whole SBOM.
	MaxBundle = 64 << 20
)

// gitHubTUFRoot is root.json version 3 of GitHub's Sigstore TUF repository (tuf-repo.github.com),
// copied from the Go module github.com/cli/cli/v2@v2.83.0, file
// pkg/cmd/attestation/verification/embed/tuf-repo.github.com/root.json (what `gh attestation
// verify` embeds). TUF walks forward from it to the current root, each version signed by the
// keys of the one before, so the first contact is not trust on first use.
//
//go:embed embed/tuf-repo.github.com/root.json
var gitHubTUFRoot []byte

// GitHubTUFRoot returns the root.json GitHub's Sigstore TUF repository is trusted from.
func GitHubTUFRoot() []byte { return append([]byte(nil), gitHubTUFRoot...) }

// Signing config targets of a Sigstore TUF repository: the default, and the one that opts into
// Rekor v2 logs (public-good publishes both).
const (
	signingConfigTarget        = "signing_config.v0.2.json"
	signingConfigRekorV2Target = "signing_config_rekor_v2.v0.2.json"
)

// ReadTrustedRoot reads a trusted_root.json (input trusted-root, verify --trusted-root): a
// regular file of at most MaxTrustedRoot bytes.
func ReadTrustedRoot(ctx context.Context, path string) (*root.TrustedRoot, error) {
	data, err := localfile.Read(ctx, path, MaxTrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTrustedRoot, path, err)
	}
	return tr, nil
}

// ReadBundle reads a Sigstore bundle file (verify --bundle): a regular file of at most
// MaxBundle bytes.
func ReadBundle(ctx context.Context, path string) ([]byte, error) {
	return localfile.Read(ctx, path, MaxBundle)
}

// trust is an instance's trusted material and, for an instance whose endpoints come from its
// signing config, that config.
type trust struct {
	root          *root.TrustedRoot
	signingConfig *root.SigningConfig
}

// fetchTrust reads the plan's trusted root file, or runs a TUF update against the instance's
// repository, starting from the root embedded for it (or tufRoot), and reads the trusted root
// and, when the plan follows it, the signing config from there.
func fetchTrust(ctx context.Context, p Plan, t *transport.Transport, tufRoot []byte) (*trust, error) {
	if p.TrustedRootPath != "" {
		tr, err := ReadTrustedRoot(ctx, p.TrustedRootPath)
		if err != nil {
			return nil, err
		}
		return &trust{root: tr}, nil
	}
	initial := tufRoot
	switch {
	case initial != nil:
	case p.TUFMirror == tuf.DefaultMirror:
		initial = tuf.DefaultRoot()
	case p.TUFMirror == gitHubTUFMirror:
		initial = gitHubTUFRoot
	default:
		return nil, fmt.Errorf("%w: trusted-root: required, there is no known TUF root for %s", ErrTrustedRoot, p.TUFMirror)
	}
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(contextClient{c: t.Client(), ctx: ctx})
	c, err := tuf.New(&tuf.Options{
		Root:              initial,
		RepositoryBaseURL: p.TUFMirror,
		// The action runs in a fresh container: a cache would only be written, never read.
		DisableLocalCache: true,
		Fetcher:           f,
		Context:           ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: TUF update from %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	tr, err := root.GetTrustedRoot(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	out := &trust{root: tr}
	if !p.FromSigningConfig {
		return out, nil
	}
	var raw []byte
	if p.RekorVersion == 2 {
		// Every target is checked by TUF, so falling back to the default config is safe; it
		// may name Rekor v2 logs too.
		raw, err = c.GetTarget(signingConfigRekorV2Target)
	}
	if raw == nil {
		raw, err = c.GetTarget(signingConfigTarget)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: signing config from %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	if out.signingConfig, err = root.NewSigningConfigFromJSON(raw); err != nil {
		return nil, fmt.Errorf("%w: signing config from %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	return out, nil
}

// follow picks the plan's services from the instance's signing config, as cosign v3 does: the
// newest Fulcio valid now, logs of the Rekor version asked for, and for Rekor v2 a timestamp
// authority, since its entries carry no time.
func (p Plan) follow(sc *root.SigningConfig, now time.Time) (Plan, error) {
	fulcio, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), []uint32{1}, now)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: the signing config of %s names no Fulcio: %w", ErrTrustedRoot, p.Instance, err)
	}
	logs, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), []uint32{uint32(p.RekorVersion)}, now)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: rekor-version: %d: the signing config of %s names no such log: %w", ErrTrustedRoot, p.RekorVersion, p.Instance, err)
	}
	// A config that selects several logs gets one entry, in the first: verifiers ask for one.
	p.FulcioURL, p.RekorURL, p.TSAURL = fulcio.URL, logs[0].URL, ""
	if p.RekorVersion == 2 {
		tsas, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), []uint32{1}, now)
		if err != nil {
			return Plan{}, fmt.Errorf("%w: the signing config of %s names no timestamp authority, which Rekor v2 needs: %w", ErrTrustedRoot, p.Instance, err)
		}
		p.TSAURL = tsas[0].URL
	}
	for name, u := range map[string]*string{"Fulcio": &p.FulcioURL, "Rekor": &p.RekorURL, "TSA": &p.TSAURL} {
		if *u == "" {
			continue
		}
		if *u, err = endpoint(name, *u, ""); err != nil {
			return Plan{}, fmt.Errorf("%w: the signing config of %s: %w", ErrTrustedRoot, p.Instance, err)
		}
	}
	p.FromSigningConfig = false
	return p, nil
}

// contextClient gives the requests TUF's fetcher makes (which carry no context) the caller's, so
// a cancelled run stops a TUF update.
type contextClient struct {
	c   *http.Client
	ctx context.Context
}

func (c contextClient) Do(req *http.Request) (*http.Response, error) {
	return c.c.Do(req.WithContext(c.ctx))
}
