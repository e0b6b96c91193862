package yamldata

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

var (
	// ErrSyntax wraps the YAML parser's own error.
	ErrSyntax = errors.New("not valid YAML")
	// ErrAlias: the document uses an anchor (&name) or an alias (*name, including << merges).
	ErrAlias = errors.New("YAML anchors and aliases are not allowed")
	// ErrDepth: collections are nested deeper than allowed.
	ErrDepth = errors.New("nested too deep")
	// ErrMultiple: the input holds more than one YAML document.
	ErrMultiple = errors.New("more than one YAML document")
)

// Error is a problem with the document, at a line when one is known.
type Error struct {
	Line int // 1-based, 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Decode parses data as one YAML document and returns its root node, or nil when the document
// has no content (empty, or only comments). A second document, an anchor or alias anywhere, or
// collections nested more than maxDepth deep is an *Error naming the first line at fault.
// Parsing is linear in len(data): the parser builds aliases as pointers, and the check refuses
// them before anything walks the tree.
func Decode(data []byte, maxDepth int) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, &Error{Err: fmt.Errorf("%w: %v", ErrSyntax, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Line: extra.Line, Err: ErrMultiple}
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{Err: fmt.Errorf("%w: %v", ErrSyntax, err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if err := check(root, 1, maxDepth); err != nil {
		return nil, err
	}
	return root, nil
}

// check walks n without following aliases, refusing anchors, aliases and depth past max.
func check(n *yaml.Node, depth, max int) error {
	if n.Kind == yaml.AliasNode {
		return &Error{Line: n.Line, Err: fmt.Errorf("%w: *%s", ErrAlias, n.Value)}
	}
	if n.Anchor != "" {
		return &Error{Line: n.Line, Err: fmt.Errorf("%w: &%s", ErrAlias, n.Anchor)}
	}
	if len(n.Content) == 0 {
		return nil
	}
	if depth > max {
		return &Error{Line: n.Line, Err: fmt.Errorf("%w: more than %d levels", ErrDepth, max)}
	}
	for _, c := range n.Content {
		if err := check(c, depth+1, max); err != nil {
			return err
		}
	}
	return nil
}
