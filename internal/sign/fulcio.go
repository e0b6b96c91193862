package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
)

// requestCertificate gets a short-lived certificate for key from Fulcio's v2 API, proving
// possession of the key by signing the token's subject.
func requestCertificate(ctx context.Context, r *retrier, fulcioURL, token, subject string, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding public key: %w", ErrFulcio, err)
	}
	digest := sha256.Sum256([]byte(subject))
	pop, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("%w: proof of possession: %w", ErrFulcio, err)
	}
	var req struct {
		Credentials struct {
			OIDCIdentityToken string `json:"oidcIdentityToken"`
		} `json:"credentials"`
		PublicKeyRequest struct {
			PublicKey struct {
				Algorithm string `json:"algorithm"`
				Content   string `json:"content"`
			} `json:"publicKey"`
			ProofOfPossession string `json:"proofOfPossession"`
		} `json:"publicKeyRequest"`
	}
	req.Credentials.OIDCIdentityToken = token
	req.PublicKeyRequest.PublicKey.Algorithm = "ECDSA"
	req.PublicKeyRequest.PublicKey.Content = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	req.PublicKeyRequest.ProofOfPossession = base64.StdEncoding.EncodeToString(pop)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFulcio, err)
	}

	url := fulcioURL + "/api/v2/signingCert"
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	resp, err := r.do(ctx, "fulcio", http.MethodPost, url, header, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFulcio, err)
	}
	if resp.status != http.StatusOK && resp.status != http.StatusCreated {
		return nil, fmt.Errorf("%w: %s", ErrFulcio, r.unexpected(http.MethodPost, url, resp))
	}
	var answer struct {
		Embedded struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
		Detached struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateDetachedSct"`
	}
	if err := json.Unmarshal(resp.body, &answer); err != nil {
		return nil, fmt.Errorf("%w: POST %s: answer is not JSON: %w", ErrFulcio, url, err)
	}
	chain := answer.Embedded.Chain.Certificates
	if len(chain) == 0 {
		chain = answer.Detached.Chain.Certificates
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: POST %s: answer has no certificate", ErrFulcio, url)
	}
	block, _ := pem.Decode([]byte(chain[0]))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: POST %s: first certificate is not PEM", ErrFulcio, url)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: certificate: %w", ErrFulcio, url, err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%w: POST %s: the certificate is for another key", ErrFulcio, url)
	}
	return cert, nil
}
