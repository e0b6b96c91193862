package sign

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
)

// ReadTrustedRoot reads a trusted_root.json (input trusted-root, verify --trusted-root).
func ReadTrustedRoot(path string) (*root.TrustedRoot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTrustedRoot, path, err)
	}
	return tr, nil
}

// FetchTrustedRoot is the network side of trusted material: it reads the plan's file if it
// has one, otherwise runs a TUF update against the instance's repository. tufRoot pins that
// repository's first root.json; without it public-good starts from the root sigstore-go
// embeds and any other repository from its version 1 fetched over HTTPS (trust on first use,
// anchored in the TLS certificate of the repository's host).
func FetchTrustedRoot(ctx context.Context, p Plan, client *http.Client, tufRoot []byte) (*root.TrustedRoot, error) {
	if p.TrustedRootPath != "" {
		return ReadTrustedRoot(p.TrustedRootPath)
	}
	if p.TUFMirror == "" {
		return nil, fmt.Errorf("%w: trusted-root: required, the %s instance has no TUF repository", ErrTrustedRoot, p.Instance)
	}
	if client == nil {
		client = &http.Client{}
	}
	initial := tufRoot
	if initial == nil && p.TUFMirror == tuf.DefaultMirror {
		initial = tuf.DefaultRoot()
	} else if initial == nil {
		var err error
		if initial, err = fetchInitialRoot(ctx, client, p.TUFMirror); err != nil {
			return nil, err
		}
	}
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(client)
	f.SetHTTPUserAgent("bom-attest")
	opts := &tuf.Options{
		Root:              initial,
		RepositoryBaseURL: p.TUFMirror,
		// The action runs in a fresh container: a cache would only be written, never read.
		DisableLocalCache: true,
		Fetcher:           f,
		Context:           ctx,
	}
	c, err := tuf.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: TUF update from %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	tr, err := root.GetTrustedRoot(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTrustedRoot, p.TUFMirror, err)
	}
	return tr, nil
}

// fetchInitialRoot gets version 1 of a TUF root over HTTPS; TUF then walks every later
// version, each signed by the keys of the one before.
func fetchInitialRoot(ctx context.Context, client *http.Client, mirror string) ([]byte, error) {
	if !strings.HasPrefix(mirror, "https://") {
		return nil, fmt.Errorf("%w: %s: the first TUF root is only fetched over HTTPS", ErrTrustedRoot, mirror)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mirror+"/1.root.json", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s/1.root.json: %s", ErrTrustedRoot, mirror, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTrustedRoot, err)
	}
	return data, nil
}
