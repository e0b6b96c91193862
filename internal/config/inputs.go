package config

// Input describes one action input. The same table drives action.yml's inputs (checked by a
// test), the INPUT_* lookup, and the command-line flags of a local run.
type Input struct {
	Name        string
	Default     string
	Description string
	// ActionDefault is the default written in action.yml when it differs from the Go default
	// (an expression such as ${{ github.token }} that only the runner can evaluate).
	ActionDefault string
}

// Inputs lists every input of the action, in the order action.yml shows them.
var Inputs = []Input{
	{Name: "image", Description: "Image to describe: a registry reference (by digest, or a tag resolved once), or oci-dir:PATH, oci-archive:PATH, docker-archive:PATH. Defaults to subject-name@subject-digest."},
	{Name: "subject-name", Description: "Image name the attestations are about, without tag (e.g. ghcr.io/acme/app). Defaults to the repository of image."},
	{Name: "subject-digest", Description: "Digest (sha256:...) of the image or index the attestations are about; the scanned manifest must have this digest."},
	{Name: "images", Description: "Several images to describe in one step instead of image, subject-name and subject-digest: name@sha256:digest of each (registry images; comma- or newline-separated). Each gets its own documents, attestations and signature, its files a directory of its own in output-dir, and an entry in results."},
	{Name: "subject-version", Description: "Version of the image (e.g. v1.2.3), recorded in the storage record; used with push-to-registry and create-storage-record."},
	{Name: "platforms", Default: "all", Description: "For a multi-platform index: all, or a list such as linux/amd64,linux/arm64. One SBOM per platform."},
	{Name: "max-image-bytes", Default: "32GiB", Description: "Most bytes one image's layers may expand to: a number of bytes, optionally with KiB, MiB, GiB or TiB. A platform's layers are unpacked in the temporary directory while it is scanned; reading also stops before that disk is full."},
	{Name: "max-image-entries", Default: "1000000", Description: "Most files one image's layers may hold; each costs about 4 KB of memory while the image is scanned, and one under many layers or with long names counts as more."},
	{Name: "cyclonedx-version", Default: "1.6", Description: "CycloneDX spec version of the documents: 1.5, 1.6 or 1.7."},
	{Name: "output-dir", Description: "Directory for the files written. Default: $RUNNER_TEMP/bom-attest in Actions, ./bom-attest-out locally."},
	{Name: "dry-run", Default: "auto", Description: "auto (dry run when the job has no OIDC token, as in pull requests from forks), true, or false."},
	{Name: "show-summary", Default: "true", Description: "Write a job summary."},
	{Name: "github-token", ActionDefault: "${{ github.token }}", Description: "Token for the GitHub API and for pulling from ghcr.io."},
	{Name: "patches-dir", Description: "Patch tree (<component>/<release>/NNNN-slug.patch, <component>/*.patch, quilt series) recorded as pedigree."},
	{Name: "patches-base-url", Description: "URL prefix for patch diffs; without it diffs are embedded."},
	{Name: "constraint-overrides", Description: "pip-style constraints file whose pins are recorded as constraint-override properties."},
	{Name: "unmatched-patches", Default: "error", Description: "What a patch for a component not in the image gets: error or warn."},
	{Name: "property-namespace", Default: "bom-attest", Description: "Prefix of the CycloneDX properties this action adds."},
	{Name: "model-manifest", Description: "YAML or JSON file declaring models and data sets for the ML-BOM."},
	{Name: "scan-models", Default: "true", Description: "Also find models (safetensors, GGUF, ONNX, Hugging Face) inside the image."},
	{Name: "compliance", Default: "all", Description: "Which minimum elements to fill from the image and report on (compliance.json, job summary): none, cisa (CISA 2025), bsi (BSI TR-03183-2 v2.1, CycloneDX 1.6 or later) or all."},
	{Name: "compliance-fail-under", Description: "Exit 2, after writing every file and attestation, when the compliance score (percent, 0-100) is under this."},
	{Name: "resolve-hashes", Default: "false", Description: "Look up the hash of each package's deployable form the image does not record in its registry (PyPI's JSON API, the Debian archive's Packages index). Needs the network."},
	{Name: "hash-downloads", Default: "false", Description: "With resolve-hashes, download each deployable form once to add its SHA-512 (BSI TR-03183-2 asks for it)."},
	{Name: "pypi-url", Default: "https://pypi.org", Description: "PyPI (or a mirror with its JSON API) that resolve-hashes asks."},
	{Name: "debian-archive-urls", Default: "https://deb.debian.org/debian,https://deb.debian.org/debian-security", Description: "Debian archives whose Packages indexes resolve-hashes searches (suites codename, codename-updates, codename-security)."},
	{Name: "sbom-author", Description: "Who authors the SBOM: a name, optionally with <e-mail>. Default: the repository owner."},
	{Name: "supplier-name", Description: "Who supplies the image (metadata.supplier and, from CycloneDX 1.6, metadata.manufacturer). Default: the repository owner."},
	{Name: "supplier-url", Description: "The supplier's URL. Default: the owner's page on the GitHub server."},
	{Name: "supplier-email", Description: "The supplier's contact e-mail address."},
	{Name: "vulnerability-scan", Default: "false", Description: "Match every SBOM against Grype's vulnerability database (Grype library, no second image read) and write a CycloneDX vulnerability report."},
	{Name: "grype-db-dir", Description: "Directory holding Grype's vulnerability database between runs (cache it with actions/cache). Default: .grype-db in the workspace."},
	{Name: "grype-db-url", Default: "https://grype.anchore.io/databases", Description: "Grype's database listing: a base URL (the listing is BASE/v6/latest.json) or the listing's own URL, e.g. a mirror's."},
	{Name: "grype-db-max-age", Default: "120h", Description: "Refuse a vulnerability database built longer ago than this (Go duration, e.g. 120h; Grype's default is 5 days)."},
	{Name: "fail-on-severity", Default: "none", Description: "Exit 2, after writing every file and attestation, when a finding not suppressed by VEX is at or above: none, negligible, low, medium, high or critical."},
	{Name: "only-fixed", Default: "false", Description: "fail-on-severity ignores findings without a fixed version."},
	{Name: "vex", Description: "OpenVEX or CycloneDX VEX files (paths or globs, comma- or newline-separated); not_affected and fixed statements suppress findings."},
	{Name: "attestations", Default: "sbom,mlbom,provenance,vulnerabilities", Description: "Which attestations to make, each only where it applies: sbom, mlbom, provenance, vulnerabilities."},
	{Name: "mlbom-predicate-type", Default: "https://cyclonedx.org/bom", Description: "Predicate type of the ML-BOM attestation."},
	{Name: "sigstore", Default: "auto", Description: "Sigstore instance: auto (public-good for public repositories, GitHub's otherwise), public-good or github."},
	{Name: "fulcio-url", Description: "Fulcio URL (overrides sigstore)."},
	{Name: "rekor-url", Description: "Rekor URL (overrides sigstore)."},
	{Name: "rekor-version", Default: "1", Description: "Rekor API the transparency log is written with: 1, or 2 (its entries carry no time, so a timestamp authority signs one too: on public-good both come from its signing config; with rekor-url, tsa-url is required). GitHub's instance has no log."},
	{Name: "tsa-url", Description: "RFC 3161 timestamp authority URL (overrides sigstore)."},
	{Name: "oidc-issuer", Description: "Expected issuer of the workflow's ID token. Default: https://token.actions.githubusercontent.com on github.com, <server>/_services/token on GitHub Enterprise Server."},
	{Name: "trusted-root", Description: "Sigstore trusted_root.json used to verify what was signed (overrides sigstore)."},
	{Name: "push-to-registry", Default: "false", Description: "Also push each bundle to the registry as an OCI referrer of the image."},
	{Name: "referrers-mode", Default: "auto", Description: "How referrers are stored: auto, api (OCI 1.1 referrers API) or tag (referrers tag schema)."},
	{Name: "create-storage-record", Default: "true", Description: "With push-to-registry, record where the image is stored with GitHub's artifact metadata API (organization-owned repositories; needs artifact-metadata: write). A failure is a warning."},
	{Name: "sign-image", Description: "Also sign the image digest itself, as cosign v3 does, and push the signature as a referrer (needs push-to-registry). Default: true when push-to-registry is true."},
	{Name: "kyverno-policy", Default: "none", Description: "Write a Kyverno policy admitting the image only when signed by this workflow with this run's attestations: none, image-validating (ImageValidatingPolicy, Kyverno 1.17+) or cluster-policy (ClusterPolicy)."},
	{Name: "kyverno-image-glob", Description: "Image patterns the policy applies to (Kyverno globs, e.g. ghcr.io/acme/*). Default: subject-name, with any tag or digest."},
	{Name: "kyverno-ref-pattern", Description: "Regular expression the signing workflow's ref must match in full for the policy to admit (e.g. refs/tags/v.*). Default: any ref of this workflow."},
}

// Output describes one step output.
type Output struct{ Name, Description string }

// Outputs lists every step output, in the order action.yml shows them.
var Outputs = []Output{
	{"sbom-path", "Path of the (first) SBOM file."},
	{"sbom-paths", "JSON list of SBOM paths, one per platform."},
	{"subject-digest", "Digest the attestations are about (the index's for a multi-platform image)."},
	{"component-count", "Number of components in the (first) SBOM."},
	{"dry-run", "true when nothing was signed or published."},
	{"patched-count", "Number of components with patches or constraint overrides recorded."},
	{"mlbom-path", "Path of the ML-BOM file, when models were declared or found."},
	{"model-count", "Number of models in the ML-BOM."},
	{"compliance-score", "Mean coverage, in percent, of the minimum elements reported on (the lowest platform's); see compliance.json."},
	{"bundle-path", "Path of the (first) Sigstore bundle."},
	{"bundle-paths", "JSON list of Sigstore bundle paths."},
	{"attestation-id", "ID of the (first) attestation stored by the GitHub Attestations API."},
	{"attestation-ids", "JSON list of attestation IDs."},
	{"attestation-url", "URL of the (first) attestation."},
	{"attestation-urls", "JSON list of attestation URLs."},
	{"storage-record-ids", "JSON list of the IDs of the artifact metadata storage records created (see create-storage-record)."},
	{"image-signature-bundle-path", "Path of the Sigstore bundle of the image signature (see sign-image)."},
	{"kyverno-policy-path", "Path of the Kyverno policy written (see kyverno-policy)."},
	{"vulnerability-report-path", "Path of the (first) CycloneDX vulnerability report, with vulnerability-scan."},
	{"vulnerability-report-paths", "JSON list of vulnerability report paths, one per platform."},
	{"vulnerability-counts", `Findings by severity after VEX, as JSON: {"critical":0,"high":1,"medium":0,"low":2,"negligible":0,"unknown":0}.`},
	{"vulnerability-db-built", "When the vulnerability database used was built (RFC 3339)."},
	{"results", `Every image's outputs, as a JSON object keyed by name@digest: {"ghcr.io/acme/app@sha256:…": {"sbom-paths": [...], "attestation-ids": [...], ...}}, with "error" for an image that failed. The other outputs are the first image's.`},
}
