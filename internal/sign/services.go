package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorv2pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekorclient "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekorutil "github.com/sigstore/rekor/pkg/util"
	sigsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/bom-attest/bom-attest/internal/transport"
)

// The sigstore-go clients are built here over the caller's transport, which does every retry:
// sigstore-go's own Retries stay 0 and its per-client timeouts are off (the transport bounds each
// attempt, ctx the whole).

// maxRekorV2Answer bounds a Rekor v2 answer, as rekor-tiles' own client does.
const maxRekorV2Answer = 10 << 20

// serviceContext marks a request to Fulcio, a TSA or a Rekor v1 log: sending it again is
// harmless (another certificate or timestamp; Rekor v1 answers a repeat with 409 and the entry),
// and sigstore-go, which would sleep and retry a 5xx itself, gets an error once the transport
// gives up.
func serviceContext(ctx context.Context) context.Context {
	return transport.ErrorOnGiveUp(transport.Idempotent(ctx))
}

// withContext gives the requests of sigstore-go's Fulcio and TSA clients a context: they build
// them without one, so neither cancellation nor the transport's markings would reach them. It
// keeps the last answer's status, which sigstore-go's errors give as a bare number.
type withContext struct {
	rt     http.RoundTripper
	ctx    context.Context
	status *int
}

func (w withContext) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(r.WithContext(w.ctx))
	if resp != nil {
		*w.status = resp.StatusCode
	}
	return resp, err
}

// answered says how a service answered last, for an error message: " answered 400 Bad
// Request"; nothing when the transport gave up first (its error says why).
func answered(status int) string {
	if status == 0 {
		return ""
	}
	return fmt.Sprintf(" answered %d %s", status, http.StatusText(status))
}

// unquoted drops the `Post "URL":` an http.Client puts before a transport error, which names
// the same request again; errors.Is still reaches the cause.
func unquoted(err error) error {
	var u *url.Error
	if errors.As(err, &u) && u == err {
		return unwrapped{msg: u.Err.Error(), err: err}
	}
	return err
}

type unwrapped struct {
	msg string
	err error
}

func (u unwrapped) Error() string { return u.msg }
func (u unwrapped) Unwrap() error { return u.err }

func newFulcio(ctx context.Context, t *transport.Transport, baseURL string, status *int) *sigsign.Fulcio {
	return sigsign.NewFulcio(&sigsign.FulcioOptions{BaseURL: baseURL, Timeout: -1, Transport: withContext{t, serviceContext(ctx), status}})
}

func newTSA(ctx context.Context, t *transport.Transport, u string, status *int) *sigsign.TimestampAuthority {
	return sigsign.NewTimestampAuthority(&sigsign.TimestampAuthorityOptions{URL: u, Timeout: -1, Transport: withContext{t, serviceContext(ctx), status}})
}

// newRekor builds sigstore-go's Rekor client for the plan's log: Rekor v1's generated go-openapi
// client over an http.Client of the transport, or for v2 a client of our own, since rekor-tiles'
// writer makes its http.Client on http.DefaultTransport and takes no RoundTripper.
func newRekor(t *transport.Transport, baseURL string, version int, logf func(string, ...any)) (*rekorLog, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRekor, baseURL, err)
	}
	opts := &sigsign.RekorOptions{BaseURL: baseURL, Version: uint32(version)}
	if version == 2 {
		opts.ClientV2 = rekorV2Client{url: strings.TrimSuffix(baseURL, "/") + "/api/v2/log/entries", client: t.Client()}
	} else {
		base := u.Path
		if base == "" {
			base = rekorclient.DefaultBasePath
		}
		rt := httptransport.NewWithClient(u.Host, base, []string{u.Scheme}, t.Client())
		rt.Consumers["application/json"] = runtime.JSONConsumer()
		rt.Consumers["application/x-pem-file"] = runtime.TextConsumer()
		rt.Producers["application/json"] = runtime.JSONProducer()
		formats := strfmt.NewFormats()
		formats.Add("signedCheckpoint", &rekorutil.SignedNote{}, rekorutil.SignedCheckpointValidator)
		opts.Client = rekorV1Client{RekorClient: rekorclient.New(rt, formats).Entries, base: u, logf: logf}
		// The whole call, retries included; the transport bounds each attempt.
		opts.Timeout = 5 * time.Minute
	}
	return &rekorLog{rekor: sigsign.NewRekor(opts), version: version}, nil
}

// rekorLog is the transparency log of a signing: it marks its requests, and tells the caller
// whether sigstore-go's Bundle failed in it or after it.
type rekorLog struct {
	rekor   *sigsign.Rekor
	version int
	stage   *stage
}

func (r *rekorLog) GetTransparencyLogEntry(ctx context.Context, keyOrCertPEM []byte, b *protobundle.Bundle) error {
	if r.version == 1 {
		ctx = serviceContext(ctx)
	}
	r.stage.at(ErrRekor)
	if err := r.rekor.GetTransparencyLogEntry(ctx, keyOrCertPEM, b); err != nil {
		return err
	}
	r.stage.at(ErrVerification)
	return nil
}

// stage is where sigstore-go's Bundle got to, since its errors do not say which service failed.
type stage struct{ current error }

func (s *stage) at(err error) {
	if s != nil {
		s.current = err
	}
}

// rekorV1Client checks what the generated Rekor v1 client hands sigstore-go, which would
// dereference a missing field of a log entry and take a 409's Location as given.
type rekorV1Client struct {
	sigsign.RekorClient
	base *url.URL
	logf func(string, ...any)
}

func (c rekorV1Client) CreateLogEntry(params *entries.CreateLogEntryParams, opts ...entries.ClientOption) (*entries.CreateLogEntryCreated, error) {
	resp, err := c.RekorClient.CreateLogEntry(params, opts...)
	var conflict *entries.CreateLogEntryConflict
	if errors.As(err, &conflict) {
		// sigstore-go fetches the entry named by the last path element from this log; a
		// Location elsewhere says the answer is not this log's, and it is not followed.
		loc, perr := url.Parse(conflict.Location.String())
		if perr != nil || loc.Path == "" || loc.Host != "" && (!strings.EqualFold(loc.Host, c.base.Host) || loc.Scheme != c.base.Scheme) {
			return nil, fmt.Errorf("%w: %s answered 409 with the existing entry at %q, off the log", transport.ErrRedirect, c.base.Redacted(), conflict.Location)
		}
		c.logf("rekor: the entry is already in the log (an earlier attempt got through); fetching it")
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if _, ok := resp.Payload[resp.ETag]; !ok && len(resp.Payload) == 1 {
		for uuid := range resp.Payload {
			resp.ETag = uuid
		}
	}
	entry, ok := resp.Payload[resp.ETag]
	if !ok {
		return nil, fmt.Errorf("%s: the answer does not hold entry %q", c.base.Redacted(), resp.ETag)
	}
	if err := complete(entry); err != nil {
		return nil, fmt.Errorf("%s: %w", c.base.Redacted(), err)
	}
	return resp, nil
}

func (c rekorV1Client) GetLogEntryByUUID(params *entries.GetLogEntryByUUIDParams, opts ...entries.ClientOption) (*entries.GetLogEntryByUUIDOK, error) {
	resp, err := c.RekorClient.GetLogEntryByUUID(params, opts...)
	if err != nil {
		return nil, err
	}
	if len(resp.Payload) != 1 {
		return nil, fmt.Errorf("%s: asked for one entry, got %d", c.base.Redacted(), len(resp.Payload))
	}
	for _, e := range resp.Payload {
		if err := complete(e); err != nil {
			return nil, fmt.Errorf("%s: %w", c.base.Redacted(), err)
		}
	}
	return resp, nil
}

// complete checks the fields rekor's tle.GenerateTransparencyLogEntry dereferences, so a log
// that leaves one out gets an error, not a panic.
func complete(e models.LogEntryAnon) error {
	v := e.Verification
	if e.LogID == nil || e.LogIndex == nil || e.IntegratedTime == nil || e.Body == nil ||
		v == nil || len(v.SignedEntryTimestamp) == 0 || v.InclusionProof == nil || v.InclusionProof.RootHash == nil ||
		v.InclusionProof.LogIndex == nil || v.InclusionProof.TreeSize == nil || v.InclusionProof.Checkpoint == nil {
		return errors.New("the log entry lacks its log ID, index, time, body, signed entry timestamp or inclusion proof")
	}
	return nil
}

// rekorV2Client is sigstore-go's RekorV2Client over our transport, encoding as rekor-tiles'
// writer does: a CreateEntryRequest in, a TransparencyLogEntry out, both protojson. A POST to a
// Rekor v2 log is not repeated after an unknown outcome: a repeat answers 409 without the entry.
type rekorV2Client struct {
	url    string
	client *http.Client
}

func (c rekorV2Client) Add(ctx context.Context, entry any) (*protorekor.TransparencyLogEntry, error) {
	hr, ok := entry.(*rekorv2pb.HashedRekordRequestV002)
	if !ok {
		return nil, fmt.Errorf("unsupported Rekor v2 entry type %T", entry)
	}
	payload, err := protojson.Marshal(&rekorv2pb.CreateEntryRequest{Spec: &rekorv2pb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr}})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRekorV2Answer+1))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", c.url, err)
	}
	if len(body) > maxRekorV2Answer {
		return nil, fmt.Errorf("POST %s: answer larger than %d bytes", c.url, maxRekorV2Answer)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST %s: answered %d %s%s", c.url, resp.StatusCode, http.StatusText(resp.StatusCode), snippet(body))
	}
	var tle protorekor.TransparencyLogEntry
	if err := protojson.Unmarshal(body, &tle); err != nil {
		return nil, fmt.Errorf("POST %s: the answer is not a log entry: %w", c.url, err)
	}
	return &tle, nil
}
