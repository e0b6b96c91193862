package sign

import (
	"errors"
	"testing"
)

func TestNewPlan(t *testing.T) {
	ref := "acme/app/.github/workflows/release.yml@refs/heads/main"
	tests := []struct {
		name string
		opts Options
		want Plan
		err  error
	}{
		{name: "auto public", opts: Options{RepositoryVisibility: "public", WorkflowRef: ref},
			want: Plan{Instance: InstancePublicGood, FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://rekor.sigstore.dev", RekorVersion: 1,
				TUFMirror: "https://tuf-repo-cdn.sigstore.dev", FromSigningConfig: true, Identity: Identity{SAN: "https://github.com/" + ref, Issuer: GitHubIssuer}}},
		{name: "auto private", opts: Options{RepositoryVisibility: "private"},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp",
				TUFMirror: "https://tuf-repo.github.com", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "auto internal", opts: Options{Instance: InstanceAuto, RepositoryVisibility: "internal"},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp",
				TUFMirror: "https://tuf-repo.github.com", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "auto unknown visibility stays private", opts: Options{},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp",
				TUFMirror: "https://tuf-repo.github.com", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "public-good for a private repo", opts: Options{Instance: InstancePublicGood, RepositoryVisibility: "private"},
			want: Plan{Instance: InstancePublicGood, FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://rekor.sigstore.dev", RekorVersion: 1,
				TUFMirror: "https://tuf-repo-cdn.sigstore.dev", FromSigningConfig: true, Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "github for a public repo", opts: Options{Instance: InstanceGitHub, RepositoryVisibility: "public"},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp",
				TUFMirror: "https://tuf-repo.github.com", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "github on ghe.com with a trusted root", opts: Options{Instance: InstanceGitHub, ServerURL: "https://octo.ghe.com/", TrustedRootPath: "/tmp/root.json", WorkflowRef: ref},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.octo.ghe.com", TSAURL: "https://timestamp.octo.ghe.com/api/v1/timestamp",
				TrustedRootPath: "/tmp/root.json", Identity: Identity{SAN: "https://octo.ghe.com/" + ref, Issuer: GitHubIssuer}}},
		{name: "github on ghe.com needs a trusted root", opts: Options{Instance: InstanceGitHub, ServerURL: "https://octo.ghe.com"}, err: ErrConfig},
		{name: "trusted root alone keeps the endpoints", opts: Options{RepositoryVisibility: "public", TrustedRootPath: "root.json"},
			want: Plan{Instance: InstancePublicGood, FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://rekor.sigstore.dev", RekorVersion: 1,
				TrustedRootPath: "root.json", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "custom with tsa base url", opts: Options{FulcioURL: "https://fulcio.corp/", TSAURL: "https://tsa.corp", TrustedRootPath: "root.json", Issuer: "https://token.corp"},
			want: Plan{Instance: InstanceCustom, FulcioURL: "https://fulcio.corp", TSAURL: "https://tsa.corp/api/v1/timestamp",
				TrustedRootPath: "root.json", Identity: Identity{Issuer: "https://token.corp"}}},
		{name: "custom with rekor and tsa path", opts: Options{FulcioURL: "http://127.0.0.1:1", RekorURL: "http://127.0.0.1:2", TSAURL: "http://127.0.0.1:3/ts", TrustedRootPath: "r"},
			want: Plan{Instance: InstanceCustom, FulcioURL: "http://127.0.0.1:1", RekorURL: "http://127.0.0.1:2", RekorVersion: 1, TSAURL: "http://127.0.0.1:3/ts",
				TrustedRootPath: "r", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "custom replaces the instance", opts: Options{Instance: InstancePublicGood, FulcioURL: "https://f", TSAURL: "https://t", TrustedRootPath: "r"},
			want: Plan{Instance: InstanceCustom, FulcioURL: "https://f", TSAURL: "https://t/api/v1/timestamp", TrustedRootPath: "r", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "rekor without fulcio", opts: Options{RekorURL: "https://r", TrustedRootPath: "r"}, err: ErrConfig},
		{name: "fulcio alone", opts: Options{FulcioURL: "https://f", TrustedRootPath: "r"}, err: ErrConfig},
		{name: "custom without trusted root", opts: Options{FulcioURL: "https://f", RekorURL: "https://r"}, err: ErrConfig},
		{name: "bad fulcio url", opts: Options{FulcioURL: "fulcio.corp", RekorURL: "https://r", TrustedRootPath: "r"}, err: ErrConfig},
		{name: "tsa url with query", opts: Options{FulcioURL: "https://f", TSAURL: "https://t?x=1", TrustedRootPath: "r"}, err: ErrConfig},
		{name: "unknown instance", opts: Options{Instance: "staging"}, err: ErrConfig},
		{name: "public-good with rekor v2", opts: Options{Instance: InstancePublicGood, RekorVersion: 2},
			want: Plan{Instance: InstancePublicGood, FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://log2025-1.rekor.sigstore.dev", RekorVersion: 2,
				TSAURL: "https://timestamp.sigstore.dev/api/v1/timestamp", TUFMirror: "https://tuf-repo-cdn.sigstore.dev", FromSigningConfig: true, Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "rekor v2 means nothing without a log", opts: Options{Instance: InstanceGitHub, RekorVersion: 2},
			want: Plan{Instance: InstanceGitHub, FulcioURL: "https://fulcio.githubapp.com", TSAURL: "https://timestamp.githubapp.com/api/v1/timestamp",
				TUFMirror: "https://tuf-repo.github.com", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "custom rekor v2 with a tsa", opts: Options{FulcioURL: "https://f", RekorURL: "https://r", TSAURL: "https://t", RekorVersion: 2, TrustedRootPath: "r"},
			want: Plan{Instance: InstanceCustom, FulcioURL: "https://f", RekorURL: "https://r", RekorVersion: 2, TSAURL: "https://t/api/v1/timestamp",
				TrustedRootPath: "r", Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "custom rekor v2 needs a tsa", opts: Options{FulcioURL: "https://f", RekorURL: "https://r", RekorVersion: 2, TrustedRootPath: "r"}, err: ErrConfig},
		{name: "rekor version 3", opts: Options{RekorVersion: 3}, err: ErrConfig},
		{name: "TUF mirror", opts: Options{Instance: InstancePublicGood, TUFMirror: "https://tuf.example/", TUFRoot: []byte("{}")},
			want: Plan{Instance: InstancePublicGood, FulcioURL: "https://fulcio.sigstore.dev", RekorURL: "https://rekor.sigstore.dev", RekorVersion: 1,
				TUFMirror: "https://tuf.example", FromSigningConfig: true, Identity: Identity{Issuer: GitHubIssuer}}},
		{name: "TUF mirror without a root", opts: Options{Instance: InstancePublicGood, TUFMirror: "https://tuf.example"}, err: ErrConfig},
		{name: "bad server url", opts: Options{ServerURL: "github.com"}, err: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewPlan(tt.opts)
			if !errors.Is(err, tt.err) {
				t.Fatalf("NewPlan() error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("NewPlan() =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestPlanServices(t *testing.T) {
	for _, tt := range []struct {
		plan Plan
		want string
	}{
		{Plan{FulcioURL: "https://f", RekorURL: "https://r", RekorVersion: 1}, "Fulcio https://f, Rekor https://r"},
		{Plan{FulcioURL: "https://f", RekorURL: "https://r2", RekorVersion: 2, TSAURL: "https://t/ts"}, "Fulcio https://f, Rekor v2 https://r2, TSA https://t/ts"},
		{Plan{FulcioURL: "https://f", TSAURL: "https://t/ts"}, "Fulcio https://f, TSA https://t/ts"},
	} {
		if got := tt.plan.Services(); got != tt.want {
			t.Errorf("Services() = %q, want %q", got, tt.want)
		}
	}
}
