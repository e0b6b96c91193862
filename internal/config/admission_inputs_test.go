package config

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/admission"
)

func TestAdmissionInputs(t *testing.T) {
	img := "ghcr.io/acme/app@" + digest
	tests := []struct {
		name   string
		input  map[string]string // INPUT_* names without the prefix
		bad    string            // the input named in the error, "" when valid
		sign   bool
		policy admission.Kind
	}{
		{name: "defaults", input: map[string]string{}, policy: admission.KindNone},
		{name: "sign-image follows push-to-registry", input: map[string]string{"PUSH-TO-REGISTRY": "true"}, sign: true, policy: admission.KindNone},
		{name: "sign-image off", input: map[string]string{"PUSH-TO-REGISTRY": "true", "SIGN-IMAGE": "false"}, policy: admission.KindNone},
		{name: "a policy with a glob and a ref pattern", input: map[string]string{"KYVERNO-POLICY": "cluster-policy",
			"KYVERNO-IMAGE-GLOB": "ghcr.io/acme/*", "KYVERNO-REF-PATTERN": `refs/tags/v\d+\..*`}, policy: admission.KindClusterPolicy},
		{name: "sign-image without pushing", input: map[string]string{"SIGN-IMAGE": "true"}, bad: "sign-image"},
		{name: "sign-image yes", input: map[string]string{"PUSH-TO-REGISTRY": "true", "SIGN-IMAGE": "yes"}, bad: "sign-image"},
		{name: "kyverno-policy kind unknown", input: map[string]string{"KYVERNO-POLICY": "policy"}, bad: "kyverno-policy"},
		{name: "a glob with a space", input: map[string]string{"KYVERNO-POLICY": "image-validating", "KYVERNO-IMAGE-GLOB": "ghcr.io/a b"}, bad: "kyverno-image-glob"},
		{name: "an unbalanced glob", input: map[string]string{"KYVERNO-POLICY": "image-validating", "KYVERNO-IMAGE-GLOB": "ghcr.io/{a,b"}, bad: "kyverno-image-glob"},
		{name: "a ref pattern that does not compile", input: map[string]string{"KYVERNO-POLICY": "image-validating", "KYVERNO-REF-PATTERN": "refs/(tags"}, bad: "kyverno-ref-pattern"},
		{name: "an anchored ref pattern", input: map[string]string{"KYVERNO-POLICY": "image-validating", "KYVERNO-REF-PATTERN": "^refs/tags/.*"}, bad: "kyverno-ref-pattern"},
		{name: "a glob without a policy", input: map[string]string{"KYVERNO-IMAGE-GLOB": "ghcr.io/acme/*"}, bad: "kyverno-image-glob"},
		{name: "a ref pattern without a policy", input: map[string]string{"KYVERNO-REF-PATTERN": "refs/tags/.*"}, bad: "kyverno-ref-pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{"INPUT_IMAGE": img}
			for k, v := range tt.input {
				kv["INPUT_"+k] = v
			}
			c, err := Load(nil, env(kv), io.Discard)
			if tt.bad != "" {
				var errs Errors
				if !errors.As(err, &errs) || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), tt.bad+": ") {
					t.Fatalf("error %v, want one naming %s", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SignImage != tt.sign || c.KyvernoPolicy != tt.policy {
				t.Errorf("sign-image %v kyverno-policy %q, want %v %q", c.SignImage, c.KyvernoPolicy, tt.sign, tt.policy)
			}
		})
	}
}
