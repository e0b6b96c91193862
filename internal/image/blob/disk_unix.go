//go:build linux || darwin

package blob

import "syscall"

// DiskFree is the space in bytes left for an unprivileged user on the disk holding dir.
func DiskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
