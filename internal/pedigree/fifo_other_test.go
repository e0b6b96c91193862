//go:build !unix

package pedigree

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
