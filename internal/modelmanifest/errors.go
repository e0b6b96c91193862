package modelmanifest

import (
	"errors"
	"fmt"
)

// Input is the action input every manifest error is reported against.
const Input = "model-manifest"

var (
	// ErrManifest is wrapped by every problem with the model manifest, wherever it is found.
	ErrManifest = errors.New("invalid model manifest")
	// ErrUnknownField: the manifest has a key the schema does not define (often a typo).
	ErrUnknownField = errors.New("unknown field")
	// ErrType: a value has the wrong shape (a list where a string belongs, …).
	ErrType = errors.New("wrong type")
	// ErrRequired: a required field is missing or empty.
	ErrRequired = errors.New("required field missing")
	// ErrValue: a value has the right type but is not allowed (bad URL, enum, hash, …).
	ErrValue = errors.New("invalid value")
	// ErrDuplicate: two models or data sets share a name, or two models' paths overlap.
	ErrDuplicate = errors.New("duplicate")
	// ErrReference: a model card names a data set that datasets[] does not declare.
	ErrReference = errors.New("reference to nothing")
	// ErrPURL: a purl does not parse as a package URL.
	ErrPURL = errors.New("invalid package URL")
	// ErrPath: a declared path is not a clean absolute path, or is not in the image.
	ErrPath = errors.New("path not in the image")
	// ErrHashMismatch: a declared hash differs from the files in the image, or matches none.
	ErrHashMismatch = errors.New("hash mismatch")
	// ErrConflict: two manifest entries claim the same model in the image.
	ErrConflict = errors.New("conflicting manifest entries")
)

// FieldError is one problem with one field of the manifest. Its message names the field path
// (models[0].modelCard.task) and, when known, the file and line, so it can be fixed without
// reading code.
type FieldError struct {
	File string // manifest file as given, "" when unknown
	Line int    // 1-based, 0 when unknown
	Path string // field path, e.g. models[0].hashes[1].content; "" for the whole document
	Msg  string
	Kind error // one of the sentinels above
}

func (e *FieldError) Error() string {
	s := Input + ": "
	if e.Path != "" {
		s += e.Path + ": "
	}
	s += e.Msg
	switch {
	case e.File != "" && e.Line > 0:
		s += fmt.Sprintf(" (%s:%d)", e.File, e.Line)
	case e.File != "":
		s += fmt.Sprintf(" (%s)", e.File)
	}
	return s
}

// Unwrap lets callers test for ErrManifest and for the specific kind.
func (e *FieldError) Unwrap() []error { return []error{ErrManifest, e.Kind} }
