package yamldata

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/testcost"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		err  error // nil: decodes
		line int
	}{
		{"mapping", "a: 1\nb: [x, y]\n", nil, 0},
		{"empty", "", nil, 0},
		{"comments only", "# nothing\n", nil, 0},
		{"two documents", "a: 1\n---\nb: 2\n", ErrMultiple, 2}, // the line of its ---
		{"anchor", "a: 1\nb: &x [1, 2]\n", ErrAlias, 2},
		{"alias", "a: 1\nb: [1, 2]\nc:\n  - *x\n", ErrSyntax, 0}, // an alias to nothing does not parse
		{"alias to an anchor", "a: &x 1\n", ErrAlias, 1},
		{"merge key", "base: &b {x: 1}\nd:\n  <<: *b\n", ErrAlias, 1},
		{"anchor on a key", "&k a: 1\n", ErrAlias, 1},
		{"too deep", "a:\n" + strings.Repeat(" ", 2) + "b: [[[[[1]]]]]\n", ErrDepth, 2},
		{"deep enough", "a: {b: [[1]]}\n", nil, 0},
		{"syntax", "a: [1, 2\n", ErrSyntax, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Decode([]byte(tt.doc), 5)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if strings.TrimSpace(strings.TrimPrefix(tt.doc, "# nothing")) != "" && (n == nil || n.Kind != yaml.MappingNode) {
					t.Fatalf("Decode = %+v, want the mapping", n)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tt.err) || !errors.As(err, &e) {
				t.Fatalf("Decode error %v, want %v", err, tt.err)
			}
			if e.Line != tt.line {
				t.Errorf("error %q at line %d, want %d", err, e.Line, tt.line)
			}
		})
	}
}

// laughs is a billion-laughs document: levels anchored lists, each of ten aliases to the one
// before, padded with more aliases to the last level until it is size bytes long. Expanded, it
// is 10^levels strings.
func laughs(levels, size int) string {
	var b strings.Builder
	b.WriteString(`l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), 10), ","))
	}
	b.WriteString("pad: [")
	for b.Len() < size {
		fmt.Fprintf(&b, "*l%d,", levels-1)
	}
	b.WriteString("*l0]\n")
	return b.String()
}

// TestBillionLaughs: 100 KB of nested aliases (10^9 strings expanded) is refused in well under a
// second, with memory in proportion to the 100 KB, not to the expansion.
func TestBillionLaughs(t *testing.T) {
	doc := []byte(laughs(9, 100<<10))
	var err error
	took, alloc := testcost.Measure(func() { _, err = Decode(doc, 32) })
	if !errors.Is(err, ErrAlias) || !strings.Contains(err.Error(), "line 1:") {
		t.Fatalf("Decode error %v, want ErrAlias at line 1", err)
	}
	if took > 500*time.Millisecond {
		t.Errorf("took %v of CPU for %d bytes", took, len(doc))
	}
	if alloc > 64<<20 {
		t.Errorf("allocated %d MiB for %d bytes", alloc>>20, len(doc))
	}
}
