package testserver

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// PyPIFile is one distribution file (wheel or sdist) the loopback PyPI lists and serves.
type PyPIFile struct {
	Name, Version string // the release it belongs to
	Filename      string
	PackageType   string // bdist_wheel or sdist
	Body          []byte
	// SHA256 overrides the digest listed for the file (hex); "" lists the body's own.
	SHA256 string
}

// PyPI is a loopback PyPI with the JSON API (GET /pypi/NAME/VERSION/json, names compared as PEP
// 503 says) and the files it lists (GET /files/FILENAME).
type PyPI struct {
	URL    string
	Faults *SigstoreFaults // applies to every request

	mu    sync.Mutex
	files []PyPIFile
	raw   map[string][]byte
	paths []string
}

// StartPyPI serves files until the test ends.
func StartPyPI(t testing.TB, files ...PyPIFile) *PyPI {
	t.Helper()
	p := &PyPI{Faults: &SigstoreFaults{}, files: files, raw: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() { p.Faults.release(); srv.Close() })
	p.URL = srv.URL
	return p
}

// SetRaw makes GET path answer body as it is (200), for answers no real PyPI gives.
func (p *PyPI) SetRaw(path string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raw[path] = body
}

// Paths lists the paths requested, in order.
func (p *PyPI) Paths() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

var pep503 = regexp.MustCompile(`[-_.]+`)

func pypiNormalize(s string) string { return strings.ToLower(pep503.ReplaceAllString(s, "-")) }

func (p *PyPI) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	raw, isRaw := p.raw[r.URL.Path]
	files := append([]PyPIFile(nil), p.files...)
	p.mu.Unlock()
	if p.Faults.apply(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if isRaw {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
		return
	}
	if fn, ok := strings.CutPrefix(r.URL.Path, "/files/"); ok {
		for _, f := range files {
			if f.Filename == fn {
				_, _ = w.Write(f.Body)
				return
			}
		}
		http.NotFound(w, r)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "pypi" || parts[3] != "json" {
		http.NotFound(w, r)
		return
	}
	type digests struct {
		SHA256 string `json:"sha256"`
		MD5    string `json:"md5"`
	}
	type entry struct {
		Filename    string  `json:"filename"`
		URL         string  `json:"url"`
		PackageType string  `json:"packagetype"`
		Size        int     `json:"size"`
		Digests     digests `json:"digests"`
	}
	var urls []entry
	for _, f := range files {
		if pypiNormalize(f.Name) != pypiNormalize(parts[1]) || f.Version != parts[2] {
			continue
		}
		sum := f.SHA256
		if sum == "" {
			s := sha256.Sum256(f.Body)
			sum = hex.EncodeToString(s[:])
		}
		urls = append(urls, entry{Filename: f.Filename, URL: p.URL + "/files/" + f.Filename, PackageType: f.PackageType,
			Size: len(f.Body), Digests: digests{SHA256: sum, MD5: "00000000000000000000000000000000"}})
	}
	if urls == nil {
		oidcWriteJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	oidcWriteJSON(w, http.StatusOK, map[string]any{"info": map[string]string{"name": parts[1], "version": parts[2]}, "urls": urls})
}
