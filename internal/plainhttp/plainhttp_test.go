package plainhttp

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "127.1.2.3": true, "localhost": true,
		"ghcr.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v", host, got)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw    string
		err    error
		anyErr bool
	}{
		{raw: "https://api.github.com"},
		{raw: "http://127.0.0.1:8080/x"},
		{raw: "http://localhost:1"},
		{raw: "http://api.github.com", err: ErrRefused},
		{raw: "http://192.168.1.5", err: ErrRefused},
		{raw: "ftp://x", anyErr: true},
		{raw: "https://", anyErr: true},
	}
	for _, tt := range tests {
		_, err := CheckURL(tt.raw)
		if tt.anyErr {
			if err == nil {
				t.Errorf("CheckURL(%q) accepted", tt.raw)
			}
			continue
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("CheckURL(%q) = %v, want %v", tt.raw, err, tt.err)
		}
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		ref, scheme string
		err         error
	}{
		{"127.0.0.1:5000/acme/app:1", "http", nil},
		{"localhost:5000/acme/app:1", "http", nil},
		{"ghcr.io/acme/app:1", "https", nil},
		{"10.1.2.3:5000/acme/app:1", "", ErrRefused},
	}
	for _, tt := range tests {
		r, err := ParseReference(tt.ref)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseReference(%q) = %v, want %v", tt.ref, err, tt.err)
			continue
		}
		if err == nil && r.Context().Scheme() != tt.scheme {
			t.Errorf("ParseReference(%q) scheme %s, want %s", tt.ref, r.Context().Scheme(), tt.scheme)
		}
	}
}

func TestReferenceForcedInsecure(t *testing.T) {
	r, err := name.ParseReference("registry.example.com/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reference(r); !errors.Is(err, ErrRefused) {
		t.Errorf("Reference(insecure off loopback) = %v, want %v", err, ErrRefused)
	}
}
