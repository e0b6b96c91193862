package verify

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/sign"
)

// policyMain checks an image against the rules of a policy bom-attest wrote, with the bundles
// find fetches from the registry, and prints one line per rule.
func policyMain(ctx context.Context, policyPath, rootPath, image string, stdout, stderr io.Writer, find Finder) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "verify: "+format+"\n", a...)
		return ExitFailed
	}
	if _, err := name.NewDigest(image); err != nil {
		return fail("%s is not IMAGE@sha256:<digest>: admission verifies what a digest names", image)
	}
	// Read as a bundle file is read (a regular file, bounded); Parse holds it to its own limit.
	raw, err := sign.ReadBundle(ctx, policyPath)
	if err != nil {
		return fail("--policy: %v", err)
	}
	rules, err := admission.Parse(raw)
	if err != nil {
		return fail("--policy %s: %v", policyPath, err)
	}
	var trusted root.TrustedMaterial
	switch {
	case rules.Trust.TrustedRoot != nil:
		if trusted, err = root.NewTrustedRootFromJSON(rules.Trust.TrustedRoot); err != nil {
			return fail("--policy %s: its trusted root: %v", policyPath, err)
		}
		if rootPath != "" {
			fmt.Fprintf(stderr, "verify: the policy carries its own trusted root, as Kyverno will use it; --trusted-root is not used\n")
		}
	case rootPath == "":
		return fail("--trusted-root is required: %s carries no trusted root (Kyverno verifies it with the trust of its TUF repository)", policyPath)
	default:
		if trusted, err = sign.ReadTrustedRoot(ctx, rootPath); err != nil {
			return fail("--trusted-root: %v", err)
		}
	}
	if ok, err := rules.Matches(image); err != nil {
		return fail("--policy %s: %v", policyPath, err)
	} else if !ok {
		return fail("%v: %s matches none of its image patterns", admission.ErrNotMatched, image)
	}
	if find == nil {
		return fail("reading referrers is not available in this build")
	}
	found, err := find.FindBundles(ctx, image)
	if err != nil {
		return fail("%s: %v", image, err)
	}
	bundles := make([]admission.Bundle, len(found))
	for i, f := range found {
		bundles[i] = admission.Bundle{Name: f.Name, JSON: f.Bundle}
	}
	d, err := admission.Evaluate(rules, image, bundles, trusted)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "policy %s (%s %s), image %s: %d Sigstore bundles stored as referrers\n", policyPath, rules.Kind, rules.Name, image, len(bundles))
	failed := 0
	for _, c := range d.Checks {
		mark := "✓"
		if !c.OK {
			mark, failed = "✗", failed+1
		}
		fmt.Fprintf(stdout, "%s %s\n    %s\n", mark, c.Rule, c.Detail)
	}
	if !d.Admitted {
		fmt.Fprintf(stdout, "✗ refused: %d of %d rules not met\n", failed, len(d.Checks))
		return ExitFailed
	}
	fmt.Fprintf(stdout, "✓ admitted: every rule of the policy is met\n")
	return ExitOK
}
