package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bom-attest/bom-attest/internal/plainhttp"
)

// Sentinel errors callers branch on.
var (
	// ErrOutcomeUnknown: a request that is not safe to repeat was sent in full and no usable answer
	// came back (a dropped connection, a timeout, a gateway error), so it may have taken effect.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrApplied: a request whose outcome was unknown did take effect, as the caller's resend check
	// found; it was not sent again.
	ErrApplied = errors.New("already applied")
	// ErrTooLarge: an answer was longer than the client allows.
	ErrTooLarge = errors.New("answer too large")
	// ErrRedirect: a redirect to another host or scheme was refused.
	ErrRedirect = errors.New("redirect refused")
	// ErrInsecure: plain HTTP to a host off loopback.
	ErrInsecure = plainhttp.ErrRefused
	// ErrGaveUp: the service kept answering a status worth retrying (5xx, 429) until the transport
	// stopped trying, for a request marked with ErrorOnGiveUp.
	ErrGaveUp = errors.New("gave up")
)

// Transport is bom-attest's http.RoundTripper. The zero value is not usable; make one with New.
type Transport struct {
	base        http.RoundTripper
	userAgent   string
	attempts    int
	backoff     time.Duration
	maxBackoff  time.Duration
	maxWait     time.Duration
	attemptTime time.Duration
	maxBody     int64
	logf        func(format string, args ...any)
	// crossHostReads: see WithCrossHostReads.
	crossHostReads bool
	sleep          func(ctx context.Context, d time.Duration) error

	mu      sync.RWMutex
	secrets []string
}

// Option configures a Transport.
type Option func(*Transport)

// WithBase sets the RoundTripper requests finally go through (default: a clone of
// http.DefaultTransport).
func WithBase(rt http.RoundTripper) Option { return func(t *Transport) { t.base = rt } }

// WithUserAgent sets the User-Agent of every request, e.g. "bom-attest/v1.2.3".
func WithUserAgent(ua string) Option { return func(t *Transport) { t.userAgent = ua } }

// WithRetries sets how many times a request is tried in all (default 4; 1 disables retries).
func WithRetries(attempts int) Option { return func(t *Transport) { t.attempts = max(attempts, 1) } }

// WithBackoff sets the first wait between tries, doubled each time up to most (defaults 1s, 30s).
func WithBackoff(first, most time.Duration) Option {
	return func(t *Transport) { t.backoff, t.maxBackoff = first, most }
}

// WithMaxWait is the longest Retry-After the transport waits for (default 60s); a server asking
// for more gets its answer returned to the caller instead of a retry.
func WithMaxWait(d time.Duration) Option { return func(t *Transport) { t.maxWait = d } }

// WithAttemptTimeout bounds the wait for each try's response headers (default 60s; 0 means none).
func WithAttemptTimeout(d time.Duration) Option { return func(t *Transport) { t.attemptTime = d } }

// WithMaxResponse bounds every answer's body; reading past n fails with ErrTooLarge. Clients of
// APIs set it; registry clients, whose blobs are verified and bounded elsewhere, do not.
func WithMaxResponse(n int64) Option { return func(t *Transport) { t.maxBody = n } }

// WithLogf receives a line per retry (already free of secrets).
func WithLogf(f func(format string, args ...any)) Option { return func(t *Transport) { t.logf = f } }

// New makes a Transport.
func New(opts ...Option) *Transport {
	t := &Transport{
		attempts:    4,
		backoff:     time.Second,
		maxBackoff:  30 * time.Second,
		maxWait:     60 * time.Second,
		attemptTime: 60 * time.Second,
		sleep:       sleepCtx,
	}
	for _, o := range opts {
		o(t)
	}
	if t.base == nil {
		t.base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return t
}

// WithCrossHostReads lets a GET or HEAD be redirected to another host: registries serve
// blobs from a CDN, and a download mirror may move. Go's client drops the Authorization header
// when a redirect leaves the domain. A request with a body (a token, a signature) still never is.
func WithCrossHostReads() Option { return func(t *Transport) { t.crossHostReads = true } }

// Client is an http.Client over t that follows redirects only within the same scheme and host
// (but see WithCrossHostReads): a signing or API request redirected elsewhere would carry its
// body and credentials to a host nobody configured.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: t.checkRedirect}
}

func (t *Transport) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("%w: more than 5 redirects from %s", ErrRedirect, via[0].URL.Redacted())
	}
	prev := via[len(via)-1].URL
	if req.URL.Scheme == prev.Scheme && strings.EqualFold(req.URL.Host, prev.Host) {
		return nil
	}
	// Never from https down to http; RoundTrip refuses plain HTTP off loopback anyway.
	downgrade := prev.Scheme == "https" && req.URL.Scheme != "https"
	if t.crossHostReads && !downgrade && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		return nil
	}
	return fmt.Errorf("%w: %s redirected to %s", ErrRedirect, prev.Redacted(), req.URL.Redacted())
}

// AddSecret makes t remove s from every error it returns from now on. A JWT's signature is
// removed on its own as well, since it is the part that makes the token usable.
func (t *Transport) AddSecret(s string) {
	if s == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, s)
	if parts := strings.Split(s, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		t.secrets = append(t.secrets, parts[2])
	}
}

// Redact removes every secret t knows from s.
func (t *Transport) Redact(s string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, secret := range t.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

// RedactError returns err with every secret t knows removed from its message; errors.Is and
// errors.As still reach the cause. For errors made above the transport that may quote an answer
// (a client library's "server returned 400: <body>").
func (t *Transport) RedactError(err error) error { return t.redact(err) }

type ctxKey int

const (
	keyIdempotent ctxKey = iota
	keyResendCheck
	keyErrorOnGiveUp
)

// ErrorOnGiveUp marks requests made with ctx as coming from a client with a retry loop of its own
// (sigstore-go's Fulcio and TSA clients sleep and try again on a 5xx or 429 even when told to make
// no retries): when the transport gives up on such an answer, the client gets an ErrGaveUp error
// instead, so retries happen in one place.
func ErrorOnGiveUp(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyErrorOnGiveUp, true)
}

// Idempotent marks requests made with ctx as safe to send again whatever happened to an earlier
// try (a certificate or timestamp request: a repeat yields another, equally good answer).
// GET, HEAD, PUT, DELETE and OPTIONS are idempotent without it.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyIdempotent, true)
}

// ResendCheck is asked, before a request whose outcome is unknown is sent again, whether the
// earlier try took effect; it gets a context without the check, for its own requests.
type ResendCheck func(ctx context.Context) (applied bool, err error)

// WithResendCheck lets a request that is not idempotent (storing an attestation) be retried
// after an ambiguous failure: the check runs first, and when it finds the earlier try applied
// the request fails with ErrApplied instead of being sent a second time.
func WithResendCheck(ctx context.Context, check ResendCheck) context.Context {
	return context.WithValue(ctx, keyResendCheck, check)
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	v, _ := r.Context().Value(keyIdempotent).(bool)
	return v
}

// RoundTrip sends req, retrying what is worth retrying.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !(req.URL.Scheme == "http" && plainhttp.Loopback(req.URL.Host)) {
		return nil, fmt.Errorf("%w: %s %s (plain HTTP only for loopback hosts)", ErrInsecure, req.Method, req.URL.Redacted())
	}
	// Client checks redirects, but a library may wrap t in an http.Client of its own that
	// follows them anywhere; the redirected request still names the answer that caused it.
	if via := req.Response; via != nil && via.Request != nil {
		if err := t.checkRedirect(req, []*http.Request{via.Request}); err != nil {
			return nil, err
		}
	}
	ctx := req.Context()
	check, _ := ctx.Value(keyResendCheck).(ResendCheck)
	safe := idempotent(req)
	// A body that cannot be replayed is sent once; bom-attest's own requests all have one that can.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		written := &atomic.Bool{}
		r = r.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					written.Store(true)
				}
			},
		}))
		resp, err := t.once(r)
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, t.redact(fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ctx.Err()))
		}
		retryable, wait, ambiguous, why := t.decide(resp, err, written.Load(), safe, t.backoffFor(attempt))
		retry := retryable
		if !replayable || ambiguous && check == nil {
			retry = false
		}
		if !retry || attempt >= t.attempts || wait > t.maxWait {
			switch {
			case err != nil && ambiguous:
				return nil, t.redact(fmt.Errorf("%w: %s %s was sent but %s; it may have taken effect, so it was not sent again", ErrOutcomeUnknown, req.Method, req.URL.Redacted(), why))
			case err != nil && attempt > 1:
				return nil, t.redact(fmt.Errorf("%s %s: %w (%d attempts)", req.Method, req.URL.Redacted(), err, attempt))
			case err != nil:
				return nil, t.redact(err)
			case retryable && giveUpWithError(ctx):
				return nil, t.gaveUp(req, resp, why, attempt)
			}
			return resp, nil
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.log("%s %s: %s; retrying in %s (attempt %d of %d)", req.Method, req.URL.Redacted(), why, wait.Round(time.Millisecond), attempt+1, t.attempts)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, t.redact(fmt.Errorf("%s %s: %w (while waiting to retry after: %s)", req.Method, req.URL.Redacted(), err, why))
		}
		if ambiguous {
			applied, cerr := check(context.WithValue(ctx, keyResendCheck, ResendCheck(nil)))
			if cerr != nil {
				return nil, t.redact(fmt.Errorf("%w: %s %s: %s, and checking whether it took effect failed: %w", ErrOutcomeUnknown, req.Method, req.URL.Redacted(), why, cerr))
			}
			if applied {
				return nil, t.redact(fmt.Errorf("%w: %s %s: %s, but it had taken effect", ErrApplied, req.Method, req.URL.Redacted(), why))
			}
		}
	}
}

// once makes one try. The per-attempt timeout covers the wait for response headers only: the
// body is then read under the caller's context.
func (t *Transport) once(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	r := req.Clone(ctx)
	if t.userAgent != "" {
		r.Header.Set("User-Agent", t.userAgent)
	}
	var timedOut atomic.Bool
	var timer *time.Timer
	if t.attemptTime > 0 {
		timer = time.AfterFunc(t.attemptTime, func() { timedOut.Store(true); cancel() })
	}
	resp, err := t.base.RoundTrip(r)
	if timer != nil && !timer.Stop() && err == nil {
		// The answer came in the instant the timer fired; its body is already cancelled.
		resp.Body.Close()
		err = context.Canceled
	}
	if err != nil {
		cancel()
		if timedOut.Load() {
			return nil, fmt.Errorf("%w after %s", errTimeout, t.attemptTime)
		}
		return nil, err
	}
	resp.Body = &boundedBody{rc: resp.Body, limit: t.maxBody, left: t.maxBody, release: cancel}
	return resp, nil
}

var errTimeout = errors.New("timed out")

func giveUpWithError(ctx context.Context) bool {
	v, _ := ctx.Value(keyErrorOnGiveUp).(bool)
	return v
}

// gaveUp turns the last answer of a request the transport stopped retrying into an error that
// quotes the start of the answer, on one line and without secrets.
func (t *Transport) gaveUp(req *http.Request, resp *http.Response, why string, attempts int) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	snippet := strings.Join(strings.Fields(t.Redact(string(b))), " ")
	if snippet != "" {
		snippet = ": " + snippet
	}
	plural := "s"
	if attempts == 1 {
		plural = ""
	}
	return t.redact(fmt.Errorf("%w: %s %s %s%s (%d attempt%s)", ErrGaveUp, req.Method, req.URL.Redacted(), why, snippet, attempts, plural))
}

// decide says whether to try again, after how long, and whether the request may have taken
// effect (ambiguous) — the case a request that is not idempotent must not be blindly re-sent.
func (t *Transport) decide(resp *http.Response, err error, written, safe bool, backoff time.Duration) (retry bool, wait time.Duration, ambiguous bool, why string) {
	if err != nil {
		why = t.Redact(describe(err))
		if errors.Is(err, ErrInsecure) || errors.Is(err, ErrRedirect) {
			return false, 0, false, why
		}
		if !written {
			// Nothing reached the server: refused, DNS, TLS, reset before the body.
			return true, backoff, false, why
		}
		return true, backoff, !safe, why
	}
	status := resp.StatusCode
	why = fmt.Sprintf("answered %d %s", status, http.StatusText(status))
	switch {
	case status == http.StatusTooManyRequests || (status == http.StatusForbidden && rateLimited(resp)):
		// The server says it did not take the request and when to come back.
		wait = retryAfter(resp)
		if wait == 0 {
			wait = backoff
		}
		return true, wait, false, why
	case status == http.StatusRequestTimeout || status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported:
		wait = retryAfter(resp)
		if wait == 0 {
			wait = backoff
		}
		return true, wait, !safe, why
	}
	return false, 0, false, why
}

// rateLimited tells GitHub's "403 secondary rate limit" from a 403 that means "not allowed".
func rateLimited(resp *http.Response) bool {
	return resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Ratelimit-Remaining") == "0"
}

// retryAfter reads Retry-After (seconds or an HTTP date), then GitHub's X-RateLimit-Reset when
// the limit is spent; 0 means the server did not say.
func retryAfter(resp *http.Response) time.Duration {
	if v := strings.TrimSpace(resp.Header.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return max(time.Duration(s)*time.Second, time.Second)
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(time.Until(at), time.Second)
		}
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(s, 0)), time.Second)
		}
	}
	return 0
}

func describe(err error) string {
	var t interface{ Timeout() bool }
	if errors.Is(err, errTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout() {
		return "timed out"
	}
	return "failed: " + err.Error()
}

func (t *Transport) log(format string, args ...any) {
	if t.logf != nil {
		t.logf("%s", t.Redact(fmt.Sprintf(format, args...)))
	}
}

// backoffFor is the wait after try n (n ≥ 1) when the server did not say: doubling, capped.
func (t *Transport) backoffFor(n int) time.Duration {
	d := max(t.backoff, time.Millisecond)
	for i := 1; i < n && d < t.maxBackoff; i++ {
		d *= 2
	}
	return min(d, max(t.maxBackoff, t.backoff))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// boundedBody limits an answer to the transport's size and releases the attempt's context with it.
type boundedBody struct {
	rc      io.ReadCloser
	limit   int64 // 0: unlimited
	left    int64
	release context.CancelFunc
	once    sync.Once
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.limit <= 0 {
		return b.rc.Read(p)
	}
	if b.left <= 0 {
		// One byte more tells "exactly the limit" from "over it".
		var one [1]byte
		if n, _ := io.ReadFull(b.rc, one[:]); n > 0 {
			return 0, fmt.Errorf("%w: longer than %d bytes", ErrTooLarge, b.limit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}

// redact returns err with every secret removed from its message; errors.Is and errors.As still
// reach the cause, so callers branch on sentinels as usual.
func (t *Transport) redact(err error) error {
	if err == nil {
		return nil
	}
	return &redacted{msg: t.Redact(err.Error()), cause: err}
}

type redacted struct {
	msg   string
	cause error
}

func (e *redacted) Error() string { return e.msg }

func (e *redacted) Is(target error) bool { return errors.Is(e.cause, target) }

func (e *redacted) As(target any) bool { return errors.As(e.cause, target) }
