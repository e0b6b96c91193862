package plainhttp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrRefused marks an endpoint that would be reached over plain HTTP off loopback.
var ErrRefused = errors.New("plain HTTP refused")

// Loopback reports whether host (with or without a port) is this machine.
func Loopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// CheckURL parses an endpoint URL and accepts https, or http to a loopback host.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && Loopback(u.Hostname()):
		return u, nil
	case u.Scheme == "http":
		return nil, fmt.Errorf("%w: %s (plain HTTP only for loopback hosts)", ErrRefused, raw)
	default:
		return nil, fmt.Errorf("%q: want an https URL", raw)
	}
}

// ParseReference parses an image reference for registry access; see Reference.
func ParseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return Reference(r)
}

// Reference settles how r's registry is reached: plain HTTP for a loopback registry, HTTPS for
// every other. go-containerregistry on its own would talk plain HTTP to RFC 1918 registries
// too (or to any, for a reference made with name.Insecure), and send credentials with it.
func Reference(r name.Reference) (name.Reference, error) {
	host := r.Context().RegistryStr()
	if Loopback(host) {
		return name.ParseReference(r.String(), name.Insecure)
	}
	if r.Context().Scheme() != "https" {
		return nil, fmt.Errorf("%w: registry %s would be reached over plain HTTP; only loopback registries may be", ErrRefused, host)
	}
	return r, nil
}
