//go:build !unix

package pedigree

import (
	"errors"
	"testing"
)

func mkfifo(string) error { return errors.ErrUnsupported }

// device is empty where there is no device file to name; the cases that need one say so.
const device = ""

func rerunAsNobody(t *testing.T) { t.Skip("no user nobody to drop to on this system") }
