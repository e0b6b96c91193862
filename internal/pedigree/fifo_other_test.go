//go:build !unix

package pedigree

import (
	"errors"
	"testing"
)

func mkfifo(string) error { return errors.ErrUnsupported }

func rerunAsNobody(t *testing.T) { t.Skip("no user nobody to drop to on this system") }
