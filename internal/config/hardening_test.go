package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// trustedRootJSON makes a small, real Sigstore trusted root: one self-signed Fulcio CA.
func trustedRootJSON(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: ca, ValidityPeriodStart: now.Add(-time.Hour), URI: "https://fulcio.example"}},
		nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadWithin runs Load and fails the test if it takes longer than a FIFO or a device could
// make it block.
func loadWithin(t *testing.T, kv map[string]string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(nil, env(kv), io.Discard)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocked")
		return nil
	}
}

// TestHostileInputs holds the inputs a careless or hostile workflow can give: endpoints in
// clear, files that are not files, values out of range, references in another tool's spelling.
func TestHostileInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	goodRoot := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(goodRoot, trustedRootJSON(t), 0o644)
	notRoot := filepath.Join(dir, "not-root.json")
	os.WriteFile(notRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","certificateAuthorities":"x"}`), 0o644)
	hugeRoot := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(hugeRoot, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(hugeRoot, maxTrustedRoot+1) // sparse: no disk, all zeros
	file := filepath.Join(dir, "f.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	const img = "ghcr.io/acme/app@" + digest

	tests := []struct {
		name  string
		input map[string]string // INPUT_* names without the prefix
		env   map[string]string
		want  string // the input named, "" for no error
		says  string // part of the message
		err   error
	}{
		{"fulcio in clear", map[string]string{"FULCIO-URL": "http://fulcio.example"}, nil, "fulcio-url", "plain HTTP", ErrInvalid},
		{"rekor in clear", map[string]string{"REKOR-URL": "http://10.0.0.1/"}, nil, "rekor-url", "plain HTTP", ErrInvalid},
		{"tsa in clear", map[string]string{"TSA-URL": "http://tsa.example/api/v1/timestamp"}, nil, "tsa-url", "plain HTTP", ErrInvalid},
		{"issuer in clear", map[string]string{"OIDC-ISSUER": "http://token.example"}, nil, "oidc-issuer", "plain HTTP", ErrInvalid},
		{"issuer not a url", map[string]string{"OIDC-ISSUER": "token.example"}, nil, "oidc-issuer", "no host", ErrInvalid},
		{"fulcio on loopback", map[string]string{"FULCIO-URL": "http://127.0.0.1:5555", "REKOR-URL": "http://localhost:1", "TSA-URL": "http://[::1]:2/t", "OIDC-ISSUER": "https://token.example"}, nil, "", "", nil},
		{"base url is only a url", map[string]string{"PATCHES-DIR": dir, "PATCHES-BASE-URL": "http://patches.example/p"}, nil, "", "", nil},

		{"manifest is a fifo", map[string]string{"MODEL-MANIFEST": fifo}, nil, "model-manifest", "is a named pipe", ErrInvalid},
		{"manifest is a device", map[string]string{"MODEL-MANIFEST": "/dev/zero"}, nil, "model-manifest", "is a device", ErrInvalid},
		{"constraints are a fifo", map[string]string{"CONSTRAINT-OVERRIDES": fifo}, nil, "constraint-overrides", "is a named pipe", ErrInvalid},
		{"constraints are a dir", map[string]string{"CONSTRAINT-OVERRIDES": dir}, nil, "constraint-overrides", "is a directory", ErrInvalid},
		{"trusted root is a fifo", map[string]string{"TRUSTED-ROOT": fifo}, nil, "trusted-root", "is a named pipe", ErrInvalid},
		{"trusted root is a device", map[string]string{"TRUSTED-ROOT": "/dev/zero"}, nil, "trusted-root", "is a device", ErrInvalid},
		{"trusted root is not one", map[string]string{"TRUSTED-ROOT": notRoot}, nil, "trusted-root", "is not a Sigstore trusted root", ErrInvalid},
		{"trusted root is text", map[string]string{"TRUSTED-ROOT": file}, nil, "trusted-root", "is not a Sigstore trusted root", ErrInvalid},
		{"trusted root too large", map[string]string{"TRUSTED-ROOT": hugeRoot}, nil, "trusted-root", "larger than", ErrInvalid},
		{"trusted root in a dry run", map[string]string{"TRUSTED-ROOT": notRoot, "DRY-RUN": "true"}, nil, "trusted-root", "not a Sigstore trusted root", ErrInvalid},
		{"trusted root good", map[string]string{"TRUSTED-ROOT": goodRoot}, nil, "", "", nil},
		{"patches-dir is a fifo", map[string]string{"PATCHES-DIR": fifo}, nil, "patches-dir", "is a named pipe, want a directory", ErrInvalid},
		{"oci-archive is a fifo", map[string]string{"IMAGE": "oci-archive:" + fifo}, nil, "image", "is a named pipe", ErrInvalid},
		{"docker-archive is a device", map[string]string{"IMAGE": "docker-archive:/dev/zero"}, nil, "image", "is a device", ErrInvalid},
		{"oci-dir is a fifo", map[string]string{"IMAGE": "oci-dir:" + fifo}, nil, "image", "want a directory", ErrInvalid},

		{"epoch negative", nil, map[string]string{"SOURCE_DATE_EPOCH": "-1"}, "SOURCE_DATE_EPOCH", "whole seconds", ErrInvalid},
		{"epoch past 9999", nil, map[string]string{"SOURCE_DATE_EPOCH": "253402300800"}, "SOURCE_DATE_EPOCH", "year 9999", ErrInvalid},
		{"epoch huge", nil, map[string]string{"SOURCE_DATE_EPOCH": "99999999999999999999"}, "SOURCE_DATE_EPOCH", "whole seconds", ErrInvalid},
		{"epoch float", nil, map[string]string{"SOURCE_DATE_EPOCH": "1.5e9"}, "SOURCE_DATE_EPOCH", "whole seconds", ErrInvalid},
		{"epoch last second", nil, map[string]string{"SOURCE_DATE_EPOCH": "253402300799"}, "", "", nil},

		{"docker scheme", map[string]string{"IMAGE": "docker://ghcr.io/a/b@" + digest}, nil, "image", `did you mean "ghcr.io/a/b@` + digest + `"`, ErrInvalid},
		{"https scheme", map[string]string{"IMAGE": "https://ghcr.io/a/b:1"}, nil, "image", `did you mean "ghcr.io/a/b:1"`, ErrInvalid},
		{"skopeo oci", map[string]string{"IMAGE": "oci:" + dir}, nil, "image", `did you mean "oci-dir:` + dir + `"`, ErrInvalid},
		{"oci-layout", map[string]string{"IMAGE": "oci-layout:./l"}, nil, "image", `did you mean "oci-dir:./l"`, ErrInvalid},
		{"docker daemon", map[string]string{"IMAGE": "docker-daemon:app:1"}, nil, "image", "docker save app:1", ErrInvalid},
		{"containers storage", map[string]string{"IMAGE": "containers-storage:app"}, nil, "image", "transport is not supported", ErrInvalid},
		{"registry host named oci", map[string]string{"IMAGE": "oci:5000/a/b@" + digest}, nil, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{"INPUT_IMAGE": img}
			for k, v := range tt.input {
				kv["INPUT_"+k] = v
			}
			for k, v := range tt.env {
				kv[k] = v
			}
			err := loadWithin(t, kv)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil {
				return
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Input != tt.want {
				t.Fatalf("errors %q, want one naming %s", err, tt.want)
			}
			if !strings.Contains(errs[0].Error(), tt.says) {
				t.Errorf("error %q does not say %q", errs[0], tt.says)
			}
		})
	}
}

// TestFieldErrorKeepsWords checks that a field error hands the log its own words and the
// quoted value apart, so the value can be escaped and the words (line breaks included) kept.
func TestFieldErrorKeepsWords(t *testing.T) {
	bad := "ghcr.io/a\n::warning::x"
	_, err := Load(nil, env(map[string]string{"INPUT_IMAGE": bad, "INPUT_DRY-RUN": "false", "INPUT_GITHUB-TOKEN": "t"}), io.Discard)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("err = %v", err)
	}
	for _, fe := range errs {
		if strings.Contains(fe.Format, "::warning::") {
			t.Errorf("%s: the value got into the format %q", fe.Input, fe.Format)
		}
	}
	if dry := errs[1]; dry.Input != "dry-run" || !strings.Contains(dry.Format, "\n  id-token: write") || len(dry.Args) != 0 {
		t.Errorf("the permissions block is not part of the format: %#v", dry)
	}
}

func TestEventPayload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := write("huge.json", `{"repository":{"visibility":"public"}}`)
	os.Truncate(huge, maxEventPayload+1)
	tests := []struct {
		name, path, want string
	}{
		{"public", write("public.json", `{"repository":{"visibility":"public"}}`), "public"},
		{"internal", write("internal.json", `{"repository":{"visibility":"internal"}}`), "internal"},
		{"older server", write("ghes.json", `{"repository":{"private":false}}`), "public"},
		{"private flag", write("private.json", `{"repository":{"private":true}}`), ""},
		{"unknown word", write("word.json", `{"repository":{"visibility":"public\n::warning::x"}}`), ""},
		{"not json", write("bad.json", `{"repository":`), ""},
		{"too large", huge, ""},
		{"named pipe", fifo, ""},
		{"device", "/dev/zero", ""},
		{"directory", dir, ""},
		{"missing", filepath.Join(dir, "none.json"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan string, 1)
			go func() { done <- eventVisibility(tt.path) }()
			select {
			case got := <-done:
				if got != tt.want {
					t.Errorf("visibility = %q, want %q", got, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("reading the event payload blocked")
			}
		})
	}
}

func FuzzEventPayload(f *testing.F) {
	for _, s := range []string{
		`{"repository":{"visibility":"public"}}`,
		`{"repository":{"visibility":"private","private":true}}`,
		`{"repository":{"private":false}}`,
		`{"repository":{"visibility":null,"private":"false"}}`,
		`{"repository":[{"visibility":"public"}]}`,
		`{"repository":{"visibility":"PUBLIC"}}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]`,
		`{"repository":{"visibility":"\u0070ublic"}}`,
		"\xef\xbb\xbf{}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		switch v := visibility(payload); v {
		case "", "public", "private", "internal":
		default:
			t.Fatalf("visibility %q from %q", v, payload)
		}
	})
}
