package config

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// InActions reports whether the process runs as a GitHub Actions step, for a caller that must
// report a Load error in the workflow's terms.
func InActions(getenv Getenv) bool { return getenv("GITHUB_ACTIONS") == "true" }

func readGitHub(getenv Getenv) GitHub {
	g := GitHub{
		Actions:       InActions(getenv),
		OutputPath:    getenv("GITHUB_OUTPUT"),
		SummaryPath:   getenv("GITHUB_STEP_SUMMARY"),
		Workspace:     getenv("GITHUB_WORKSPACE"),
		RunnerTemp:    getenv("RUNNER_TEMP"),
		ServerURL:     strings.TrimSuffix(getenv("GITHUB_SERVER_URL"), "/"),
		APIURL:        strings.TrimSuffix(getenv("GITHUB_API_URL"), "/"),
		Repository:    getenv("GITHUB_REPOSITORY"),
		WorkflowRef:   getenv("GITHUB_WORKFLOW_REF"),
		Actor:         getenv("GITHUB_ACTOR"),
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

// eventVisibility reads repository.visibility from the event payload. A payload that cannot be
// read — missing, not a regular file, larger than GitHub sends, not JSON — means "unknown",
// which picks the private (GitHub) Sigstore instance: the safe side, as it never writes to a
// public log.
func eventVisibility(path string) string {
	if path == "" {
		return ""
	}
	b, err := localfile.Read(context.Background(), path, maxEventPayload)
	if err != nil {
		return ""
	}
	return visibility(b)
}

// visibility is repository.visibility of an event payload, one of public, private and internal,
// or "" when the payload does not say. Payloads without the field (older GitHub Enterprise
// Server) still say repository.private.
func visibility(payload []byte) string {
	var ev struct {
		Repository struct {
			Visibility string `json:"visibility"`
			Private    *bool  `json:"private"`
		} `json:"repository"`
	}
	if json.Unmarshal(payload, &ev) != nil {
		return ""
	}
	switch v := ev.Repository.Visibility; v {
	case "public", "private", "internal":
		return v
	case "":
		if p := ev.Repository.Private; p != nil && !*p {
			return "public"
		}
	}
	return ""
}
