package sign

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-openapi/strfmt"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/tle"
)

// createLogEntry logs a DSSE envelope in a Rekor v1 log as a dsse entry. A 409 means an earlier
// attempt already got it in (the answer was lost), so the existing entry is fetched.
func createLogEntry(ctx context.Context, r *retrier, rekorURL string, envelope, certPEM []byte) (*protorekor.TransparencyLogEntry, error) {
	env := string(envelope)
	entry := &models.DSSE{
		APIVersion: ptr("0.0.1"),
		Spec: &models.DSSEV001Schema{ProposedContent: &models.DSSEV001SchemaProposedContent{
			Envelope:  &env,
			Verifiers: []strfmt.Base64{certPEM},
		}},
	}
	body, err := json.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding entry: %w", ErrRekor, err)
	}
	create := rekorURL + "/api/v1/log/entries"
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	resp, err := r.do(ctx, "rekor", http.MethodPost, create, header, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRekor, err)
	}
	var uuid string
	switch resp.status {
	case http.StatusCreated:
		uuid = resp.header.Get("ETag")
	case http.StatusConflict:
		loc, err := url.Parse(resp.header.Get("Location"))
		if err != nil || loc.String() == "" {
			return nil, fmt.Errorf("%w: POST %s: 409 without the existing entry's Location", ErrRekor, create)
		}
		base, _ := url.Parse(create)
		existing := base.ResolveReference(loc).String()
		r.logf("rekor: the entry is already in the log (an earlier attempt got through); fetching %s", existing)
		resp, err = r.do(ctx, "rekor", http.MethodGet, existing, http.Header{"Accept": {"application/json"}}, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRekor, err)
		}
		if resp.status != http.StatusOK {
			return nil, fmt.Errorf("%w: %s", ErrRekor, r.unexpected(http.MethodGet, existing, resp))
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrRekor, r.unexpected(http.MethodPost, create, resp))
	}

	var entries models.LogEntry
	if err := json.Unmarshal(resp.body, &entries); err != nil {
		return nil, fmt.Errorf("%w: %s: answer is not a log entry: %w", ErrRekor, rekorURL, err)
	}
	anon, ok := entries[uuid]
	if !ok && len(entries) == 1 {
		for _, e := range entries {
			anon = e
		}
		ok = true
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s: answer does not hold entry %q", ErrRekor, rekorURL, uuid)
	}
	// tle dereferences all of these; a log that leaves one out gets an error, not a panic.
	v := anon.Verification
	if anon.LogID == nil || anon.LogIndex == nil || anon.IntegratedTime == nil || anon.Body == nil ||
		v == nil || len(v.SignedEntryTimestamp) == 0 || v.InclusionProof == nil || v.InclusionProof.RootHash == nil ||
		v.InclusionProof.LogIndex == nil || v.InclusionProof.TreeSize == nil || v.InclusionProof.Checkpoint == nil {
		return nil, fmt.Errorf("%w: %s: entry lacks its log ID, index, time, signed entry timestamp or inclusion proof", ErrRekor, rekorURL)
	}
	out, err := tle.GenerateTransparencyLogEntry(anon)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRekor, rekorURL, err)
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
