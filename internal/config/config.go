package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/pedigree"
	"github.com/bom-attest/bom-attest/internal/sign"
	"github.com/bom-attest/bom-attest/internal/store"
	"github.com/bom-attest/bom-attest/internal/vulns"
)

// Version is bom-attest's version, set at build time with -ldflags "-X ...config.Version=v1.2.3".
var Version = "dev"

// ErrInvalid is wrapped by every input error, so callers can tell "the user must fix an input"
// (exit 1) from a failure further on.
var ErrInvalid = errors.New("invalid input")

// ErrHelp is returned when the command line asked for usage.
var ErrHelp = flag.ErrHelp

// Config is everything a run needs, validated.
type Config struct {
	ImageKind     image.Kind
	ImageRef      string // registry reference, or the path for local kinds
	SubjectName   string // lowercased, no tag or digest; may be empty for local images
	SubjectDigest string // sha256:<hex> or empty
	Platforms     []string
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

	Attestations       []string
	MLBOMPredicateType string
	Sigstore           sign.Instance
	FulcioURL          string
	RekorURL           string
	TSAURL             string
	TrustedRoot        string
	OIDCIssuer         string
	PushToRegistry     bool
	ReferrersMode      store.ReferrersMode

	// SourceDateEpoch fixes the documents' timestamp (reproducible builds); zero means now.
	SourceDateEpoch time.Time

	GitHub GitHub
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
	EventName     string // GITHUB_EVENT_NAME
	SHA           string // GITHUB_SHA
	Ref           string // GITHUB_REF
	Actor         string // GITHUB_ACTOR
	RunID         string // GITHUB_RUN_ID
	RunAttempt    string // GITHUB_RUN_ATTEMPT
	Visibility    string // repository.visibility from the event payload
	IDTokenURL    string // ACTIONS_ID_TOKEN_REQUEST_URL
	IDTokenSecret string // ACTIONS_ID_TOKEN_REQUEST_TOKEN; a secret
}

// PermissionsBlock is what a job needs for keyless signing and publishing.
const PermissionsBlock = `permissions:
  contents: read
  id-token: write       # OIDC token for keyless signing
  attestations: write   # GitHub Attestations API
  packages: write       # only with push-to-registry: true on ghcr.io`

// FieldError is one bad input.
type FieldError struct {
	Input string
	Msg   string
}

func (e FieldError) Error() string { return e.Input + ": " + e.Msg }

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

func readGitHub(getenv Getenv) GitHub {
	g := GitHub{
		Actions:       getenv("GITHUB_ACTIONS") == "true",
		OutputPath:    getenv("GITHUB_OUTPUT"),
		SummaryPath:   getenv("GITHUB_STEP_SUMMARY"),
		Workspace:     getenv("GITHUB_WORKSPACE"),
		RunnerTemp:    getenv("RUNNER_TEMP"),
		ServerURL:     strings.TrimSuffix(getenv("GITHUB_SERVER_URL"), "/"),
		APIURL:        strings.TrimSuffix(getenv("GITHUB_API_URL"), "/"),
		Repository:    getenv("GITHUB_REPOSITORY"),
		WorkflowRef:   getenv("GITHUB_WORKFLOW_REF"),
		EventName:     getenv("GITHUB_EVENT_NAME"),
		SHA:           getenv("GITHUB_SHA"),
		Ref:           getenv("GITHUB_REF"),
		Actor:         getenv("GITHUB_ACTOR"),
		RunID:         getenv("GITHUB_RUN_ID"),
		RunAttempt:    getenv("GITHUB_RUN_ATTEMPT"),
		IDTokenURL:    getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		IDTokenSecret: getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
	}
	if g.ServerURL == "" {
		g.ServerURL = "https://github.com"
	}
	if g.APIURL == "" {
		g.APIURL = "https://api.github.com"
	}
	g.Visibility = eventVisibility(getenv("GITHUB_EVENT_PATH"))
	return g
}

// eventVisibility reads repository.visibility from the event payload; an unreadable payload
// means "unknown", which picks the private (GitHub) Sigstore instance — the safe side, as it
// never writes to a public log.
func eventVisibility(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var ev struct {
		Repository struct {
			Visibility string `json:"visibility"`
			Private    *bool  `json:"private"`
		} `json:"repository"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return ""
	}
	if ev.Repository.Visibility == "" && ev.Repository.Private != nil && !*ev.Repository.Private {
		return "public"
	}
	return ev.Repository.Visibility
}

var (
	digestRE    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	platformRE  = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
	namespaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

type validator struct{ errs Errors }

func (v *validator) add(input, format string, a ...any) {
	v.errs = append(v.errs, FieldError{Input: input, Msg: fmt.Sprintf(format, a...)})
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

// existing checks that a path input names something that exists, of the right kind.
func (v *validator) existing(raw map[string]string, input string, wantDir bool) string {
	p := raw[input]
	if p == "" {
		return ""
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		v.add(input, "%s: %v", p, errors.Unwrap(err))
	case wantDir && !st.IsDir():
		v.add(input, "%s is not a directory", p)
	case !wantDir && st.IsDir():
		v.add(input, "%s is a directory, want a file", p)
	}
	return p
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
	v.image(c, raw["image"])

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
	c.UnmatchedPatches = pedigree.Unmatched(v.oneOf(raw, "unmatched-patches", string(pedigree.UnmatchedError), string(pedigree.UnmatchedWarn)))
	c.Sigstore = sign.Instance(v.oneOf(raw, "sigstore", string(sign.InstanceAuto), string(sign.InstancePublicGood), string(sign.InstanceGitHub)))
	c.ReferrersMode = store.ReferrersMode(v.oneOf(raw, "referrers-mode", string(store.ModeAuto), string(store.ModeAPI), string(store.ModeTag)))

	c.PropertyNamespace = raw["property-namespace"]
	if !namespaceRE.MatchString(c.PropertyNamespace) {
		v.add("property-namespace", "must be letters, digits, '.', '_' or '-' (e.g. bom-attest), got %q", c.PropertyNamespace)
	}
	c.PatchesDir = v.existing(raw, "patches-dir", true)
	c.ConstraintOverrides = v.existing(raw, "constraint-overrides", false)
	c.ModelManifest = v.existing(raw, "model-manifest", false)
	c.TrustedRoot = v.existing(raw, "trusted-root", false)
	c.PatchesBaseURL = v.httpURL(raw, "patches-base-url")
	if c.PatchesBaseURL != "" {
		c.PatchesBaseURL += "/"
		if raw["patches-dir"] == "" {
			v.add("patches-base-url", "is set but patches-dir is not")
		}
	}
	c.FulcioURL = v.httpURL(raw, "fulcio-url")
	c.RekorURL = v.httpURL(raw, "rekor-url")
	c.TSAURL = v.httpURL(raw, "tsa-url")
	c.OIDCIssuer = v.httpURL(raw, "oidc-issuer")
	if c.OIDCIssuer == "" {
		c.OIDCIssuer = defaultIssuer(gh.ServerURL)
	}

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

	c.OutputDir = raw["output-dir"]
	if c.OutputDir == "" {
		c.OutputDir = defaultOutputDir(gh)
	}
	if st, err := os.Stat(c.OutputDir); err == nil && !st.IsDir() {
		v.add("output-dir", "%s exists and is not a directory", c.OutputDir)
	}

	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || sec < 0 {
			v.add("SOURCE_DATE_EPOCH", "must be whole seconds since 1970, got %q", sourceDateEpoch)
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
			v.add("dry-run", "is false but this job has no OIDC token to sign with; give the job\n%s", PermissionsBlock)
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
			c.VEX = append(c.VEX, v.existing(map[string]string{"vex": pattern}, "vex", false))
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

func (v *validator) image(c *Config, img string) {
	if img == "" {
		switch {
		case c.SubjectName == "":
			v.add("image", "required: give image, or subject-name with subject-digest")
			return
		case c.SubjectDigest == "":
			v.add("subject-digest", "required when image is not given (the image is subject-name@subject-digest)")
			return
		}
		img = c.SubjectName + "@" + c.SubjectDigest
	}
	for _, kind := range image.LocalKinds {
		if p, ok := strings.CutPrefix(img, string(kind)+":"); ok {
			c.ImageKind, c.ImageRef = kind, p
			st, err := os.Stat(p)
			switch {
			case p == "":
				v.add("image", "%s: needs a path", kind)
			case err != nil:
				v.add("image", "%s: %v", kind, err)
			case kind == image.KindOCIDir && !st.IsDir():
				v.add("image", "oci-dir:%s is not a directory", p)
			case kind != image.KindOCIDir && st.IsDir():
				v.add("image", "%s:%s is a directory; use oci-dir:", kind, p)
			}
			return
		}
	}
	img = strings.TrimPrefix(img, "registry:")
	ref, err := name.ParseReference(img)
	if err != nil {
		v.add("image", "not a valid image reference %q: %v", img, err)
		return
	}
	if last := img[strings.LastIndex(img, "/")+1:]; !strings.ContainsAny(last, ":@") {
		v.add("image", "%q has neither tag nor digest; give image@sha256:... (or a tag, resolved once)", img)
		return
	}
	c.ImageKind, c.ImageRef = image.KindRegistry, ref.String()
	if d, ok := ref.(name.Digest); ok && c.SubjectDigest != "" && d.DigestStr() != c.SubjectDigest {
		v.add("subject-digest", "%s differs from the digest in image (%s)", c.SubjectDigest, d.DigestStr())
	}
	if c.SubjectName == "" {
		c.SubjectName = strings.ToLower(ref.Context().Name())
	}
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
func (c *Config) Wants(kind string) bool {
	for _, a := range c.Attestations {
		if a == kind {
			return true
		}
	}
	return false
}
