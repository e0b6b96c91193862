package image_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// TestCredentialHelper pulls from a registry that demands a password, which only a Docker
// credential helper named in config.json's credHelpers knows — as docker/login-action or a
// cloud credential helper leaves things.
func TestCredentialHelper(t *testing.T) {
	reg := testserver.StartRegistry(t, testserver.WithBasicAuth("ci-bot", "s3cret-pass"))
	repo := reg.Host + "/private/app"
	img := platformImage(t, "amd64", "")
	ref, _ := name.NewTag(repo+":1", name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci-bot", Password: "s3cret-pass"})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()

	dir := t.TempDir()
	helper := filepath.Join(dir, "docker-credential-bomtest")
	script := fmt.Sprintf("#!/bin/sh\nread server\n[ \"$server\" = %q ] || exit 1\necho '{\"Username\":\"ci-bot\",\"Secret\":\"s3cret-pass\"}'\n", reg.Host)
	if err := os.WriteFile(helper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`{"credHelpers":{%q:"bomtest"}}`, reg.Host)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("without credentials", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		_, err := image.Resolve(context.Background(), image.KindRegistry, repo+"@"+d.String(), image.Options{Keychain: image.Keychain("", "")})
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != 401 {
			t.Fatalf("err = %v, want 401 from the registry", err)
		}
	})
	t.Run("credential helper", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", dir)
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		r, err := image.Resolve(context.Background(), image.KindRegistry, repo+"@"+d.String(), image.Options{Keychain: image.Keychain("ghs_unused", "")})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Subject != d {
			t.Errorf("subject = %s", r.Subject)
		}
	})
}

func TestKeychainGHCR(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	tests := []struct {
		registry, token, actor string
		want                   authn.AuthConfig
	}{
		{"ghcr.io", "ghs_abc", "octocat", authn.AuthConfig{Username: "octocat", Password: "ghs_abc"}},
		{"ghcr.io", "ghs_abc", "", authn.AuthConfig{Username: "x-access-token", Password: "ghs_abc"}},
		{"docker.io", "ghs_abc", "octocat", authn.AuthConfig{}},
		{"ghcr.io", "", "octocat", authn.AuthConfig{}},
	}
	for _, tt := range tests {
		reg, _ := name.NewRegistry(tt.registry)
		a, err := image.Keychain(tt.token, tt.actor).Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Authorization()
		if *got != tt.want {
			t.Errorf("%s token=%q: auth = %+v, want %+v (the token must only go to ghcr.io)", tt.registry, tt.token, *got, tt.want)
		}
	}
}
