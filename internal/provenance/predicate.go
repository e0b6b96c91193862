package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

const (
	// PredicateType is the in-toto predicate type of SLSA v1 provenance.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType is the GitHub Actions workflow build type actions/attest-build-provenance uses,
	// so verifiers with policies for that action accept ours unchanged.
	BuildType = "https://actions.github.io/buildtypes/workflow/v1"
)

// ErrClaims: the claims cannot be turned into a predicate (a malformed workflow_ref, a bad server URL).
var ErrClaims = errors.New("cannot build provenance from claims")

// Predicate is the SLSA v1 provenance predicate, field for field what actions/attest-build-provenance writes.
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built and from which inputs.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// ExternalParameters are the inputs the workflow author controls.
type ExternalParameters struct {
	Workflow Workflow `json:"workflow"`
}

// Workflow names the top-level workflow file the run started from.
type Workflow struct {
	Ref        string `json:"ref"`
	Repository string `json:"repository"`
	Path       string `json:"path"`
}

// InternalParameters are set by the platform, not the author.
type InternalParameters struct {
	GitHub GitHubParameters `json:"github"`
}

// GitHubParameters are the run's GitHub context as the ID token states it.
type GitHubParameters struct {
	EventName         string `json:"event_name"`
	RepositoryID      string `json:"repository_id"`
	RepositoryOwnerID string `json:"repository_owner_id"`
	RunnerEnvironment string `json:"runner_environment"`
}

// ResourceDescriptor is an input artifact with its digest.
type ResourceDescriptor struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// RunDetails says who ran the build and which run it was.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder identifies the trusted build platform: the reusable or top-level workflow that ran the job.
type Builder struct {
	ID string `json:"id"`
}

// Metadata identifies the run attempt.
type Metadata struct {
	InvocationID string `json:"invocationId"`
}

// New makes the predicate from verified claims; serverURL is GITHUB_SERVER_URL (e.g. https://github.com).
func New(c *Claims, serverURL string) (*Predicate, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: no claims", ErrClaims)
	}
	server := strings.TrimSuffix(serverURL, "/")
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: server URL %q is not an http(s) URL", ErrClaims, serverURL)
	}

	// workflow_ref is "<owner>/<repo>/<path>@<ref>"; the ref may itself contain '@'
	// (changesets tags such as pkg@1.2.3), so only the first '@' after the path splits.
	rest, ok := strings.CutPrefix(c.WorkflowRef, c.Repository+"/")
	if !ok {
		return nil, fmt.Errorf("%w: workflow_ref %q is not inside repository %q", ErrClaims, c.WorkflowRef, c.Repository)
	}
	path, ref, ok := strings.Cut(rest, "@")
	if !ok || path == "" || ref == "" {
		return nil, fmt.Errorf("%w: workflow_ref %q is not <repository>/<path>@<ref>", ErrClaims, c.WorkflowRef)
	}

	return &Predicate{
		BuildDefinition: BuildDefinition{
			BuildType: BuildType,
			ExternalParameters: ExternalParameters{Workflow: Workflow{
				Ref:        ref,
				Repository: server + "/" + c.Repository,
				Path:       path,
			}},
			InternalParameters: InternalParameters{GitHub: GitHubParameters{
				EventName:         c.EventName,
				RepositoryID:      c.RepositoryID,
				RepositoryOwnerID: c.RepositoryOwnerID,
				RunnerEnvironment: c.RunnerEnvironment,
			}},
			ResolvedDependencies: []ResourceDescriptor{{
				URI:    "git+" + server + "/" + c.Repository + "@" + c.Ref,
				Digest: map[string]string{"gitCommit": c.SHA},
			}},
		},
		RunDetails: RunDetails{
			Builder: Builder{ID: server + "/" + c.JobWorkflowRef},
			Metadata: Metadata{
				InvocationID: server + "/" + c.Repository + "/actions/runs/" + c.RunID + "/attempts/" + c.RunAttempt,
			},
		},
	}, nil
}

// Build is New encoded as the JSON predicate of an in-toto statement.
func Build(c *Claims, serverURL string) ([]byte, error) {
	p, err := New(c, serverURL)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	return b, nil
}
