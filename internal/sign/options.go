package sign

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/bom-attest/bom-attest/internal/transport"
)

// Instance names a Sigstore deployment (input `sigstore`).
type Instance string

const (
	// InstanceAuto picks public-good for a public repository and GitHub's instance otherwise.
	InstanceAuto Instance = "auto"
	// InstancePublicGood is sigstore.dev: Fulcio + public Rekor.
	InstancePublicGood Instance = "public-good"
	// InstanceGitHub is GitHub's private Sigstore: Fulcio + RFC 3161 timestamps, no public log.
	InstanceGitHub Instance = "github"
	// InstanceCustom is what a plan says when fulcio-url / rekor-url / tsa-url replace the instance.
	InstanceCustom Instance = "custom"
)

// GitHubIssuer is the issuer of GitHub Actions ID tokens on github.com.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

const (
	publicGoodFulcio  = "https://fulcio.sigstore.dev"
	publicGoodRekor   = "https://rekor.sigstore.dev"
	publicGoodRekorV2 = "https://log2025-1.rekor.sigstore.dev"
	publicGoodTSA     = "https://timestamp.sigstore.dev/api/v1/timestamp"
	gitHubTUFMirror   = "https://tuf-repo.github.com"
	tsaPath           = "/api/v1/timestamp"
)

var (
	// ErrConfig marks options that cannot work; the message names the input.
	ErrConfig = errors.New("invalid signing configuration")
	// ErrToken marks a failure to get the workflow's OIDC token.
	ErrToken = errors.New("oidc token")
	// ErrFulcio marks a failure to get a signing certificate.
	ErrFulcio = errors.New("fulcio")
	// ErrRekor marks a failure to log the signature in Rekor.
	ErrRekor = errors.New("rekor")
	// ErrTSA marks a failure to get an RFC 3161 timestamp.
	ErrTSA = errors.New("timestamp authority")
	// ErrTrustedRoot marks trusted material that cannot be read or fetched.
	ErrTrustedRoot = errors.New("trusted root")
	// ErrIdentity marks a token or certificate for another identity than the expected one.
	ErrIdentity = errors.New("signing identity")
	// ErrStatement marks a statement or document name that cannot be signed or written.
	ErrStatement = errors.New("statement")
)

// Options is everything signing needs from the outside; config fills it from inputs and the
// GitHub environment.
type Options struct {
	// Instance is input `sigstore` ("" means auto).
	Instance Instance
	// RepositoryVisibility is repository.visibility from the event payload; under auto only
	// "public" selects public-good, so an unknown visibility never leaks to the public log.
	RepositoryVisibility string
	// ServerURL is GITHUB_SERVER_URL ("" means https://github.com). The expected SAN is
	// ServerURL + "/" + the token's job_workflow_ref, which is what Fulcio certifies.
	ServerURL string
	// WorkflowRef is GITHUB_WORKFLOW_REF; only a dry run uses it, to say which identity would
	// sign (a reusable workflow signs as itself, which only the token tells).
	WorkflowRef string

	// FulcioURL, RekorURL and TSAURL (inputs fulcio-url, rekor-url, tsa-url) replace the
	// instance's endpoints; TSAURL without a path gets /api/v1/timestamp.
	FulcioURL, RekorURL, TSAURL string
	// RekorVersion (input rekor-version) is the Rekor API a transparency log is written with: 1
	// (0 means 1) or 2. A Rekor v2 entry carries no time, so version 2 also takes a timestamp.
	RekorVersion int
	// TrustedRootPath (input trusted-root) is a trusted_root.json used instead of TUF.
	TrustedRootPath string
	// TUFMirror replaces the instance's TUF repository (a mirror, or a test's); TUFRoot is the
	// root.json TUF starts from, required with TUFMirror. Without them public-good starts from
	// the root embedded in sigstore-go and GitHub's instance from GitHubTUFRoot.
	TUFMirror string
	TUFRoot   []byte

	// Issuer is the expected OIDC issuer; "" means the token's own iss claim when signing and
	// GitHubIssuer in a dry-run plan.
	Issuer string

	// Transport carries every request (nil: a transport bounding answers to 16 MiB); it should
	// bound answers (transport.WithMaxResponse), since one client of it, Rekor v1's, reads them
	// whole.
	Transport *transport.Transport
	// Logf receives progress lines; secrets are already removed from them.
	Logf func(format string, args ...any)
}

// Identity is who signs: the certificate's SAN and OIDC issuer.
type Identity struct {
	SAN    string
	Issuer string
}

// Plan is where signing goes, decided from Options without any network: the dry run reports
// it, NewSigner follows it.
type Plan struct {
	Instance  Instance
	FulcioURL string
	// RekorURL is empty when the instance has no transparency log; RekorVersion is then 0.
	RekorURL     string
	RekorVersion int
	// TSAURL is the full timestamp endpoint, empty when the instance uses Rekor's time.
	TSAURL string
	// FromSigningConfig says the endpoints above are the instance's defaults: at signing time
	// the signing config its TUF repository publishes chooses them, so the action follows the
	// instance when it moves.
	FromSigningConfig bool
	// TrustedRootPath is set when the trusted root comes from a file; otherwise TUFMirror says
	// where TUF fetches it.
	TrustedRootPath string
	TUFMirror       string
	// Identity is the expected signer; in a plan made without a token the SAN comes from
	// WorkflowRef.
	Identity Identity
}

// NewPlan resolves the instance and endpoints; every error names the input at fault.
func NewPlan(opts Options) (Plan, error) {
	server, err := serverURL(opts.ServerURL)
	if err != nil {
		return Plan{}, err
	}
	inst := opts.Instance
	if inst == "" {
		inst = InstanceAuto
	}
	rekorVersion := opts.RekorVersion
	switch rekorVersion {
	case 0:
		rekorVersion = 1
	case 1, 2:
	default:
		return Plan{}, fmt.Errorf("%w: rekor-version: %d is not 1 or 2", ErrConfig, opts.RekorVersion)
	}
	var p Plan
	switch inst {
	case InstanceAuto:
		if strings.EqualFold(opts.RepositoryVisibility, "public") {
			p = publicGood(rekorVersion)
		} else {
			p = gitHub(server)
		}
	case InstancePublicGood:
		p = publicGood(rekorVersion)
	case InstanceGitHub:
		p = gitHub(server)
	default:
		return Plan{}, fmt.Errorf("%w: sigstore: %q is not auto, public-good or github", ErrConfig, opts.Instance)
	}

	if opts.FulcioURL != "" || opts.RekorURL != "" || opts.TSAURL != "" {
		// The URL inputs describe a whole deployment; mixing them with the instance's other
		// endpoints would pair a log or TSA with a CA it knows nothing about.
		p = Plan{Instance: InstanceCustom}
		if opts.FulcioURL == "" {
			return Plan{}, fmt.Errorf("%w: fulcio-url: required when rekor-url or tsa-url is set", ErrConfig)
		}
		if opts.RekorURL == "" && opts.TSAURL == "" {
			return Plan{}, fmt.Errorf("%w: rekor-url or tsa-url: one is needed to timestamp signatures from %s", ErrConfig, opts.FulcioURL)
		}
		if opts.TrustedRootPath == "" {
			return Plan{}, fmt.Errorf("%w: trusted-root: required with fulcio-url, there is no TUF repository for a custom instance", ErrConfig)
		}
		if p.FulcioURL, err = endpoint("fulcio-url", opts.FulcioURL, ""); err != nil {
			return Plan{}, err
		}
		if p.RekorURL, err = endpoint("rekor-url", opts.RekorURL, ""); err != nil {
			return Plan{}, err
		}
		if p.TSAURL, err = endpoint("tsa-url", opts.TSAURL, tsaPath); err != nil {
			return Plan{}, err
		}
		if p.RekorURL != "" {
			p.RekorVersion = rekorVersion
		}
		if p.RekorVersion == 2 && p.TSAURL == "" {
			return Plan{}, fmt.Errorf("%w: tsa-url: required with rekor-version 2, whose log entries carry no time", ErrConfig)
		}
	}
	switch {
	case opts.TrustedRootPath != "":
		p.TrustedRootPath = opts.TrustedRootPath
		p.TUFMirror = ""
		// Without TUF there is no signing config to follow.
		p.FromSigningConfig = false
	case opts.TUFMirror != "" && p.Instance != InstanceCustom:
		if opts.TUFRoot == nil {
			return Plan{}, fmt.Errorf("%w: a TUF mirror needs the root.json to start from", ErrConfig)
		}
		p.TUFMirror = strings.TrimSuffix(opts.TUFMirror, "/")
	case p.TUFMirror == "":
		return Plan{}, fmt.Errorf("%w: trusted-root: required for GitHub's Sigstore instance on %s (it has no known TUF repository)", ErrConfig, server)
	}

	p.Identity.Issuer = opts.Issuer
	if p.Identity.Issuer == "" {
		p.Identity.Issuer = GitHubIssuer
	}
	if opts.WorkflowRef != "" {
		p.Identity.SAN = server + "/" + opts.WorkflowRef
	}
	return p, nil
}

// Services names the plan's endpoints, e.g. "Fulcio https://fulcio.sigstore.dev, Rekor
// https://rekor.sigstore.dev".
func (p Plan) Services() string {
	s := "Fulcio " + p.FulcioURL
	switch p.RekorVersion {
	case 1:
		s += ", Rekor " + p.RekorURL
	case 2:
		s += ", Rekor v2 " + p.RekorURL
	}
	if p.TSAURL != "" {
		s += ", TSA " + p.TSAURL
	}
	return s
}

// publicGood is the public-good instance with its endpoints of the day; its signing config has
// the last word when signing.
func publicGood(rekorVersion int) Plan {
	p := Plan{Instance: InstancePublicGood, FulcioURL: publicGoodFulcio, RekorURL: publicGoodRekor, RekorVersion: 1,
		TUFMirror: tuf.DefaultMirror, FromSigningConfig: true}
	if rekorVersion == 2 {
		p.RekorURL, p.RekorVersion, p.TSAURL = publicGoodRekorV2, 2, publicGoodTSA
	}
	return p
}

// gitHub derives GitHub's endpoints from the server host; github.com's live on githubapp.com.
func gitHub(server string) Plan {
	u, _ := url.Parse(server)
	host := u.Hostname()
	p := Plan{Instance: InstanceGitHub}
	if host == "github.com" {
		host = "githubapp.com"
		p.TUFMirror = gitHubTUFMirror
	}
	p.FulcioURL = "https://fulcio." + host
	p.TSAURL = "https://timestamp." + host + tsaPath
	return p
}

func serverURL(s string) (string, error) {
	if s == "" {
		return "https://github.com", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%w: GITHUB_SERVER_URL: %q is not an http(s) URL", ErrConfig, s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

func endpoint(input, s, defaultPath string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: %s: %q is not an http(s) URL without query", ErrConfig, input, s)
	}
	if defaultPath != "" && strings.Trim(u.Path, "/") == "" {
		u.Path = defaultPath
	} else if defaultPath == "" {
		u.Path = strings.TrimSuffix(u.Path, "/")
	}
	return u.String(), nil
}
