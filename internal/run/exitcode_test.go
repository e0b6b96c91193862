package run

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bom-attest/bom-attest/internal/vulns"
)

// A run of several images exits 2 only when every image that failed failed a gate; one image
// that failed otherwise makes it 1.
func TestExitCode(t *testing.T) {
	gate := gateError{fmt.Errorf("vulnerabilities: %w", vulns.ErrGate)}
	pulled := errors.New("image: layer 1: blob unknown")
	failed := func(errs ...error) *imagesError {
		e := &imagesError{of: len(errs) + 1}
		for i, err := range errs {
			e.failed = append(e.failed, &imagePipeline{key: fmt.Sprint("img", i), err: err})
		}
		return e
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"one image, gate", gate, ExitGate},
		{"one image, failure", pulled, ExitFailed},
		{"several, gates only", failed(gate, gate), ExitGate},
		{"several, a gate and a failure", failed(gate, pulled), ExitFailed},
		{"several, failures", failed(pulled), ExitFailed},
		{"what the images share", errors.New("ID token: 403"), ExitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
