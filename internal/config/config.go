package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/admission"
	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/pedigree"
	"github.com/bom-attest/bom-attest/internal/plainhttp"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/vulns"
)

// ErrInvalid is wrapped by every input error, so callers can tell "the user must fix an input"
// (exit 1) from a failure further on.
var ErrInvalid = errors.New("invalid input")

// ErrHelp is returned when the command line asked for usage.
var ErrHelp = flag.ErrHelp

// Config is everything a run needs, validated.
type Config struct {
	// Images are the images to describe, in input order: the one of image (or subject-name and
	// subject-digest), or each line of images. ImageKind, ImageRef, SubjectName and
	// SubjectDigest are the first's, which is the only one unless images lists several.
	Images        []Image
	ImageKind     image.Kind
	ImageRef      string // registry reference, or the path for local kinds
	SubjectName   string // lowercased, no tag or digest; may be empty for local images
	SubjectDigest string // sha256:<hex> or empty
	Platforms     []string
	ImageLimits   image.Limits
	SpecVersion   cyclonedx.SpecVersion
	OutputDir     string
	DryRun        bool
	DryRunReason  string
	ShowSummary   bool
	GitHubToken   string

	PatchesDir          string
	PatchesBaseURL      string
	ConstraintOverrides string
	UnmatchedPatches    pedigree.Unmatched
	PropertyNamespace   string

	ModelManifest string
	ScanModels    bool

	VulnerabilityScan bool
	GrypeDBDir        string
	GrypeDBURL        string
	GrypeDBMaxAge     time.Duration
	FailOnSeverity    vulns.Severity // Grype's unknown severity: no gate
	OnlyFixed         bool
	VEX               []string // files, globs expanded
	// Compliance lists the standards whose minimum elements are filled and reported on; nil
	// for none. ComplianceFailUnder is the gate's threshold in percent, negative for no gate.
	Compliance          []check.Standard
	ComplianceFailUnder float64
	ResolveHashes       bool
	HashDownloads       bool
	PyPIURL             string
	DebianArchiveURLs   []string
	// SBOMAuthor and Supplier* describe who makes the SBOM and supplies the image; the
	// defaults come from the repository (owner, server URL).
	SBOMAuthor    string
	SupplierName  string
	SupplierURL   string
	SupplierEmail string

	Attestations       []string
	MLBOMPredicateType string
	Sigstore           sign.Instance
	FulcioURL          string
	RekorURL           string
	RekorVersion       int // 1 or 2
	TSAURL             string
	TrustedRoot        string
	OIDCIssuer         string
	PushToRegistry     bool
	ReferrersMode      store.ReferrersMode
	// CreateStorageRecord: after pushing referrers, record where the image is stored (GitHub's
	// artifact metadata); SubjectVersion is the version recorded, "" for none.
	CreateStorageRecord bool
	SubjectVersion      string
	// SignImage: sign the image digest itself and push the signature as a referrer.
	SignImage bool
	// KyvernoPolicy is the kind of admission policy written; KyvernoImageGlobs replace the
	// image patterns derived from subject-name, KyvernoRefPattern narrows the signer's ref.
	KyvernoPolicy     admission.Kind
	KyvernoImageGlobs []string
	KyvernoRefPattern string

	// SourceDateEpoch fixes the documents' timestamp and has their serial numbers derived from
	// their content (reproducible builds); zero means now, and random serial numbers.
	SourceDateEpoch time.Time

	GitHub GitHub
}

// Image is one image to describe: where it is read from and the subject its attestations name.
type Image struct {
	Kind   image.Kind
	Ref    string // registry reference, or the path for local kinds
	Name   string // lowercased, no tag or digest; may be empty for local images
	Digest string // sha256:<hex> or empty
}

// Reference is the image as the user gave it: the registry reference, or kind:path.
func (i Image) Reference() string {
	if i.Kind == image.KindRegistry {
		return i.Ref
	}
	return string(i.Kind) + ":" + i.Ref
}

// GitHub is the part of the runner's environment bom-attest uses.
type GitHub struct {
	Actions       bool   // GITHUB_ACTIONS=true
	OutputPath    string // GITHUB_OUTPUT
	SummaryPath   string // GITHUB_STEP_SUMMARY
	Workspace     string // GITHUB_WORKSPACE
	RunnerTemp    string // RUNNER_TEMP
	ServerURL     string // GITHUB_SERVER_URL
	APIURL        string // GITHUB_API_URL
	Repository    string // GITHUB_REPOSITORY (owner/name)
	WorkflowRef   string // GITHUB_WORKFLOW_REF
	Actor         string // GITHUB_ACTOR
	Visibility    string // repository.visibility from the event payload: public, private, internal or ""
	IDTokenURL    string // ACTIONS_ID_TOKEN_REQUEST_URL
	IDTokenSecret string // ACTIONS_ID_TOKEN_REQUEST_TOKEN; a secret
}

// PermissionsBlock is what a job needs for keyless signing and publishing.
const PermissionsBlock = `permissions:
  contents: read
  id-token: write       # OIDC token for keyless signing
  attestations: write   # GitHub Attestations API
  packages: write       # only with push-to-registry: true on ghcr.io
  artifact-metadata: write  # only with push-to-registry: storage records`

// FieldError is one bad input. Its message is kept as a format, the action's own words, and
// the values it quotes, which come from the input or the file system, so a log can escape the
// values and keep the words (and their line breaks) as they are.
type FieldError struct {
	Input  string
	Format string
	Args   []any
}

func (e FieldError) Error() string { return e.Input + ": " + fmt.Sprintf(e.Format, e.Args...) }

// Errors collects every bad input so the user fixes them in one go.
type Errors []FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e Errors) Unwrap() error { return ErrInvalid }

// Getenv looks up one environment variable.
type Getenv func(string) string

// envName is the variable the runner sets for an input: INPUT_ + upper case, hyphens kept.
func envName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

// Load reads inputs from the environment, lets flags in args override them (for local runs),
// and validates the result. usage receives the flag help text.
func Load(args []string, getenv Getenv, usage io.Writer) (*Config, error) {
	raw := map[string]string{}
	for _, in := range Inputs {
		raw[in.Name] = strings.TrimSpace(getenv(envName(in.Name)))
	}
	fs := flag.NewFlagSet("bom-attest", flag.ContinueOnError)
	fs.SetOutput(usage)
	flagVals := map[string]*string{}
	for _, in := range Inputs {
		flagVals[in.Name] = fs.String(in.Name, "", in.Description+defaultNote(in))
	}
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: bom-attest [--input value ...]\n       bom-attest verify --help\n\nEvery action input is also a flag:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q (inputs are given as --name value)", ErrInvalid, fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { raw[f.Name] = strings.TrimSpace(*flagVals[f.Name]) })
	for _, in := range Inputs {
		if raw[in.Name] == "" {
			raw[in.Name] = in.Default
		}
	}
	return build(raw, readGitHub(getenv), getenv("SOURCE_DATE_EPOCH"))
}

func defaultNote(in Input) string {
	if in.Default == "" {
		return ""
	}
	return " (default " + in.Default + ")"
}

// maxSourceDateEpoch is 9999-12-31T23:59:59Z: RFC 3339 timestamps, as CycloneDX writes
// them, have four-digit years.
const maxSourceDateEpoch = 253402300799

var (
	digestRE    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	platformRE  = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
	namespaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

type validator struct{ errs Errors }

func (v *validator) add(input, format string, a ...any) {
	v.errs = append(v.errs, FieldError{Input: input, Format: format, Args: a})
}

// failed reports whether input has been reported already.
func (v *validator) failed(input string) bool {
	for _, e := range v.errs {
		if e.Input == input {
			return true
		}
	}
	return false
}

func (v *validator) boolean(raw map[string]string, input string) bool {
	switch raw[input] {
	case "true":
		return true
	case "false":
		return false
	}
	v.add(input, "must be true or false, got %q", raw[input])
	return false
}

func (v *validator) oneOf(raw map[string]string, input string, allowed ...string) string {
	for _, a := range allowed {
		if raw[input] == a {
			return a
		}
	}
	v.add(input, "must be one of %s, got %q", strings.Join(allowed, ", "), raw[input])
	return ""
}

func (v *validator) httpURL(raw map[string]string, input string) string {
	s := raw[input]
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.add(input, "must be an http(s) URL, got %q", s)
		return ""
	}
	return strings.TrimSuffix(s, "/")
}

var bytesRE = regexp.MustCompile(`^([0-9]{1,16}) ?(|B|KiB|MiB|GiB|TiB)$`)

// bytes parses a positive byte count such as 32GiB or 500MiB.
func (v *validator) bytes(raw map[string]string, input string) int64 {
	m := bytesRE.FindStringSubmatch(raw[input])
	if m != nil {
		shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 && n <= (1<<62)>>shift {
			return n << shift
		}
	}
	v.add(input, "must be a positive number of bytes, optionally with KiB, MiB, GiB or TiB (e.g. 32GiB), got %q", raw[input])
	return 0
}

// count parses a positive whole number of at most a trillion.
func (v *validator) count(raw map[string]string, input string) int64 {
	n, err := strconv.ParseInt(raw[input], 10, 64)
	if err != nil || n <= 0 || n > 1e12 {
		v.add(input, "must be a positive whole number, got %q", raw[input])
		return 0
	}
	return n
}

// endpoint checks a URL the workflow's ID token or signed material is sent to: HTTPS, or
// plain HTTP only to a loopback host (a test's or the job's own service).
func (v *validator) endpoint(raw map[string]string, input string) string {
	s := raw[input]
	if s == "" {
		return ""
	}
	if _, err := plainhttp.CheckURL(s); err != nil {
		v.add(input, "%v", err)
		return ""
	}
	return strings.TrimSuffix(s, "/")
}

// List splits a comma- or newline-separated input, dropping blanks.
func List(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func build(raw map[string]string, gh GitHub, sourceDateEpoch string) (*Config, error) {
	v := &validator{}
	c := &Config{GitHub: gh, GitHubToken: raw["github-token"]}

	c.SubjectDigest = raw["subject-digest"]
	if c.SubjectDigest != "" && !digestRE.MatchString(c.SubjectDigest) {
		v.add("subject-digest", "must be sha256: followed by 64 lowercase hex digits, got %q", c.SubjectDigest)
		c.SubjectDigest = ""
	}
	c.SubjectName = strings.ToLower(raw["subject-name"])
	if c.SubjectName != "" {
		if _, err := name.NewRepository(c.SubjectName); err != nil {
			v.add("subject-name", "must be an image name such as ghcr.io/acme/app (no tag, no digest): %v", err)
		}
	}
	if raw["images"] != "" {
		v.images(c, raw)
	} else {
		v.image(c, raw["image"])
		c.Images = []Image{{Kind: c.ImageKind, Ref: c.ImageRef, Name: c.SubjectName, Digest: c.SubjectDigest}}
	}

	c.Platforms = nil
	if p := raw["platforms"]; p != "all" {
		c.Platforms = List(p)
		if len(c.Platforms) == 0 {
			v.add("platforms", "must be all or a list such as linux/amd64,linux/arm64")
		}
		seen := map[string]bool{}
		for _, pl := range c.Platforms {
			if !platformRE.MatchString(pl) {
				v.add("platforms", "%q is not os/arch[/variant] (e.g. linux/arm64/v8)", pl)
			}
			if seen[pl] {
				v.add("platforms", "%q is listed twice", pl)
			}
			seen[pl] = true
		}
	}
	c.ImageLimits = image.Limits{MaxBytes: v.bytes(raw, "max-image-bytes"), MaxEntries: v.count(raw, "max-image-entries")}
	switch v.oneOf(raw, "cyclonedx-version", "1.5", "1.6", "1.7") {
	case "1.5":
		c.SpecVersion = cyclonedx.SpecVersion1_5
	case "1.6":
		c.SpecVersion = cyclonedx.SpecVersion1_6
	case "1.7":
		c.SpecVersion = cyclonedx.SpecVersion1_7
	}
	c.ShowSummary = v.boolean(raw, "show-summary")
	c.ScanModels = v.boolean(raw, "scan-models")
	c.PushToRegistry = v.boolean(raw, "push-to-registry")
	c.CreateStorageRecord = v.boolean(raw, "create-storage-record")
	c.SubjectVersion = raw["subject-version"]
	if len(c.SubjectVersion) > 255 || strings.IndexFunc(c.SubjectVersion, unicode.IsControl) >= 0 {
		v.add("subject-version", "must be one line of at most 255 characters, got %q", c.SubjectVersion)
	}
	c.UnmatchedPatches = pedigree.Unmatched(v.oneOf(raw, "unmatched-patches", string(pedigree.UnmatchedError), string(pedigree.UnmatchedWarn)))
	c.Sigstore = sign.Instance(v.oneOf(raw, "sigstore", string(sign.InstanceAuto), string(sign.InstancePublicGood), string(sign.InstanceGitHub)))
	c.ReferrersMode = store.ReferrersMode(v.oneOf(raw, "referrers-mode", string(store.ModeAuto), string(store.ModeAPI), string(store.ModeTag)))

	c.PropertyNamespace = raw["property-namespace"]
	if !namespaceRE.MatchString(c.PropertyNamespace) {
		v.add("property-namespace", "must be letters, digits, '.', '_' or '-' (e.g. bom-attest), got %q", c.PropertyNamespace)
	}
	c.PatchesDir = v.directory(raw, "patches-dir")
	c.ConstraintOverrides = v.regularFile(raw, "constraint-overrides")
	c.ModelManifest = v.regularFile(raw, "model-manifest")
	c.TrustedRoot = v.trustedRoot(raw)
	c.PatchesBaseURL = v.httpURL(raw, "patches-base-url")
	if c.PatchesBaseURL != "" {
		c.PatchesBaseURL += "/"
		if raw["patches-dir"] == "" {
			v.add("patches-base-url", "is set but patches-dir is not")
		}
	}
	c.FulcioURL = v.endpoint(raw, "fulcio-url")
	c.RekorURL = v.endpoint(raw, "rekor-url")
	c.TSAURL = v.endpoint(raw, "tsa-url")
	c.RekorVersion, _ = strconv.Atoi(v.oneOf(raw, "rekor-version", "1", "2"))
	c.OIDCIssuer = v.endpoint(raw, "oidc-issuer")
	if c.OIDCIssuer == "" {
		c.OIDCIssuer = defaultIssuer(gh.ServerURL)
	}

	v.compliance(c, raw, gh)

	c.MLBOMPredicateType = raw["mlbom-predicate-type"]
	if u, err := url.Parse(c.MLBOMPredicateType); err != nil || u.Scheme == "" || u.Host == "" {
		v.add("mlbom-predicate-type", "must be an absolute URI such as https://cyclonedx.org/bom, got %q", c.MLBOMPredicateType)
	}
	c.Attestations = List(raw["attestations"])
	if len(c.Attestations) == 0 {
		v.add("attestations", "must list at least one of sbom, mlbom, provenance, vulnerabilities")
	}
	for _, a := range c.Attestations {
		if a != "sbom" && a != "mlbom" && a != "provenance" && a != "vulnerabilities" {
			v.add("attestations", "%q is not one of sbom, mlbom, provenance, vulnerabilities", a)
		}
	}
	v.vulnerabilities(c, raw, gh)
	if c.PushToRegistry && c.ImageKind != "" && c.ImageKind != image.KindRegistry {
		v.add("push-to-registry", "needs a registry image; image is a local %s", c.ImageKind)
	}
	v.admission(c, raw)

	c.OutputDir = raw["output-dir"]
	if c.OutputDir == "" {
		c.OutputDir = defaultOutputDir(gh)
	}
	if st, err := os.Stat(c.OutputDir); err == nil && !st.IsDir() {
		v.add("output-dir", "%s exists and is not a directory", c.OutputDir)
	}

	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || sec < 0 || sec > maxSourceDateEpoch {
			v.add("SOURCE_DATE_EPOCH", "must be whole seconds since 1970 up to %d (the end of year 9999), got %q", int64(maxSourceDateEpoch), sourceDateEpoch)
		} else {
			c.SourceDateEpoch = time.Unix(sec, 0).UTC()
		}
	}

	dryRun := v.oneOf(raw, "dry-run", "auto", "true", "false")
	switch dryRun {
	case "true":
		c.DryRun, c.DryRunReason = true, "the dry-run input is true"
	case "auto":
		if gh.IDTokenURL == "" {
			c.DryRun = true
			c.DryRunReason = "no OIDC token in this job (ACTIONS_ID_TOKEN_REQUEST_URL is unset: a pull request from a fork, or a job without `id-token: write`)"
		}
	case "false":
		if gh.IDTokenURL == "" {
			v.add("dry-run", "is false but this job has no OIDC token to sign with; give the job\n"+PermissionsBlock)
		}
	}
	if dryRun != "" && !c.DryRun && c.GitHubToken == "" {
		v.add("github-token", "empty; the GitHub Attestations API needs it (the default is ${{ github.token }})")
	}

	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool { return inputIndex(v.errs[i].Input) < inputIndex(v.errs[j].Input) })
		return nil, v.errs
	}
	return c, nil
}

// vulnerabilities reads the scan's inputs. The gate and VEX inputs without the scan are errors:
// a fail-on-severity that silently gates nothing is worse than none.
func (v *validator) vulnerabilities(c *Config, raw map[string]string, gh GitHub) {
	c.VulnerabilityScan = v.boolean(raw, "vulnerability-scan")
	c.OnlyFixed = v.boolean(raw, "only-fixed")
	c.GrypeDBURL = v.httpURL(raw, "grype-db-url")
	if raw["grype-db-url"] == "" {
		v.add("grype-db-url", "must not be empty (the default is Grype's own, https://grype.anchore.io/databases)")
	}
	if d, err := time.ParseDuration(raw["grype-db-max-age"]); err != nil || d <= 0 {
		v.add("grype-db-max-age", "must be a positive duration such as 120h (5 days), got %q", raw["grype-db-max-age"])
	} else {
		c.GrypeDBMaxAge = d
	}
	sev, err := vulns.ParseFailOn(raw["fail-on-severity"])
	if err != nil {
		v.add("fail-on-severity", "%v", err)
	}
	c.FailOnSeverity = sev
	c.GrypeDBDir = raw["grype-db-dir"]
	if c.GrypeDBDir == "" {
		// The workspace: mounted into container actions on every runner, and where
		// actions/cache finds a relative path.
		c.GrypeDBDir = ".grype-db"
		if gh.Actions && gh.Workspace != "" {
			c.GrypeDBDir = filepath.Join(gh.Workspace, ".grype-db")
		}
	}
	if st, err := os.Stat(c.GrypeDBDir); err == nil && !st.IsDir() && c.VulnerabilityScan {
		v.add("grype-db-dir", "%s exists and is not a directory", c.GrypeDBDir)
	}
	for _, pattern := range List(raw["vex"]) {
		if !strings.ContainsAny(pattern, "*?[") {
			v.checkRegular("vex", "", pattern)
			c.VEX = append(c.VEX, pattern)
			continue
		}
		matches, err := filepath.Glob(pattern)
		switch {
		case err != nil:
			v.add("vex", "%q is not a valid glob: %v", pattern, err)
		case len(matches) == 0:
			v.add("vex", "%q matches no file", pattern)
		}
		c.VEX = append(c.VEX, matches...)
	}
	if !c.VulnerabilityScan {
		for _, in := range []string{"fail-on-severity", "only-fixed", "vex"} {
			if raw[in] != "" && raw[in] != inputDefault(in) {
				v.add(in, "is set but vulnerability-scan is not true; nothing would be scanned")
			}
		}
	}
}

func inputDefault(name string) string {
	return Inputs[inputIndex(name)].Default
}

func inputIndex(name string) int {
	for i, in := range Inputs {
		if in.Name == name {
			return i
		}
	}
	return len(Inputs)
}

// admission reads sign-image and the kyverno-* inputs.
func (v *validator) admission(c *Config, raw map[string]string) {
	switch raw["sign-image"] {
	case "":
		// Signing the image only makes sense where the signature is pushed.
		c.SignImage = c.PushToRegistry
	default:
		if c.SignImage = v.boolean(raw, "sign-image"); c.SignImage && !c.PushToRegistry && !v.failed("push-to-registry") {
			v.add("sign-image", "is true but push-to-registry is not: the image signature is pushed to the registry as a referrer of the image")
		}
	}
	c.KyvernoPolicy = admission.Kind(v.oneOf(raw, "kyverno-policy", string(admission.KindNone), string(admission.KindImageValidating), string(admission.KindClusterPolicy)))
	c.KyvernoImageGlobs = List(raw["kyverno-image-glob"])
	if len(c.KyvernoImageGlobs) > 0 && len(c.Images) > 1 {
		v.add("kyverno-image-glob", "cannot be used with several images: each image's policy applies to its own repository, and the same patterns in every policy would make them one")
	}
	for _, g := range c.KyvernoImageGlobs {
		if err := admission.CheckGlob(g); err != nil {
			v.add("kyverno-image-glob", "%v", err)
		}
	}
	c.KyvernoRefPattern = raw["kyverno-ref-pattern"]
	if c.KyvernoRefPattern != "" {
		if err := admission.CheckRefPattern(c.KyvernoRefPattern); err != nil {
			v.add("kyverno-ref-pattern", "%v", err)
		}
	}
	if c.KyvernoPolicy == admission.KindNone {
		for _, in := range []string{"kyverno-image-glob", "kyverno-ref-pattern"} {
			if raw[in] != "" {
				v.add(in, "is set but kyverno-policy is none")
			}
		}
	}
}

// defaultOutputDir keeps files where later steps of the job can read them: RUNNER_TEMP when this
// process can see it (it is not mounted into older runners' container actions), else a folder in
// the workspace.
func defaultOutputDir(gh GitHub) string {
	if !gh.Actions {
		return "bom-attest-out"
	}
	if gh.RunnerTemp != "" {
		if st, err := os.Stat(gh.RunnerTemp); err == nil && st.IsDir() {
			return filepath.Join(gh.RunnerTemp, "bom-attest")
		}
	}
	if gh.Workspace != "" {
		return filepath.Join(gh.Workspace, "bom-attest-out")
	}
	return "bom-attest-out"
}

// defaultIssuer is where GitHub's runners get ID tokens from: one issuer for github.com, and
// one per GitHub Enterprise Server under its own host.
func defaultIssuer(server string) string {
	if server == "" || server == "https://github.com" {
		return "https://token.actions.githubusercontent.com"
	}
	if host, ok := strings.CutPrefix(server, "https://"); ok && strings.HasSuffix(host, ".ghe.com") {
		return "https://token.actions." + host
	}
	return server + "/_services/token"
}

// Wants reports whether attestation kind (sbom, mlbom, provenance, vulnerabilities) was asked for.
func (c *Config) Wants(kind string) bool { return slices.Contains(c.Attestations, kind) }
