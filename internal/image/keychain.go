package image

import (
	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain is the docker config keychain (config.json, credsStore, credHelpers), with the
// workflow's token answering for ghcr.io when the docker config has nothing for it.
func Keychain(githubToken, actor string) authn.Keychain {
	if githubToken == "" {
		return authn.DefaultKeychain
	}
	return authn.NewMultiKeychain(authn.DefaultKeychain, ghcrKeychain{token: githubToken, user: actor})
}

type ghcrKeychain struct{ token, user string }

func (k ghcrKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() != "ghcr.io" {
		return authn.Anonymous, nil
	}
	user := k.user
	if user == "" {
		// ghcr.io checks the token, not the name; any non-empty user works.
		user = "x-access-token"
	}
	return &authn.Basic{Username: user, Password: k.token}, nil
}
