package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"net/http"

	"github.com/digitorus/timestamp"
)

// requestTimestamp gets an RFC 3161 timestamp over the signature, which is what a verifier
// checks the short-lived certificate against when there is no transparency log.
func requestTimestamp(ctx context.Context, r *retrier, tsaURL string, signature []byte) ([]byte, error) {
	digest := sha256.Sum256(signature)
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrTSA, err)
	}
	req := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Nonce: nonce}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding request: %w", ErrTSA, err)
	}
	header := http.Header{"Content-Type": {"application/timestamp-query"}, "Accept": {"application/timestamp-reply"}}
	resp, err := r.do(ctx, "tsa", http.MethodPost, tsaURL, header, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTSA, err)
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		return nil, fmt.Errorf("%w: %s", ErrTSA, r.unexpected(http.MethodPost, tsaURL, resp))
	}
	ts, err := timestamp.ParseResponse(resp.body)
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: answer is not a timestamp response: %w", ErrTSA, tsaURL, err)
	}
	if !bytes.Equal(ts.HashedMessage, digest[:]) || ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("%w: POST %s: the timestamp is for another request", ErrTSA, tsaURL)
	}
	return resp.body, nil
}
