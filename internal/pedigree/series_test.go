package pedigree

import (
	"errors"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/patchtext"

	"github.com/google/go-cmp/cmp"
)

func TestParseSeries(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []seriesEntry
		err  error
		text string // a part of the first error
	}{
		{
			name: "order, options, comments",
			in:   "# order\nz/0002-b.patch -p1 --fuzz=0\n\n0001-a.patch   # upstream\n",
			want: []seriesEntry{{2, "z/0002-b.patch", "nova/z/0002-b.patch"}, {4, "0001-a.patch", "nova/0001-a.patch"}},
		},
		{
			name: "hash in a name is no comment",
			in:   "0001-fix#2.patch\r\n",
			want: []seriesEntry{{1, "0001-fix#2.patch", "nova/0001-fix#2.patch"}},
		},
		{
			name: "a sibling directory is inside patches-dir",
			in:   "../shared/0001-a.patch\n",
			want: []seriesEntry{{1, "../shared/0001-a.patch", "shared/0001-a.patch"}},
		},
		{
			name: "two patches on a line",
			in:   "0001-a.patch 0002-b.patch\n",
			want: []seriesEntry{{1, "0001-a.patch", "nova/0001-a.patch"}},
			err:  ErrSeries, text: `patches-dir: nova/series:1: bad series entry: "0001-a.patch 0002-b.patch": one patch per line`,
		},
		{name: "absolute", in: "/etc/passwd\n", err: ErrEscape, text: "patches-dir: nova/series:1: /etc/passwd: escapes patches-dir: absolute path"},
		{name: "above patches-dir", in: "ok.patch\n../../x.patch\n", want: []seriesEntry{{1, "ok.patch", "nova/ok.patch"}}, err: ErrEscape, text: "patches-dir: nova/series:2: ../../x.patch: escapes patches-dir"},
		{name: "listed twice", in: "a.patch\n./a.patch\n", want: []seriesEntry{{1, "a.patch", "nova/a.patch"}}, err: ErrDuplicate, text: "nova/series:2: ./a.patch: duplicate: already listed on line 1"},
		{name: "line too long", in: strings.Repeat("a", patchtext.MaxLine) + ".patch\nb.patch\n", want: []seriesEntry{{2, "b.patch", "nova/b.patch"}}, err: ErrSeries, text: "nova/series:1: bad series entry: line longer than 8 KiB"},
		{name: "file too large", in: "a.patch\n" + strings.Repeat("#", maxSeriesFile), err: ErrTooLarge, text: "patches-dir: nova/series: too large: larger than 1 MiB"},
		{name: "one endless line", in: strings.Repeat("a", 2*maxSeriesFile), err: ErrTooLarge, text: "larger than 1 MiB"},
		{name: "bad lines reported up to a cap", in: strings.Repeat("/abs\n", 100), err: ErrEscape, text: "nova/series:1: /abs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := parseSeries(strings.NewReader(tt.in), "nova/series")
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(seriesEntry{})); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if tt.err == nil {
				if len(errs) > 0 {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			if len(errs) == 0 || !errors.Is(errs[0], tt.err) || !strings.Contains(errs[0].Error(), tt.text) {
				t.Fatalf("errors %.300v, want first %v containing %q", errs, tt.err, tt.text)
			}
			if len(errs) > maxSeriesErrors {
				t.Errorf("%d errors, want at most %d", len(errs), maxSeriesErrors)
			}
		})
	}
}
