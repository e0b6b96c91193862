package testserver

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// startTUF publishes targets (the stack's trusted_root.json and signing configs) through a TUF
// repository on loopback (HTTPS, consistent snapshots, one key for all roles), the way Sigstore
// instances hand out their trusted roots.
func (s *SigningStack) startTUF(t testing.TB, targetFiles map[string][]byte) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer, err := signature.LoadSigner(key, crypto.Hash(0))
	if err != nil {
		return err
	}
	pub, err := metadata.KeyFromPublicKey(key.Public())
	if err != nil {
		return err
	}
	expires := time.Now().Add(24 * time.Hour).UTC()

	rootMeta := metadata.Root(expires)
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := rootMeta.Signed.AddKey(pub, role); err != nil {
			return err
		}
	}
	targets := metadata.Targets(expires)
	files := map[string][]byte{}
	for name, data := range targetFiles {
		info, err := metadata.TargetFile().FromBytes(name, data, "sha256")
		if err != nil {
			return err
		}
		targets.Signed.Targets[name] = info
		sum := sha256.Sum256(data)
		files["/targets/"+hex.EncodeToString(sum[:])+"."+name] = data
	}
	snapshot := metadata.Snapshot(expires)
	timestamp := metadata.Timestamp(expires)
	for path, m := range map[string]interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}{"/1.root.json": rootMeta, "/1.targets.json": targets, "/1.snapshot.json": snapshot, "/timestamp.json": timestamp} {
		if _, err := m.Sign(signer); err != nil {
			return err
		}
		if files[path], err = m.ToBytes(true); err != nil {
			return err
		}
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	// Tests check that clients without the test CA are refused; the handshake errors that
	// causes are expected, not worth a log line.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.TUFURL = srv.URL
	s.TUFRoot = files["/1.root.json"]
	s.TUFClient = srv.Client()
	return nil
}
