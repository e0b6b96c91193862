package testserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorv2pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekorv2note "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/sigstore/pkg/signature"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	sumdbnote "golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// rekorV2Log is a Rekor v2 (rekor-tiles) log: hashedrekord v0.0.2 entries built by rekor-tiles'
// own code, an RFC 6962 tree, and checkpoints signed as notes under the log's origin (the host of
// its URL, which is what verifiers take the origin to be).
type rekorV2Log struct {
	origin   string
	key      *ecdsa.PrivateKey
	logID    []byte
	signer   sumdbnote.Signer
	registry *signature.AlgorithmRegistryConfig

	mu   sync.Mutex
	tree *testonly.Tree
	seen map[string]bool
}

func newRekorV2Log(baseURL string) (*rekorV2Log, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	l := &rekorV2Log{origin: u.Hostname(), tree: testonly.New(rfc6962.DefaultHasher), seen: map[string]bool{}}
	if l.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if _, l.logID, err = rekorv2note.KeyHash(l.origin, &l.key.PublicKey); err != nil {
		return nil, err
	}
	sv, err := signature.LoadECDSASignerVerifier(l.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if l.signer, err = rekorv2note.NewNoteSigner(context.Background(), l.origin, sv); err != nil {
		return nil, err
	}
	l.registry, err = signature.NewAlgorithmRegistryConfig([]protocommon.PublicKeyDetails{
		protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
		protocommon.PublicKeyDetails_PKIX_ED25519_PH,
	})
	return l, err
}

func (l *rekorV2Log) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.tree.Size())
}

func (s *SigningStack) serveRekorV2Create(w http.ResponseWriter, r *http.Request) {
	var req rekorv2pb.CreateEntryRequest
	if !protoRequest(s.RekorV2, w, r, &req) {
		return
	}
	fail := func(status int, format string, args ...any) { sigstoreFail(w, status, format, args...) }
	hr := req.GetHashedRekordRequestV002()
	if hr == nil {
		fail(http.StatusBadRequest, "only hashedrekord v0.0.2 entries are supported here")
		return
	}
	entry, err := hashedrekord.ToLogEntry(hr, s.rekorV2.registry)
	if err != nil {
		fail(http.StatusBadRequest, "hashedrekord: %v", err)
		return
	}
	tle, status, err := s.rekorV2.add(entry)
	if err != nil {
		fail(status, "%v", err)
		return
	}
	answer, err := protojson.Marshal(tle)
	if err != nil {
		fail(http.StatusInternalServerError, "encoding answer: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(answer)
}

// add appends an entry and answers what rekor-tiles answers: the entry with an inclusion proof
// against a freshly signed checkpoint, and no integrated time.
func (l *rekorV2Log) add(entry *rekorv2pb.Entry) (*protorekor.TransparencyLogEntry, int, error) {
	raw, err := protojson.Marshal(entry)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	canonical, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	leaf := string(rfc6962.DefaultHasher.HashLeaf(canonical))
	if l.seen[leaf] {
		return nil, http.StatusConflict, fmt.Errorf("an equivalent entry already exists in the transparency log")
	}
	l.seen[leaf] = true
	l.tree.AppendData(canonical)
	size := l.tree.Size()
	index := size - 1
	proof, err := l.tree.InclusionProof(index, size)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	rootHash := l.tree.Hash()
	cp := flog.Checkpoint{Origin: l.origin, Size: size, Hash: rootHash}
	signed, err := sumdbnote.Sign(&sumdbnote.Note{Text: string(cp.Marshal())}, l.signer)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:    int64(index),
		LogId:       &protocommon.LogId{KeyId: l.logID},
		KindVersion: &protorekor.KindVersion{Kind: entry.GetKind(), Version: entry.GetApiVersion()},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   int64(index),
			RootHash:   rootHash,
			TreeSize:   int64(size),
			Hashes:     proof,
			Checkpoint: &protorekor.Checkpoint{Envelope: string(signed)},
		},
		CanonicalizedBody: canonical,
	}, 0, nil
}
