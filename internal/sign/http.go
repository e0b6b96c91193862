package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// maxResponse bounds what any Sigstore service may send back.
	maxResponse = 4 << 20
	maxBackoff  = 30 * time.Second
)

// retrier sends requests through one *http.Client, retrying what is worth retrying: 5xx, 429
// and attempts that time out or lose the connection.
type retrier struct {
	client   *http.Client
	attempts int
	backoff  time.Duration
	timeout  time.Duration
	logf     func(format string, args ...any)
	// red is applied to answers before they are cut short for messages, so a secret a server
	// echoes is removed whole, not left half-quoted.
	red *redactor
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do returns the first answer that is not retryable, whatever its status; an error means
// every attempt failed or ctx ended.
func (r *retrier) do(ctx context.Context, service, method, url string, header http.Header, body []byte) (*response, error) {
	var last string
	for attempt := 1; ; attempt++ {
		resp, err := r.once(ctx, method, url, header, body)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s %s: %w", method, url, ctx.Err())
		case err != nil:
			last = describeTransportError(err, r.timeout)
		case resp.status >= 500 || resp.status == http.StatusTooManyRequests:
			last = fmt.Sprintf("answered %d %s%s", resp.status, http.StatusText(resp.status), r.snippet(resp.body))
		default:
			return resp, nil
		}
		if attempt >= r.attempts {
			plural := "s"
			if attempt == 1 {
				plural = ""
			}
			return nil, fmt.Errorf("%s %s: %s (%d attempt%s)", method, url, last, attempt, plural)
		}
		wait := maxBackoff
		if attempt <= 16 {
			wait = min(r.backoff<<(attempt-1), maxBackoff)
		}
		if resp != nil {
			// A server that says when to come back is believed, within reason.
			if s, err := strconv.Atoi(resp.header.Get("Retry-After")); err == nil && time.Duration(s)*time.Second > wait {
				wait = min(time.Duration(s)*time.Second, time.Minute)
			}
		}
		r.logf("%s: %s; retrying in %s (attempt %d of %d)", service, last, wait, attempt+1, r.attempts)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", method, url, ctx.Err())
		case <-t.C:
		}
	}
}

func (r *retrier) once(ctx context.Context, method, url string, header http.Header, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "bom-attest")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func describeTransportError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Sprintf("timed out after %s", timeout)
	}
	return "failed: " + err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// snippet is the start of a response body for an error message, on one line.
func (r *retrier) snippet(body []byte) string {
	s := string(body)
	if r.red != nil {
		s = r.red.str(s)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return ": " + s
}

// unexpected describes an answer the caller cannot use.
func (r *retrier) unexpected(method, url string, resp *response) string {
	return fmt.Sprintf("%s %s: answered %d %s%s", method, url, resp.status, http.StatusText(resp.status), r.snippet(resp.body))
}
