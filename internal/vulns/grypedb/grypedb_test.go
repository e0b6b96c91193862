package grypedb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anchore/grype/grype/search"
	"github.com/anchore/grype/grype/vulnerability"

	"github.com/bom-attest/bom-attest/internal/outdir"
	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
	"github.com/bom-attest/bom-attest/internal/vulns/grypedb"
)

var (
	freshOnce sync.Once
	fresh     *grypedbtest.Archive
)

// freshArchive is one database built an hour ago, shared by the tests that need no other.
func freshArchive(t *testing.T) *grypedbtest.Archive {
	freshOnce.Do(func() {
		a := grypedbtest.Build(t, grypedbtest.Options{Built: time.Now().Add(-time.Hour)})
		fresh = a
	})
	if fresh == nil {
		t.Fatal("building the shared database failed in another test")
	}
	return fresh
}

type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func load(t *testing.T, dir, url string, mod ...func(*grypedb.Options)) (*grypedb.DB, *logBuf, error) {
	t.Helper()
	lb := &logBuf{}
	o := grypedb.Options{Dir: dir, URL: url, Logf: lb.logf, UserAgent: "bom-attest/test", ProgressEvery: time.Millisecond}
	for _, m := range mod {
		m(&o)
	}
	db, err := grypedb.Load(context.Background(), o)
	if db != nil {
		t.Cleanup(func() { db.Close() })
	}
	return db, lb, err
}

// TestLoadDownloadsThenReuses: the first load downloads, verifies and imports the archive the
// listing names; a second one finds the same build in the directory and downloads nothing.
func TestLoadDownloadsThenReuses(t *testing.T) {
	a := freshArchive(t)
	srv := grypedbtest.Serve(t, a)
	dir := t.TempDir()
	db, lb, err := load(t, dir, srv.URL)
	if err != nil {
		t.Fatalf("%v\n%s", err, lb)
	}
	want := a.Listing.Built.Time.UTC()
	if !db.Status.Built.Equal(want) || !db.Status.Downloaded || db.Status.Schema != a.Listing.SchemaVersion.String() {
		t.Errorf("status = %+v, want built %s, downloaded", db.Status, want)
	}
	if db.Status.Path != filepath.Join(dir, "6", "vulnerability.db") || db.Status.Source != srv.ArchiveURL() {
		t.Errorf("path %s, source %s", db.Status.Path, db.Status.Source)
	}
	for _, w := range []string{"downloading vulnerability database " + srv.ArchiveURL(), "downloaded ", "/s), checksum " + a.Listing.Checksum + " verified",
		"imported vulnerability database built " + want.Format(time.RFC3339)} {
		if !strings.Contains(lb.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, lb)
		}
	}
	// The database answers Grype's queries.
	vs, err := db.Provider.FindVulnerabilities(search.ByID("GHSA-2099-crit-0003"))
	if err != nil || len(vs) != 1 {
		t.Fatalf("GHSA-2099-crit-0003: %v, %v", vs, err)
	}
	if vs[0].Fix.State != vulnerability.FixStateFixed || strings.Join(vs[0].Fix.Versions, ",") != "44.0.2" {
		t.Errorf("fix = %+v", vs[0].Fix)
	}
	db.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "6" {
		t.Errorf("directory holds %v, want only 6/", names(entries))
	}

	db2, lb2, err := load(t, dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if db2.Status.Downloaded || srv.ArchiveDownloads() != 1 || !db2.Status.Built.Equal(want) {
		t.Errorf("second load: %+v, %d downloads", db2.Status, srv.ArchiveDownloads())
	}
	if !strings.Contains(lb2.String(), "is the newest: built "+want.Format(time.RFC3339)) {
		t.Errorf("log: %s", lb2)
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestLoadReplacesOlder: a newer build in the listing replaces the one in the directory.
func TestLoadReplacesOlder(t *testing.T) {
	dir := t.TempDir()
	old := grypedbtest.Serve(t, grypedbtest.Build(t, grypedbtest.Options{Built: time.Now().Add(-48 * time.Hour)}))
	if _, _, err := load(t, dir, old.URL); err != nil {
		t.Fatal(err)
	}
	newer := grypedbtest.Serve(t, freshArchive(t))
	db, _, err := load(t, dir, newer.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !db.Status.Downloaded || !db.Status.Built.Equal(newer.Archive.Listing.Built.Time) {
		t.Errorf("status = %+v", db.Status)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("old database left behind: %v", names(entries))
	}
}

// TestLoadFailures: every way a download can go wrong fails with its own error, names the URL,
// and leaves no database (and no half-written file) in the directory.
func TestLoadFailures(t *testing.T) {
	a := freshArchive(t)
	stale := grypedbtest.Build(t, grypedbtest.Options{Built: time.Now().Add(-6*24*time.Hour - 3*time.Hour)})
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T) string // returns grype-db-url
		opts  func(*grypedb.Options)
		err   error
		msg   []string
	}{
		{name: "stale", serve: func(t *testing.T) string { return grypedbtest.Serve(t, stale).URL },
			err: grypedb.ErrStale, msg: []string{"was built " + stale.Listing.Built.Time.UTC().Format(time.RFC3339), "6d3h ago", "more than the 120h0m0s allowed"}},
		{name: "stale under a shorter max age", serve: func(t *testing.T) string { return grypedbtest.Serve(t, a).URL },
			opts: func(o *grypedb.Options) { o.MaxAge = 30 * time.Minute }, err: grypedb.ErrStale, msg: []string{"1h0m ago", "30m0s allowed"}},
		{name: "truncated", serve: func(t *testing.T) string {
			s := grypedbtest.Serve(t, a)
			s.SetFault(grypedbtest.Truncated)
			return s.URL
		}, err: grypedb.ErrDownload, msg: []string{"/v6/vulnerability-db_v6"}},
		{name: "tampered", serve: func(t *testing.T) string {
			s := grypedbtest.Serve(t, a)
			s.SetFault(grypedbtest.Tampered)
			return s.URL
		}, err: grypedb.ErrChecksum, msg: []string{"the listing says " + a.Listing.Checksum}},
		{name: "server down", serve: func(t *testing.T) string {
			s := grypedbtest.Serve(t, a)
			s.SetFault(grypedbtest.Down)
			return s.URL
		}, err: grypedb.ErrListing, msg: []string{"/v6/latest.json", "503"}},
		{name: "path out of the listing's directory", serve: listing(a, func(l map[string]any) { l["path"] = "../../etc/passwd" }),
			err: grypedb.ErrListing, msg: []string{`archive path "../../etc/passwd"`}},
		{name: "absolute archive URL", serve: listing(a, func(l map[string]any) { l["path"] = "https://evil.example/db.tar.zst" }),
			err: grypedb.ErrListing},
		{name: "checksum of another kind", serve: listing(a, func(l map[string]any) { l["checksum"] = "md5:abc" }),
			err: grypedb.ErrListing, msg: []string{`checksum "md5:abc"`}},
		{name: "schema 5", serve: listing(a, func(l map[string]any) { l["schemaVersion"] = "v5.0.2" }),
			err: grypedb.ErrListing, msg: []string{"schema v5.0.2, want v6"}},
		{name: "not JSON", serve: rawListing([]byte("<html>")), err: grypedb.ErrListing},
		{name: "listing too large", serve: rawListing(bytes.Repeat([]byte(" "), 2<<20)), err: grypedb.ErrListing, msg: []string{"larger than"}},
		{name: "listing dates a different build", serve: listing(a, func(l map[string]any) {
			l["built"] = a.Listing.Built.Time.Add(time.Minute).UTC().Format(time.RFC3339)
		}), err: grypedb.ErrArchive, msg: []string{"listing says"}},
		{name: "archive too large", serve: func(t *testing.T) string { return grypedbtest.Serve(t, a).URL },
			opts: func(o *grypedb.Options) { o.MaxArchiveBytes = 1000 }, err: grypedb.ErrDownload, msg: []string{"over the limit of 1000"}},
		{name: "archive too large, unannounced", serve: archive(bytes.Repeat([]byte{0x28, 0xb5, 0x2f, 0xfd}, 1<<12)),
			opts: func(o *grypedb.Options) { o.MaxArchiveBytes = 1000 }, err: grypedb.ErrDownload, msg: []string{"larger than the 1000 bytes allowed"}},
		{name: "unpacks too large", serve: func(t *testing.T) string { return grypedbtest.Serve(t, a).URL },
			opts: func(o *grypedb.Options) { o.MaxDBBytes = 4096 }, err: grypedb.ErrArchive, msg: []string{"unpacks to more than 4096 bytes"}},
		{name: "archive without a database", serve: archive(tarGz(t, "README", []byte("hello"))), err: grypedb.ErrArchive, msg: []string{"no vulnerability.db"}},
		{name: "database that is not SQLite", serve: archive(tarGz(t, "vulnerability.db", bytes.Repeat([]byte("x"), 8192))), err: grypedb.ErrArchive, msg: []string{"not a Grype database"}},
		{name: "not compressed", serve: archive([]byte("plain text, no archive")), err: grypedb.ErrArchive, msg: []string{"not a zstd or gzip archive"}},
		{name: "stalls", serve: stall(a), opts: func(o *grypedb.Options) { o.StallTimeout = 300 * time.Millisecond },
			err: grypedb.ErrDownload, msg: []string{"nothing received for 300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			url := tc.serve(t)
			var mod []func(*grypedb.Options)
			if tc.opts != nil {
				mod = append(mod, tc.opts)
			}
			db, lb, err := load(t, dir, url, mod...)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v\n%s", err, tc.err, lb)
			}
			if db != nil {
				t.Error("a DB came back with the error")
			}
			if !strings.Contains(err.Error(), url) {
				t.Errorf("error does not name the URL %s: %v", url, err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error lacks %q: %v", m, err)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left in the database directory: %v", names(entries))
			}
		})
	}
}

// TestLoadKeepsWhatItHas: with a fresh database in the directory, an unreachable server or a
// dropped download keeps it in use; a tampered archive still fails, and the old one survives.
func TestLoadKeepsWhatItHas(t *testing.T) {
	dir := t.TempDir()
	old := grypedbtest.Build(t, grypedbtest.Options{Built: time.Now().Add(-30 * time.Hour)})
	if _, _, err := load(t, dir, grypedbtest.Serve(t, old).URL); err != nil {
		t.Fatal(err)
	}
	newer := freshArchive(t)
	for _, tc := range []struct {
		fault grypedbtest.Fault
		err   error
		log   string
	}{
		{grypedbtest.Down, nil, "could not check"},
		{grypedbtest.Truncated, nil, "using the vulnerability database in"},
		{grypedbtest.Tampered, grypedb.ErrChecksum, ""},
	} {
		s := grypedbtest.Serve(t, newer)
		s.SetFault(tc.fault)
		db, lb, err := load(t, dir, s.URL)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Fatalf("fault %d: err = %v, want %v", tc.fault, err, tc.err)
		}
		if err == nil {
			if db.Status.Downloaded || !db.Status.Built.Equal(old.Listing.Built.Time) || !strings.Contains(lb.String(), tc.log) {
				t.Errorf("fault %d: %+v\n%s", tc.fault, db.Status, lb)
			}
			db.Close()
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "6" {
			t.Errorf("fault %d: directory holds %v", tc.fault, names(entries))
		}
	}
	// Still the old one, intact (its digest is checked on load).
	db, _, err := load(t, dir, grypedbtest.Serve(t, old).URL)
	if err != nil || db.Status.Downloaded || !db.Status.Built.Equal(old.Listing.Built.Time) {
		t.Errorf("old database: %v, %+v", err, db)
	}
}

// TestLoadCorruptCopyIsReplaced: a database file changed on disk (a bad cache restore) no longer
// matches the digest taken at import, so it is downloaded again.
func TestLoadCorruptCopyIsReplaced(t *testing.T) {
	dir := t.TempDir()
	s := grypedbtest.Serve(t, freshArchive(t))
	db, _, err := load(t, dir, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(filepath.Join(dir, "6", "vulnerability.db"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("garbage"))
	f.Close()
	db, _, err = load(t, dir, s.URL)
	if err != nil || !db.Status.Downloaded || s.ArchiveDownloads() != 2 {
		t.Fatalf("err %v, status %+v, downloads %d", err, db, s.ArchiveDownloads())
	}
}

// TestLoadCancelled: a cancelled context stops the download and leaves nothing.
func TestLoadCancelled(t *testing.T) {
	a := freshArchive(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "latest.json") {
			json.NewEncoder(w).Encode(a.Listing)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(a.Body)))
		w.Write(a.Body[:100])
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
	}))
	defer srv.Close()
	dir := t.TempDir()
	_, err := grypedb.Load(ctx, grypedb.Options{Dir: dir, URL: srv.URL + "/databases"})
	if !errors.Is(err, grypedb.ErrDownload) || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", names(entries))
	}
}

// listing serves a's archive under a listing changed by edit.
func listing(a *grypedbtest.Archive, edit func(map[string]any)) func(*testing.T) string {
	return func(t *testing.T) string {
		raw, _ := json.Marshal(a.Listing)
		var l map[string]any
		json.Unmarshal(raw, &l)
		edit(l)
		body, _ := json.Marshal(l)
		return serve(t, body, a.Name, a.Body)
	}
}

func rawListing(body []byte) func(*testing.T) string {
	return func(t *testing.T) string { return serve(t, body, "x", nil) }
}

// archive serves body as the archive, under a listing that gives its true checksum.
func archive(body []byte) func(*testing.T) string {
	return func(t *testing.T) string {
		sum := sha256.Sum256(body)
		l, _ := json.Marshal(map[string]any{"status": "active", "schemaVersion": "v6.1.7", "built": time.Now().UTC().Format(time.RFC3339),
			"path": "db.tar.zst", "checksum": "sha256:" + hex.EncodeToString(sum[:])})
		return serve(t, l, "db.tar.zst", body)
	}
}

func serve(t *testing.T, listing []byte, name string, body []byte) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/databases/v6/latest.json", func(w http.ResponseWriter, r *http.Request) { w.Write(listing) })
	mux.HandleFunc("/databases/v6/"+name, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/databases"
}

// stall sends the archive's first bytes and then nothing.
func stall(a *grypedbtest.Archive) func(*testing.T) string {
	return func(t *testing.T) string {
		l, _ := json.Marshal(a.Listing)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "latest.json") {
				w.Write(l)
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(a.Body)))
			w.Write(a.Body[:64])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/databases"
	}
}

func tarGz(t *testing.T, name string, body []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestLoadGivesWorkspaceOwner: run as root (the action's container) in a workspace owned by the
// runner's user, every directory and file the database adds belongs to that user, so later steps
// and the next checkout can remove them.
func TestLoadGivesWorkspaceOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the action container runs") // CI runs as root.
	}
	ws := t.TempDir()
	if err := os.Chown(ws, 1001, 121); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ws, "cache", "grype")
	s := grypedbtest.Serve(t, freshArchive(t))
	if _, _, err := load(t, dir, s.URL, func(o *grypedb.Options) { o.Chown = outdir.Owner(dir, ws) }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(ws, "cache"), dir, filepath.Join(dir, "6"), filepath.Join(dir, "6", "vulnerability.db"), filepath.Join(dir, "6", "import.json")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 1001 {
			t.Errorf("%s owned by %d, want 1001", p, uid)
		}
	}
}
