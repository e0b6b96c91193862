// Package deps pins the module graph while stages are written in parallel; removed once every stage imports its own.
package deps

import (
	_ "github.com/CycloneDX/cyclonedx-go"
	_ "github.com/anchore/syft/syft"
	_ "github.com/anchore/syft/syft/format/common/cyclonedxhelpers"
	_ "github.com/anchore/syft/syft/format/cyclonedxjson"
	_ "github.com/digitorus/timestamp"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/google/go-containerregistry/pkg/authn"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/layout"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-github/v66/github"
	_ "github.com/in-toto/attestation/go/v1"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/sethvargo/go-githubactions"
	_ "github.com/sigstore/sigstore-go/pkg/bundle"
	_ "github.com/sigstore/sigstore-go/pkg/root"
	_ "github.com/sigstore/sigstore-go/pkg/sign"
	_ "github.com/sigstore/sigstore-go/pkg/testing/ca"
	_ "github.com/sigstore/sigstore-go/pkg/verify"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
