//go:build unix

package pedigree

import "syscall"

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// device is a character device every unix has, which reads zeros forever.
const device = "/dev/zero"
