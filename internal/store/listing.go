package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// errNoBundle: a listing entry carries no bundle (newer API versions give only bundle_url), so
// whether it is ours cannot be told from the listing.
var errNoBundle = errors.New("the listing gives an attestation without its bundle")

// findStored lists the subject's attestations (GET /repos/{owner}/{repo}/attestations/{digest},
// following the pages GitHub links) and returns the one whose bundle has key.
func (g *GitHub) findStored(ctx context.Context, subject string, key [32]byte) (Attestation, bool, error) {
	endpoint := fmt.Sprintf("repos/%s/%s/attestations/%s", url.PathEscape(g.owner), url.PathEscape(g.repo), url.PathEscape(subject))
	seen := map[string]bool{}
	after := ""
	for range maxListPages {
		q := url.Values{"per_page": {strconv.Itoa(listPerPage)}}
		if after != "" {
			q.Set("after", after)
		}
		req, err := g.list.NewRequest(http.MethodGet, endpoint+"?"+q.Encode(), nil)
		if err != nil {
			return Attestation{}, false, err
		}
		resp, err := g.list.BareDo(ctx, req)
		if err != nil {
			return Attestation{}, false, g.apiError(http.MethodGet, endpoint, resp, err, listFixes)
		}
		id, ok, err := scanListing(resp.Body, key)
		resp.Body.Close()
		if err != nil {
			return Attestation{}, false, fmt.Errorf("GET /%s: %w", endpoint, err)
		}
		if ok {
			return g.attestation(id), true, nil
		}
		if resp.After == "" {
			return Attestation{}, false, nil
		}
		if seen[resp.After] {
			return Attestation{}, false, fmt.Errorf("GET /%s: the listing links back to a page it gave before", endpoint)
		}
		seen[resp.After] = true
		after = resp.After
	}
	return Attestation{}, false, fmt.Errorf("GET /%s: more than %d attestations for %s; the listing was not read to its end", endpoint, listPerPage*maxListPages, subject)
}

// scanListing reads one page of the listing ({"attestations":[{"id":…,"bundle":{…}},…]}) an
// entry at a time, so memory holds one bundle however long the page, and reports the entry whose
// bundle has key. The id is not in the documented answer of API version 2022-11-28; it is used
// when GitHub sends it.
func scanListing(r io.Reader, key [32]byte) (int64, bool, error) {
	dec := json.NewDecoder(r)
	if err := delim(dec, '{'); err != nil {
		return 0, false, err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, false, err
		}
		if t != "attestations" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0, false, err
			}
			continue
		}
		t, err = dec.Token()
		if err != nil {
			return 0, false, err
		}
		if t == nil {
			continue
		}
		if t != json.Delim('[') {
			return 0, false, fmt.Errorf("attestations is not a list")
		}
		for dec.More() {
			var e struct {
				ID     int64           `json:"id"`
				Bundle json.RawMessage `json:"bundle"`
			}
			if err := dec.Decode(&e); err != nil {
				return 0, false, err
			}
			if len(e.Bundle) == 0 || string(e.Bundle) == "null" {
				return 0, false, errNoBundle
			}
			if k, _, err := bundleKey(e.Bundle); err == nil && k == key {
				return e.ID, true, nil
			}
		}
		if err := delim(dec, ']'); err != nil {
			return 0, false, err
		}
	}
	return 0, false, delim(dec, '}')
}

func delim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("not a JSON object as documented (got %v)", t)
	}
	return nil
}

// bundleKey identifies a signed bundle however its JSON is re-serialised: a digest of its DSSE
// envelope's payload type, payload and signatures as bytes (base64 decoded). GitHub stores a
// bundle as data and lists it re-encoded — other key order and spacing, possibly other number and
// base64 forms — so neither the bytes sent nor a canonical-JSON digest of them is sure to match
// what it lists. The signed envelope is: every bundle is signed afresh with an ephemeral key, so
// two uploads of one statement differ in their signatures, while one upload keeps them exactly.
// subject is the statement's first sha256 subject digest, under which GitHub lists it.
func bundleKey(bundle []byte) (key [32]byte, subject string, err error) {
	var b struct {
		DSSEEnvelope *struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return key, "", err
	}
	env := b.DSSEEnvelope
	if env == nil || len(env.Signatures) == 0 {
		return key, "", errors.New("no signed DSSE envelope")
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return key, "", fmt.Errorf("DSSE payload: %w", err)
	}
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return key, "", fmt.Errorf("statement: %w", err)
	}
	for _, s := range st.Subject {
		if d := strings.ToLower(s.Digest["sha256"]); len(d) == 64 {
			if _, err := hex.DecodeString(d); err == nil {
				subject = "sha256:" + d
				break
			}
		}
	}
	if subject == "" {
		return key, "", errors.New("statement has no sha256 subject")
	}
	h := sha256.New()
	field := func(b []byte) {
		binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	field([]byte(env.PayloadType))
	field(payload)
	for _, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil {
			return key, "", fmt.Errorf("DSSE signature: %w", err)
		}
		field(sig)
	}
	copy(key[:], h.Sum(nil))
	return key, subject, nil
}

// decodeBase64 reads standard or URL-safe base64, padded or not: protobuf's JSON form accepts all four.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
