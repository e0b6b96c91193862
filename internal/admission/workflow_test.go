package admission

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/bom-attest/bom-attest/internal/provenance"
)

// A dry run has no token, so the policy's workflow comes from GITHUB_WORKFLOW_REF; it must say
// what the provenance of a real run would say.
func TestWorkflowFromRef(t *testing.T) {
	pred := &provenance.Predicate{}
	pred.BuildDefinition.BuildType = provenance.BuildType
	pred.BuildDefinition.ExternalParameters.Workflow = provenance.Workflow{Repository: "https://github.com/acme/app", Path: ".github/workflows/ci.yml", Ref: "refs/pull/7/merge"}
	raw, err := json.Marshal(pred)
	if err != nil {
		t.Fatal(err)
	}
	fromProvenance, err := WorkflowFromProvenance(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, server, ref string
		want              *Workflow
		err               error
	}{
		{"pull request", "https://github.com/", "acme/app/.github/workflows/ci.yml@refs/pull/7/merge", fromProvenance, nil},
		{"another repository", "https://github.com", "evil/app/.github/workflows/ci.yml@refs/heads/main", nil, ErrFacts},
		{"no ref", "https://github.com", "acme/app/.github/workflows/ci.yml", nil, ErrFacts},
		{"no path", "https://github.com", "acme/app/@refs/heads/main", nil, ErrFacts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkflowFromRef(tt.server, "acme/app", tt.ref)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.want != nil && *got != *tt.want {
				t.Errorf("got %+v, want %+v", *got, *tt.want)
			}
		})
	}
	if _, err := WorkflowFromProvenance([]byte("{")); !errors.Is(err, ErrFacts) {
		t.Errorf("a broken predicate: err = %v, want ErrFacts", err)
	}
}
