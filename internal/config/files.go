package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// maxTrustedRoot bounds trusted-root: the public-good root, with years of key history, is
// under 100 KB.
const maxTrustedRoot = 4 << 20

// maxEventPayload bounds the event payload; GitHub caps webhook payloads at 25 MB.
const maxEventPayload = 25 << 20

// what names the kind of file m describes, for a message.
func what(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

// regularFile checks that a path input names a regular file (after symlinks): a named pipe or
// a device would block or never end the stage that reads it.
func (v *validator) regularFile(raw map[string]string, input string) string {
	p := raw[input]
	if p != "" {
		v.checkRegular(input, "", p)
	}
	return p
}

// checkRegular reports input unless path is a regular file. prefix, when set, is the image kind
// of an archive ("oci-archive:"), written before the path; a directory there wants oci-dir:.
func (v *validator) checkRegular(input, prefix, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(input, "%s%s: %v", prefix, path, errors.Unwrap(err))
	case st.IsDir() && prefix != "":
		v.add(input, "%s%s is a directory; use oci-dir:", prefix, path)
	case !st.Mode().IsRegular():
		v.add(input, "%s%s is %s, want a regular file", prefix, path, what(st.Mode()))
	}
}

// directory checks that a path input names a directory.
func (v *validator) directory(raw map[string]string, input string) string {
	p := raw[input]
	if p != "" {
		v.checkDir(input, "", p)
	}
	return p
}

// checkDir reports input unless path is a directory.
func (v *validator) checkDir(input, prefix, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(input, "%s%s: %v", prefix, path, errors.Unwrap(err))
	case !st.IsDir():
		v.add(input, "%s%s is %s, want a directory", prefix, path, what(st.Mode()))
	}
}

// trustedRoot checks that trusted-root is a Sigstore trusted root, so a wrong file fails at
// once — in a dry run too — rather than when the first bundle is verified.
func (v *validator) trustedRoot(raw map[string]string) string {
	p := v.regularFile(raw, "trusted-root")
	if p == "" || v.failed("trusted-root") {
		return p
	}
	b, err := readRegular(p, maxTrustedRoot)
	if err != nil {
		v.add("trusted-root", "%v", err)
		return p
	}
	if _, err := root.NewTrustedRootFromJSON(b); err != nil {
		v.add("trusted-root", "%s is not a Sigstore trusted root (trusted_root.json): %v", p, err)
	}
	return p
}

// readRegular reads a regular file of at most limit bytes. It opens without blocking and
// checks what it opened, as the path may have been swapped for a named pipe since any stat.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, want a regular file", path, what(st.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
