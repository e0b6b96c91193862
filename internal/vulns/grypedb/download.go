package grypedb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"

	v6 "github.com/anchore/grype/grype/db/v6"
	"github.com/anchore/grype/grype/db/v6/distribution"
)

// listingURL is where the listing is, as Grype resolves its update URL: a URL ending in .json
// is the listing itself, anything else the base of <base>/v6/latest.json.
func listingURL(base string) string {
	u := base
	if q := strings.IndexAny(u, "?#"); q >= 0 {
		u = u[:q]
	}
	if strings.HasSuffix(u, ".json") {
		return base
	}
	return fmt.Sprintf("%s/v%d/%s", strings.TrimRight(base, "/"), v6.ModelVersion, distribution.LatestFileName)
}

var checksumRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// fetchListing reads and checks the listing. Its URL comes back even on failure, for messages.
func fetchListing(ctx context.Context, o Options) (*distribution.LatestDocument, string, error) {
	lu := listingURL(o.URL)
	fail := func(format string, a ...any) (*distribution.LatestDocument, string, error) {
		return nil, lu, fmt.Errorf("%w: %s: %s", ErrListing, lu, fmt.Sprintf(format, a...))
	}
	body, err := get(ctx, o, lu)
	if err != nil {
		return fail("%v", err)
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, maxListing+1))
	if err != nil {
		return fail("%v", err)
	}
	if len(raw) > maxListing {
		return fail("larger than %d bytes; not a listing", maxListing)
	}
	doc, err := distribution.NewLatestFromReader(strings.NewReader(string(raw)))
	if err != nil {
		return fail("%v", err)
	}
	switch {
	case doc == nil:
		return fail("empty")
	case doc.SchemaVersion.Model != v6.ModelVersion:
		return fail("schema %s, want v%d", doc.SchemaVersion, v6.ModelVersion)
	case doc.Built.IsZero():
		return fail("no built time")
	case !checksumRE.MatchString(doc.Checksum):
		return fail("checksum %q is not sha256:<64 hex digits>", doc.Checksum)
	}
	return doc, lu, nil
}

// archiveURL resolves the listing's path against the listing's directory, as Grype does. The
// path must stay there: an absolute URL or a way up would let a listing send the download
// anywhere.
func archiveURL(listing, p string) (string, error) {
	clean := path.Clean(p)
	if p == "" || strings.Contains(p, "://") || strings.HasPrefix(p, "/") || clean == "." || clean == ".." ||
		strings.HasPrefix(clean, "../") || strings.ContainsAny(p, "?#\\") {
		return "", fmt.Errorf("%w: %s: archive path %q is not a plain relative path", ErrListing, listing, p)
	}
	u, err := url.Parse(listing)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrListing, listing, err)
	}
	u.Path = path.Join(path.Dir(u.Path), clean)
	u.RawPath = ""
	return u.String(), nil
}

func get(ctx context.Context, o Options, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if o.UserAgent != "" {
		req.Header.Set("User-Agent", o.UserAgent)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return &sizedBody{ReadCloser: resp.Body, size: resp.ContentLength}, nil
}

// sizedBody keeps the announced length for progress lines.
type sizedBody struct {
	io.ReadCloser
	size int64
}

// install downloads the archive into a temporary directory inside dir, verifies and imports it
// there, and only then swaps it in for target.
func install(ctx context.Context, o Options, dir, target, archiveURL, checksum string, built time.Time) (*Status, error) {
	tmp, err := os.MkdirTemp(dir, tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDir, err)
	}
	defer os.RemoveAll(tmp)

	archive := filepath.Join(tmp, "archive")
	if err := download(ctx, o, archiveURL, archive, checksum); err != nil {
		return nil, err
	}
	staged := filepath.Join(tmp, "db")
	if err := os.Mkdir(staged, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDir, err)
	}
	start := time.Now()
	if err := unpack(ctx, archive, staged, o.MaxDBBytes); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrArchive, archiveURL, err)
	}
	os.Remove(archive)
	dbFile := filepath.Join(staged, v6.VulnerabilityDBFileName)
	d, err := v6.ReadDescription(dbFile)
	if err != nil || d == nil {
		return nil, fmt.Errorf("%w: %s: not a Grype database: %v", ErrArchive, archiveURL, err)
	}
	if d.SchemaVersion.Model != v6.ModelVersion {
		return nil, fmt.Errorf("%w: %s: schema %s, want v%d", ErrArchive, archiveURL, d.SchemaVersion, v6.ModelVersion)
	}
	// The listing's build time is what the age check trusted; the database must say the same.
	if !d.Built.Time.Round(time.Second).Equal(built.Round(time.Second)) {
		return nil, fmt.Errorf("%w: %s: database built %s, listing says %s", ErrArchive, archiveURL,
			d.Built.Time.UTC().Format(time.RFC3339), built.Format(time.RFC3339))
	}
	// Grype's import: migrations and indexes for this client, then the digest later loads check.
	if err := v6.Hydrater()(staged); err != nil {
		return nil, fmt.Errorf("%w: %s: import: %v", ErrArchive, archiveURL, err)
	}
	if _, err := v6.WriteImportMetadata(afero.NewOsFs(), staged, archiveURL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDir, err)
	}
	o.Logf("imported vulnerability database built %s, schema %s, in %s", stamp(d.Built.Time, o.Now()), d.SchemaVersion, time.Since(start).Round(time.Millisecond))
	if o.Chown != nil {
		if err := chownTree(staged, o.Chown); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDir, err)
		}
	}
	if err := swap(dir, staged, target); err != nil {
		return nil, err
	}
	return &Status{Built: d.Built.Time.UTC(), Schema: d.SchemaVersion.String(), Path: filepath.Join(target, v6.VulnerabilityDBFileName),
		Source: archiveURL, Downloaded: true}, nil
}

// swap puts staged in target's place; the old database is moved aside first and restored if
// the new one cannot take its place.
func swap(dir, staged, target string) error {
	var old string
	if _, err := os.Lstat(target); err == nil {
		f, err := os.MkdirTemp(dir, oldPrefix)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDir, err)
		}
		old = filepath.Join(f, "db")
		if err := os.Rename(target, old); err != nil {
			os.Remove(f)
			return fmt.Errorf("%w: move the old database aside: %v", ErrDir, err)
		}
		defer os.RemoveAll(f)
	}
	if err := os.Rename(staged, target); err != nil {
		if old != "" {
			os.Rename(old, target)
		}
		return fmt.Errorf("%w: install the new database: %v", ErrDir, err)
	}
	return nil
}

func chownTree(root string, chown func(string) error) error {
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return chown(p)
	})
}

// download writes the archive at u to file, hashing it on the way, and checks the hash. It logs
// progress (bytes, speed) every o.ProgressEvery and gives up when nothing arrives for
// o.StallTimeout or more than o.MaxArchiveBytes arrive.
func download(ctx context.Context, o Options, u, file, checksum string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) error {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		return fmt.Errorf("%w: %s: %v", ErrDownload, u, err)
	}
	start := time.Now()
	o.Logf("downloading vulnerability database %s", u)
	body, err := get(ctx, o, u)
	if err != nil {
		return fail(err)
	}
	defer body.Close()
	size := body.(*sizedBody).size
	if size > o.MaxArchiveBytes {
		return fail(fmt.Errorf("announces %d bytes, over the limit of %d", size, o.MaxArchiveBytes))
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDir, err)
	}
	defer f.Close()

	var got atomic.Int64
	stall := time.AfterFunc(o.StallTimeout, func() {
		cancel(fmt.Errorf("nothing received for %s", o.StallTimeout))
	})
	defer stall.Stop()
	stopProgress := progress(o, &got, size, start)
	defer stopProgress()

	h := sha256.New()
	r := &countingReader{r: io.LimitReader(body, o.MaxArchiveBytes+1), n: &got, onRead: func() { stall.Reset(o.StallTimeout) }}
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		return fail(err)
	}
	if n > o.MaxArchiveBytes {
		return fail(fmt.Errorf("larger than the %d bytes allowed", o.MaxArchiveBytes))
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("got %d of %d bytes", n, size))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrDir, err)
	}
	if sum := "sha256:" + hex.EncodeToString(h.Sum(nil)); sum != checksum {
		return fmt.Errorf("%w: %s: got %s, the listing says %s", ErrChecksum, u, sum, checksum)
	}
	took := time.Since(start)
	o.Logf("downloaded %s in %s (%s/s), checksum %s verified", bytesString(n), took.Round(time.Millisecond), bytesString(rate(n, took)), checksum)
	return nil
}

type countingReader struct {
	r      io.Reader
	n      *atomic.Int64
	onRead func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.onRead()
	}
	return n, err
}

// progress logs bytes so far and speed every o.ProgressEvery until the returned func is called.
func progress(o Options, got *atomic.Int64, size int64, start time.Time) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(o.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, took := got.Load(), time.Since(start)
				if size > 0 {
					o.Logf("  %s of %s (%d%%), %s/s", bytesString(n), bytesString(size), n*100/size, bytesString(rate(n, took)))
				} else {
					o.Logf("  %s, %s/s", bytesString(n), bytesString(rate(n, took)))
				}
			}
		}
	}()
	return func() { close(done) }
}

func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return n
	}
	return int64(float64(n) / d.Seconds())
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
