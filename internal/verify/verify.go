package verify

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/statement"
)

// Exit codes.
const (
	ExitOK     = 0 // every bundle verifies (or --help)
	ExitFailed = 1 // a bundle does not verify, or the command line is wrong
)

const usageText = `usage: bom-attest verify (--bundle B | --from-registry IMAGE@sha256:…) --trusted-root T
                         [--subject-digest sha256:…] (--owner O | --repo O/R)
                         [--signer-workflow W] [--cert-oidc-issuer I] [--predicate-type P] [--hostname H]
       bom-attest verify --policy kyverno-policy.yaml [--trusted-root T] IMAGE@sha256:…

Verifies Sigstore bundles against a trusted root, like gh attestation verify: one bundle file
(offline), or every bundle pushed to the registry as an OCI referrer of the image.
Exit status 0 when every bundle verifies, 1 otherwise.

With --policy, checks the image against the rules of a Kyverno policy bom-attest wrote, from the
bundles pushed as its referrers, offline, as admission will: exit status 0 when the policy admits
it. --trusted-root is needed when the policy carries no trusted root of its own (public-good, or a
ClusterPolicy, which uses the trust Kyverno was started with).
`

// Found is a bundle a Finder fetched, named for the output.
type Found struct {
	Name   string
	Bundle []byte
	// PredicateType is what the registry says the bundle attests (its referrer annotation);
	// empty when unknown. It only selects which bundles --predicate-type checks: every bundle
	// selected must still verify with that predicate type.
	PredicateType string
}

// Finder fetches the bundles stored for an image (IMAGE@sha256:…) for --from-registry, so this
// package stays free of registry code.
type Finder interface {
	FindBundles(ctx context.Context, image string) ([]Found, error)
}

// Main is the `bom-attest verify` command. It reads nothing but its flags and the two files they
// name (or, with --from-registry, what find fetches), and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, find Finder) int {
	// What a bundle or a registry says (names, identities, errors) is printed escaped by report.
	out, errs := report.NewLog(stdout, false), report.NewLog(stderr, false)
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	bundlePath := fs.String("bundle", "", "Sigstore bundle (`file`.sigstore.json)")
	fromRegistry := fs.String("from-registry", "", "verify the bundles pushed as referrers of `IMAGE@sha256:…`")
	rootPath := fs.String("trusted-root", "", "trusted_root.json of the Sigstore instance that signed")
	digest := fs.String("subject-digest", "", "digest the statement must be about (sha256:…)")
	owner := fs.String("owner", "", "GitHub owner whose repository must have signed")
	repo := fs.String("repo", "", "GitHub repository (owner/name) that must have signed")
	signer := fs.String("signer-workflow", "", "workflow that must have signed (owner/repo/.github/workflows/f.yml[@ref])")
	issuer := fs.String("cert-oidc-issuer", sign.GitHubIssuer, "OIDC issuer of the signing certificate")
	predicateType := fs.String("predicate-type", "", "predicate type the statement must have")
	hostname := fs.String("hostname", "github.com", "GitHub host of the identities")
	policyPath := fs.String("policy", "", "Kyverno policy bom-attest wrote (`kyverno-policy.yaml`): check IMAGE@sha256:… against it")
	// Flags may follow the image, as in `verify --policy p.yaml IMAGE --trusted-root t.json`.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return ExitFailed
		}
		if fs.NArg() == 0 {
			break
		}
		positional, args = append(positional, fs.Arg(0)), fs.Args()[1:]
	}
	usage := func(format string, a ...any) int {
		errs.Infof("verify: "+format, a...)
		fmt.Fprintln(stderr)
		fs.Usage()
		return ExitFailed
	}
	if *policyPath != "" {
		var other []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "policy" && f.Name != "trusted-root" {
				other = append(other, "--"+f.Name)
			}
		})
		switch {
		case len(other) > 0:
			return usage("--policy takes only --trusted-root, not %s", strings.Join(other, " "))
		case len(positional) != 1:
			return usage("--policy checks one image: give IMAGE@sha256:…")
		}
		return policyMain(ctx, *policyPath, *rootPath, positional[0], stdout, stderr, find)
	}
	switch {
	case len(positional) > 0:
		return usage("unexpected argument %q", positional[0])
	case (*bundlePath == "") == (*fromRegistry == ""):
		return usage("give exactly one of --bundle and --from-registry")
	case *rootPath == "":
		return usage("--trusted-root is required (verification is offline)")
	case *fromRegistry != "" && *digest == "":
		_, d, ok := strings.Cut(*fromRegistry, "@")
		if !ok {
			return usage("--from-registry %q needs a digest (IMAGE@sha256:…)", *fromRegistry)
		}
		*digest = d
	case *digest == "":
		return usage("--subject-digest is required")
	case (*owner == "") == (*repo == ""):
		return usage("give exactly one of --owner and --repo")
	}

	p, err := verifyPolicy(*hostname, *owner, *repo, *signer, *issuer, *digest, *predicateType)
	if err != nil {
		return usage("%v", err)
	}
	trusted, err := sign.ReadTrustedRoot(ctx, *rootPath)
	if err != nil {
		errs.Infof("verify: --trusted-root: %v", err)
		return ExitFailed
	}
	var bundles []Found
	if *bundlePath != "" {
		data, err := sign.ReadBundle(ctx, *bundlePath)
		if err != nil {
			errs.Infof("verify: --bundle: %v", err)
			return ExitFailed
		}
		bundles = []Found{{Name: *bundlePath, Bundle: data}}
	} else {
		if find == nil {
			errs.Infof("verify: --from-registry is not available in this build")
			return ExitFailed
		}
		bundles, err = find.FindBundles(ctx, *fromRegistry)
		if err != nil {
			errs.Infof("verify: --from-registry: %v", err)
			return ExitFailed
		}
		if len(bundles) == 0 {
			errs.Infof("✗ no Sigstore bundles are stored as referrers of %s", *fromRegistry)
			return ExitFailed
		}
		if *predicateType != "" {
			// An image carries referrers of several kinds (SBOM, provenance, vulnerabilities,
			// its signature); --predicate-type asks about one of them.
			var of []Found
			for _, b := range bundles {
				if b.PredicateType == "" || b.PredicateType == *predicateType {
					of = append(of, b)
				}
			}
			if len(of) == 0 {
				errs.Infof("✗ none of the %d Sigstore bundles stored as referrers of %s is of predicate type %s", len(bundles), *fromRegistry, *predicateType)
				return ExitFailed
			}
			bundles = of
		}
	}
	code := ExitOK
	for _, b := range bundles {
		res, err := sign.Verify(b.Bundle, trusted, p)
		if err != nil {
			errs.Infof("✗ %s does not verify", b.Name)
			errs.Infof("  %v", err)
			code = ExitFailed
			continue
		}
		out.Infof("✓ %s verified", b.Name)
		for _, r := range res.Summary() {
			out.Infof(fmt.Sprintf("  %-16s ", r[0])+"%s", r[1])
		}
	}
	return code
}

// verifyPolicy builds the policy gh attestation verify would: the SAN must be a workflow of
// the owner or repository (or exactly the signer workflow), and the certificate's source
// repository must match.
func verifyPolicy(host, owner, repo, signer, issuer, digest, predicateType string) (sign.Policy, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "https://"), "/")
	if host == "" || strings.ContainsAny(host, "/ ") {
		return sign.Policy{}, fmt.Errorf("--hostname %q is not a host name", host)
	}
	base := "https://" + host
	p := sign.Policy{SubjectDigest: digest, Issuer: issuer, PredicateType: predicateType}
	if _, err := statement.ParseDigest(digest); err != nil {
		return sign.Policy{}, fmt.Errorf("--subject-digest: %q is not sha256:<64 hex digits>", digest)
	}
	if repo != "" {
		o, r, ok := strings.Cut(repo, "/")
		if !ok || o == "" || r == "" || strings.Contains(r, "/") {
			return sign.Policy{}, fmt.Errorf("--repo %q is not owner/name", repo)
		}
		owner = o
		p.RepositoryURI = base + "/" + repo
		p.SANRegex = "(?i)^" + regexp.QuoteMeta(p.RepositoryURI+"/")
	} else {
		if strings.Contains(owner, "/") {
			return sign.Policy{}, fmt.Errorf("--owner %q is an owner, not a repository (use --repo)", owner)
		}
		p.SANRegex = "(?i)^" + regexp.QuoteMeta(base+"/"+owner+"/")
	}
	p.OwnerURI = base + "/" + owner
	if signer != "" {
		w := signer
		if !strings.Contains(w, "://") {
			w = base + "/" + strings.TrimPrefix(strings.TrimPrefix(w, host+"/"), "/")
		}
		if strings.Contains(w, "@") {
			p.SAN, p.SANRegex = w, ""
		} else {
			p.SANRegex = "^" + regexp.QuoteMeta(w) + "@"
		}
	}
	return p, nil
}
