package verify

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/report"
	"github.com/bom-attest/bom-attest/internal/sign"
)

// policyMain checks an image against the rules of a policy bom-attest wrote, with the bundles
// find fetches from the registry, and prints one line per rule.
func policyMain(ctx context.Context, policyPath, rootPath, image string, stdout, stderr io.Writer, find Finder) int {
	// Names, rules and details come from the policy file and the registry: report escapes them.
	out, errs := report.NewLog(stdout, false), report.NewLog(stderr, false)
	fail := func(format string, a ...any) int {
		errs.Infof("verify: "+format, a...)
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
			errs.Infof("verify: the policy carries its own trusted root, as Kyverno will use it; --trusted-root is not used")
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
	out.Infof("policy %s (%s %s), image %s: %d Sigstore bundles stored as referrers", policyPath, rules.Kind, rules.Name, image, len(bundles))
	failed := 0
	for _, c := range d.Checks {
		mark := "✓"
		if !c.OK {
			mark, failed = "✗", failed+1
		}
		out.Infof(mark+" %s", c.Rule)
		out.Infof("    %s", c.Detail)
	}
	if !d.Admitted {
		out.Infof("✗ refused: %d of %d rules not met", failed, len(d.Checks))
		return ExitFailed
	}
	out.Infof("✓ admitted: every rule of the policy is met")
	return ExitOK
}
