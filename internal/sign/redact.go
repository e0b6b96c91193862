package sign

import (
	"errors"
	"strings"
)

// redactor removes secrets from everything the package lets out (errors, log lines), so a
// server that echoes a token back cannot make it leak.
type redactor struct {
	secrets []string
}

func (r *redactor) add(secret string) {
	if secret == "" {
		return
	}
	r.secrets = append(r.secrets, secret)
	// A JWT without its signature is harmless; its signature alone is not.
	if parts := strings.Split(secret, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		r.secrets = append(r.secrets, parts[2])
	}
}

func (r *redactor) str(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

func (r *redactor) err(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.str(err.Error()), cause: err}
}

// redactedError keeps errors.Is working without offering the unredacted error to Unwrap.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.cause, target) }
