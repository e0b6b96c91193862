package pedigree

import (
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/bom-attest/bom-attest/internal/localfile"
	"github.com/bom-attest/bom-attest/internal/patchtext"
)

// maxSeriesErrors caps the problems reported from one series file, so a wrong file given as a
// series yields a readable message rather than one line per line of it.
const maxSeriesErrors = 10

// seriesEntry is one patch a quilt/Debian series file lists.
type seriesEntry struct {
	line int
	name string // as written
	path string // joined with the series file's directory: relative to patches-dir, cleaned
}

// parseSeries reads the series file rel (a path relative to patches-dir), whose lines name the
// patches of its directory in the order they apply: "name.patch [-p1 ...]  # comment". It
// checks what needs no file system: one patch per line, no absolute path, nothing above
// patches-dir, nothing listed twice. Entries are returned even when a line has a problem, so
// the caller can tell listed from unlisted patches; none are when the file is over a limit or
// cannot be read to its end.
func parseSeries(r io.Reader, rel string) ([]seriesEntry, []error) {
	dir := path.Dir(rel)
	cr := &countingReader{r: r}
	lr := patchtext.NewLineReader(cr, maxSeriesFile+1)
	var (
		out    []seriesEntry
		errs   []error
		listed = map[string]int{}
	)
	fail := func(err error) {
		if len(errs) < maxSeriesErrors {
			errs = append(errs, err)
		}
	}
	for n := 1; len(errs) < maxSeriesErrors; n++ {
		raw, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, append(errs, fmt.Errorf("patches-dir: %s: %w: %w", rel, ErrUnreadable, osReason(err)))
		}
		if cr.n > maxSeriesFile {
			// The line may be cut short by the limit; the file is refused as a whole.
			return nil, []error{tooLargeSeries(rel)}
		}
		if len(raw) >= patchtext.MaxLine {
			fail(fmt.Errorf("patches-dir: %s:%d: %w: line longer than %s", rel, n, ErrSeries, localfile.Size(patchtext.MaxLine)))
			continue
		}
		line, _ := splitComment(string(raw))
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		entry := fields[0]
		for _, opt := range fields[1:] {
			if !strings.HasPrefix(opt, "-") {
				fail(fmt.Errorf("patches-dir: %s:%d: %w: %q: one patch per line, optionally followed by quilt options such as -p1", rel, n, ErrSeries, clip(line)))
				break
			}
		}
		if filepath.IsAbs(entry) || path.IsAbs(entry) {
			fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: absolute path", rel, n, clip(entry), ErrEscape))
			continue
		}
		full := path.Join(dir, entry)
		if full == ".." || strings.HasPrefix(full, "../") {
			fail(fmt.Errorf("patches-dir: %s:%d: %s: %w", rel, n, clip(entry), ErrEscape))
			continue
		}
		if first, dup := listed[full]; dup {
			fail(fmt.Errorf("patches-dir: %s:%d: %s: %w: already listed on line %d", rel, n, clip(entry), ErrDuplicate, first))
			continue
		}
		if len(out) >= maxPatches {
			return nil, []error{fmt.Errorf("patches-dir: %s:%d: %w: more than %d patches listed", rel, n, ErrTooLarge, maxPatches)}
		}
		listed[full] = n
		out = append(out, seriesEntry{line: n, name: entry, path: full})
	}
	if cr.n > maxSeriesFile {
		return nil, []error{tooLargeSeries(rel)}
	}
	return out, errs
}

func tooLargeSeries(rel string) error {
	return fmt.Errorf("patches-dir: %s: %w: larger than %s; a series file lists patches, one a line", rel, ErrTooLarge, localfile.Size(maxSeriesFile))
}
