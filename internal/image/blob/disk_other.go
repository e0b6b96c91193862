//go:build !(linux || darwin)

package blob

import "errors"

// DiskFree is not known on this system; the disk does not bound a read.
func DiskFree(string) (int64, error) { return 0, errors.New("free disk space unknown") }
