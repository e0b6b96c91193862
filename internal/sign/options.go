package sign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/tuf"
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
	publicGoodFulcio = "https://fulcio.sigstore.dev"
	publicGoodRekor  = "https://rekor.sigstore.dev"
	gitHubTUFMirror  = "https://tuf-repo.github.com"
	tsaPath          = "/api/v1/timestamp"
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
	// TrustedRootPath (input trusted-root) is a trusted_root.json used instead of TUF.
	TrustedRootPath string
	// TUFRoot optionally pins the first root.json of the instance's TUF repository; without it
	// public-good uses the root embedded in sigstore-go and GitHub's is fetched over HTTPS from
	// tuf-repo.github.com (version 1; TUF checks every later version against it).
	TUFRoot []byte

	// TokenRequestURL and TokenRequestToken are ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN.
	TokenRequestURL, TokenRequestToken string
	// Issuer is the expected OIDC issuer; "" means the token's own iss claim when signing and
	// GitHubIssuer in a dry-run plan.
	Issuer string

	// HTTPClient carries every request (nil: a new http.Client).
	HTTPClient *http.Client
	// Mask is called with the ID token as soon as it is read (the action prints ::add-mask::).
	Mask func(secret string)
	// OnToken, when set, receives the ID token once, before a certificate is requested, so the
	// caller can verify it against the issuer's keys and read its claims (build provenance)
	// without a second token request. It must not keep or print the token.
	OnToken func(ctx context.Context, token string) error
	// Logf receives progress lines; secrets are already removed from them.
	Logf func(format string, args ...any)

	// Attempts per request for 5xx, 429 and timeouts (0: 4); Backoff is the first wait,
	// doubled each retry (0: 1s); RequestTimeout bounds one attempt (0: 30s).
	Attempts       int
	Backoff        time.Duration
	RequestTimeout time.Duration
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
	// RekorURL is empty when the instance has no transparency log.
	RekorURL string
	// TSAURL is the full timestamp endpoint, empty when the instance uses Rekor's time.
	TSAURL string
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
	var p Plan
	switch inst {
	case InstanceAuto:
		if strings.EqualFold(opts.RepositoryVisibility, "public") {
			p = publicGood()
		} else {
			p = gitHub(server)
		}
	case InstancePublicGood:
		p = publicGood()
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
	}
	if opts.TrustedRootPath != "" {
		p.TrustedRootPath = opts.TrustedRootPath
		p.TUFMirror = ""
	} else if p.TUFMirror == "" {
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

func publicGood() Plan {
	return Plan{Instance: InstancePublicGood, FulcioURL: publicGoodFulcio, RekorURL: publicGoodRekor, TUFMirror: tuf.DefaultMirror}
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
