package grypedb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/afero"

	v6 "github.com/anchore/grype/grype/db/v6"
	"github.com/anchore/grype/grype/vulnerability"
)

// DefaultURL is Grype's own distribution point; the listing is <DefaultURL>/v6/latest.json.
const DefaultURL = "https://grype.anchore.io/databases"

// DefaultMaxAge is the age past which Grype itself refuses a database.
const DefaultMaxAge = 5 * 24 * time.Hour

// Sentinel errors; every error Load returns wraps one of them.
var (
	// ErrStale: the database (cached or the newest offered) is older than MaxAge.
	ErrStale = errors.New("vulnerability database too old")
	// ErrListing: the listing could not be fetched or does not describe a v6 archive.
	ErrListing = errors.New("vulnerability database listing")
	// ErrDownload: the archive could not be fetched whole.
	ErrDownload = errors.New("vulnerability database download")
	// ErrChecksum: the archive's SHA-256 differs from the listing's.
	ErrChecksum = errors.New("vulnerability database checksum mismatch")
	// ErrArchive: the archive is not a v6 database as the listing describes it.
	ErrArchive = errors.New("vulnerability database archive")
	// ErrDir: the database directory cannot be used.
	ErrDir = errors.New("vulnerability database directory")
)

// Limits on what a server may make this process store.
const (
	defaultMaxArchive = 2 << 30  // compressed archive; Grype's is about 100 MiB
	defaultMaxDB      = 16 << 30 // the database file; Grype's is about 1.5 GiB
	maxListing        = 1 << 20
)

// Options configure Load.
type Options struct {
	// Dir holds the database as Grype lays out its cache: Dir/6/vulnerability.db with
	// import.json beside it, so Grype's own cache directory works too.
	Dir string
	// URL is the listing (…/latest.json) or the base it sits under (Grype's layout:
	// <URL>/v6/latest.json); empty: DefaultURL.
	URL string
	// MaxAge refuses a database built longer ago; zero: DefaultMaxAge.
	MaxAge time.Duration
	// Client makes every request; nil: a client of its own. Requests carry the context given
	// to Load.
	Client    *http.Client
	UserAgent string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, a ...any)
	// Chown, when set, is applied to the installed database directory and its files (the
	// directory may sit in a workspace that later steps, running as another user, clean up).
	Chown func(path string) error
	// Now is the clock for the age check; nil: time.Now.
	Now func() time.Time
	// ProgressEvery is how often a download logs its progress; zero: 5s.
	ProgressEvery time.Duration
	// StallTimeout aborts a download that receives nothing for this long; zero: 60s.
	StallTimeout time.Duration
	// MaxArchiveBytes and MaxDBBytes bound what is downloaded and unpacked; zero: 2 GiB and 16 GiB.
	MaxArchiveBytes, MaxDBBytes int64
}

func (o *Options) defaults() {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: http.DefaultTransport}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = time.Minute
	}
	if o.MaxArchiveBytes == 0 {
		o.MaxArchiveBytes = defaultMaxArchive
	}
	if o.MaxDBBytes == 0 {
		o.MaxDBBytes = defaultMaxDB
	}
}

// Status describes the database a DB holds.
type Status struct {
	Built      time.Time // when Grype built it
	Schema     string    // schema version, e.g. v6.1.7
	Path       string    // the vulnerability.db file
	Source     string    // the archive's URL, as recorded at import
	Downloaded bool      // false: the copy already in Dir was current
}

// DB is an open vulnerability database.
type DB struct {
	Status   Status
	Provider vulnerability.Provider
}

// Close releases the database file.
func (d *DB) Close() error { return d.Provider.Close() }

// clientVersion is what Grype writes as client_version in import.json: the schema this build of
// Grype hydrates (indexes and migrations) for.
var clientVersion = fmt.Sprintf("v%d.%d.%d", v6.ModelVersion, v6.Revision, v6.Addition)

// Load makes o.Dir hold a current database and opens it. It asks the listing for the newest
// archive; when that is newer than the copy in Dir (or there is none, or the copy fails its
// checksum), it downloads, verifies and imports it next to the old one and swaps it in, so a
// failure at any point leaves Dir as it was. When the listing cannot be reached, a copy in Dir
// younger than MaxAge is used, and the log says so.
func Load(ctx context.Context, o Options) (*DB, error) {
	o.defaults()
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no directory given", ErrDir)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDir, o.Dir, err)
	}
	if err := mkdirOwned(dir, o.Chown); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDir, err)
	}
	removeLeftovers(dir, o.Now())
	target := filepath.Join(dir, strconv.Itoa(v6.ModelVersion))
	current := installed(target)

	latest, listingURL, err := fetchListing(ctx, o)
	switch {
	case err != nil && current != nil && o.Now().Sub(current.Built) <= o.MaxAge:
		o.Logf("could not check %s for a newer vulnerability database (%v); using the one in %s, built %s", listingURL, err, dir, stamp(current.Built, o.Now()))
		return open(target, *current)
	case err != nil:
		return nil, err
	}
	built := latest.Built.Time.UTC()
	if current != nil && !built.After(current.Built) {
		if err := checkAge(current.Built, o, "the vulnerability database in "+dir); err != nil {
			return nil, err
		}
		o.Logf("vulnerability database in %s is the newest: built %s, schema %s", dir, stamp(current.Built, o.Now()), current.Schema)
		return open(target, *current)
	}
	// Refuse a stale archive before spending the bandwidth on it.
	if err := checkAge(built, o, "the newest vulnerability database at "+listingURL); err != nil {
		return nil, err
	}
	archiveURL, err := archiveURL(listingURL, latest.Path)
	if err != nil {
		return nil, err
	}
	st, err := install(ctx, o, dir, target, archiveURL, latest.Checksum, built)
	if errors.Is(err, ErrDownload) && current != nil && o.Now().Sub(current.Built) <= o.MaxAge {
		// As Grype does: a failed update is no reason to drop a database that is still fresh.
		// A bad checksum or archive is, and fails below.
		o.Logf("%v; using the vulnerability database in %s, built %s", err, dir, stamp(current.Built, o.Now()))
		return open(target, *current)
	}
	if err != nil {
		return nil, err
	}
	return open(target, *st)
}

func stamp(t, now time.Time) string {
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(now.Sub(t)))
}

// age prints a duration the way a person reads an age: days and hours, or hours and minutes.
func age(d time.Duration) string {
	if d < 0 {
		return "in the future " + (-d).Round(time.Second).String()
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh%dm", hours, int(d%time.Hour/time.Minute))
	default:
		return d.Round(time.Second).String()
	}
}

func checkAge(built time.Time, o Options, what string) error {
	now := o.Now()
	if a := now.Sub(built); a > o.MaxAge {
		return fmt.Errorf("%w: %s was built %s, %s ago, more than the %s allowed", ErrStale, what, built.UTC().Format(time.RFC3339), age(a), o.MaxAge)
	}
	// A build time in the future is as suspect as an old one: the clock or the listing lies.
	if built.After(now.Add(time.Hour)) {
		return fmt.Errorf("%w: %s claims to be built in the future (%s)", ErrStale, what, built.UTC().Format(time.RFC3339))
	}
	return nil
}

// installed describes a usable database in target: present, of this schema model, hydrated by
// this Grype (else its indexes may be missing), and matching the digest taken at import. Any
// doubt means "none", so a fresh one is downloaded.
func installed(target string) *Status {
	dbFile := filepath.Join(target, v6.VulnerabilityDBFileName)
	if _, err := os.Stat(dbFile); err != nil {
		return nil
	}
	fs := afero.NewOsFs()
	im, err := v6.ReadImportMetadata(fs, target)
	if err != nil || im.ClientVersion != clientVersion {
		return nil
	}
	digest, err := v6.CalculateDBDigest(fs, dbFile)
	if err != nil || digest != im.Digest {
		return nil
	}
	d, err := v6.ReadDescription(dbFile)
	if err != nil || d == nil || d.SchemaVersion.Model != v6.ModelVersion {
		return nil
	}
	return &Status{Built: d.Built.Time.UTC(), Schema: d.SchemaVersion.String(), Path: dbFile, Source: im.Source}
}

func open(target string, st Status) (*DB, error) {
	r, err := v6.NewReader(v6.Config{DBDirPath: target})
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrArchive, st.Path, err)
	}
	return &DB{Status: st, Provider: v6.NewVulnerabilityProvider(r)}, nil
}

// mkdirOwned creates dir and gives the directories it created to chown, if set.
func mkdirOwned(dir string, chown func(string) error) error {
	var created []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if chown != nil {
		for _, p := range created {
			if err := chown(p); err != nil {
				return err
			}
		}
	}
	return nil
}

const (
	tempPrefix = ".download-"
	oldPrefix  = ".old-"
)

// removeLeftovers deletes what a killed run left behind. Only old ones: a younger one may belong
// to a run going on right now in the same directory.
func removeLeftovers(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) && !strings.HasPrefix(e.Name(), oldPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > 6*time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
