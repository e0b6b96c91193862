package hashes

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// Sentinel errors of the resolver, for callers and tests that branch on them.
var (
	// ErrCap: the run's cap on requests or downloaded bytes was reached.
	ErrCap = errors.New("per-run cap reached")
	// ErrNotFound: the registry has no such package, version or file.
	ErrNotFound = errors.New("not found")
	// ErrMismatch: a downloaded file's SHA-256 is not the one its index gives.
	ErrMismatch = errors.New("SHA-256 differs from the index")
)

// Defaults of ResolverOptions.
const (
	DefaultPyPIURL     = "https://pypi.org"
	DefaultConcurrency = 8
	DefaultMaxRequests = 10_000
	DefaultMaxBytes    = 8 << 30
)

// DefaultDebianURLs are the Debian archives searched: the main archive (suites codename and
// codename-updates) and the security archive (codename-security).
var DefaultDebianURLs = []string{"https://deb.debian.org/debian", "https://deb.debian.org/debian-security"}

// Limits on what the registries answer.
const (
	maxPyPIJSON     = 16 << 20
	maxInRelease    = 16 << 20
	maxIndexFile    = 256 << 20 // a compressed Packages index
	maxIndexText    = 1 << 30   // the same, decompressed
	maxArtifactSize = 2 << 30
)

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	// Client makes every request (bom-attest's one transport). Required.
	Client *http.Client
	// PyPIURL is the PyPI (or mirror) whose JSON API is asked: BASE/pypi/NAME/VERSION/json.
	PyPIURL string
	// DebianURLs are the Debian archives whose Packages indexes are searched.
	DebianURLs []string
	// Download fetches each artifact found, once per run, to add its SHA-512.
	Download bool
	// Concurrency bounds the requests in flight (default 8).
	Concurrency int
	// MaxRequests and MaxBytes cap a run's requests and downloaded bytes (defaults 10,000 and
	// 8 GiB); past them lookups fail with ErrCap.
	MaxRequests int
	MaxBytes    int64
	// Timeout bounds one API answer (default 1 minute); an index or artifact download gets
	// ten times as long.
	Timeout time.Duration
}

// Resolver looks components up in their registries. One Resolver serves a whole run: what it
// fetched (PyPI answers, Debian indexes, downloads) is kept for the platforms after the first.
type Resolver struct {
	o        ResolverOptions
	sem      chan struct{}
	requests atomic.Int64
	bytes    atomic.Int64

	mu        sync.Mutex
	pypi      map[string]*onceResult[*pypiRelease]
	indexes   map[string]*onceResult[*debIndex]
	downloads map[string]*onceResult[string]
}

// onceResult is a value computed once, by whichever goroutine asks first.
type onceResult[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (o *onceResult[T]) get(fn func() (T, error)) (T, error) {
	o.once.Do(func() { o.v, o.err = fn() })
	return o.v, o.err
}

func cached[T any](r *Resolver, m map[string]*onceResult[T], key string) *onceResult[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := m[key]
	if !ok {
		e = &onceResult[T]{}
		m[key] = e
	}
	return e
}

// NewResolver makes a Resolver; it sends nothing until asked.
func NewResolver(o ResolverOptions) (*Resolver, error) {
	if o.Client == nil {
		return nil, errors.New("hashes: resolver without an HTTP client")
	}
	if o.PyPIURL == "" {
		o.PyPIURL = DefaultPyPIURL
	}
	if o.DebianURLs == nil {
		o.DebianURLs = DefaultDebianURLs
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	o.PyPIURL = strings.TrimSuffix(o.PyPIURL, "/")
	return &Resolver{o: o, sem: make(chan struct{}, o.Concurrency),
		pypi: map[string]*onceResult[*pypiRelease]{}, indexes: map[string]*onceResult[*debIndex]{},
		downloads: map[string]*onceResult[string]{}}, nil
}

// Requests is how many requests the resolver has sent.
func (r *Resolver) Requests() int { return int(r.requests.Load()) }

// resolve fills the artifacts the image does not record, and with Download their SHA-512.
func (r *Resolver) resolve(ctx context.Context, im *pkgdb.Image, targets []*target) ([]Failure, error) {
	var (
		mu    sync.Mutex
		fails []Failure
	)
	fail := func(t *target, format string, a ...any) {
		mu.Lock()
		fails = append(fails, Failure{Component: t.label(), What: fmt.Sprintf(format, a...)})
		mu.Unlock()
	}
	r.resolveDebian(ctx, im, targets, fail)
	r.resolvePyPI(ctx, targets, fail)
	if r.o.Download {
		r.download(ctx, targets, fail)
	}
	return fails, ctx.Err()
}

// get sends one GET and hands the answer's body to read, bounded by limit; a 404 or 410 is
// ErrNotFound. Every request counts against the run's cap.
func (r *Resolver) get(ctx context.Context, rawURL string, limit int64, timeout time.Duration, read func(io.Reader) error) error {
	if n := r.requests.Add(1); n > int64(r.o.MaxRequests) {
		return fmt.Errorf("%w: %d requests", ErrCap, r.o.MaxRequests)
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("GET %s: %w (%d)", redact(rawURL), ErrNotFound, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: answered %d %s", redact(rawURL), resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if err := read(pkgdb.LimitReader(resp.Body, limit, "GET "+redact(rawURL))); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", redact(rawURL), ctx.Err())
		}
		return err
	}
	return nil
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// download fetches every artifact with a URL and no SHA-512 once, checks its SHA-256 and adds
// its SHA-512.
func (r *Resolver) download(ctx context.Context, targets []*target, fail func(*target, string, ...any)) {
	var wg sync.WaitGroup
	for _, t := range targets {
		a := t.res.Artifact
		if a == nil || a.URL == "" || a.SHA512 != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := cached(r, r.downloads, a.URL).get(func() (string, error) { return r.fetchSHA512(ctx, a) })
			if err != nil {
				fail(t, "download for SHA-512: %v", err)
				return
			}
			a.SHA512 = sum
		}()
	}
	wg.Wait()
}

func (r *Resolver) fetchSHA512(ctx context.Context, a *Artifact) (string, error) {
	limit := int64(maxArtifactSize)
	if a.Size > 0 {
		if a.Size > limit {
			return "", fmt.Errorf("%s is %d bytes, more than the %d a download may be", a.Filename, a.Size, limit)
		}
		limit = a.Size
	}
	if left := r.o.MaxBytes - r.bytes.Load(); limit > left {
		return "", fmt.Errorf("%w: %d bytes downloaded", ErrCap, r.o.MaxBytes)
	}
	var h256, h512 hash.Hash = sha256.New(), sha512.New()
	err := r.get(ctx, a.URL, limit, 10*r.o.Timeout, func(body io.Reader) error {
		n, err := io.Copy(io.MultiWriter(h256, h512), body)
		r.bytes.Add(n)
		return err
	})
	if err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h256.Sum(nil)); got != a.SHA256 {
		return "", fmt.Errorf("%s: %w (%s, want %s)", redact(a.URL), ErrMismatch, got, a.SHA256)
	}
	return hex.EncodeToString(h512.Sum(nil)), nil
}
