package vulns

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/anchore/grype/grype/vulnerability"
)

// ErrGate is returned by Gate.Check when findings fail the gate on purpose.
var ErrGate = errors.New("vulnerability gate failed")

// FailOnLevels are the words fail-on-severity takes, lowest first.
var FailOnLevels = []string{"none", "negligible", "low", "medium", "high", "critical"}

// ParseFailOn reads a fail-on-severity value. "none" is Grype's unknown severity, which as a
// threshold never fails, as in Grype.
func ParseFailOn(s string) (Severity, error) {
	if s == "none" {
		return vulnerability.UnknownSeverity, nil
	}
	for _, l := range FailOnLevels[1:] {
		if s == l {
			return vulnerability.ParseSeverity(s), nil
		}
	}
	return vulnerability.UnknownSeverity, fmt.Errorf("must be one of %s, got %q", strings.Join(FailOnLevels, ", "), s)
}

// Gate decides whether findings fail the run.
type Gate struct {
	// FailOn is the lowest severity that fails; the unknown severity (fail-on-severity: none)
	// never fails, and findings of unknown severity never fail, as in Grype.
	FailOn Severity
	// OnlyFixed ignores findings without a known fixed version.
	OnlyFixed bool
}

// Failing lists the findings that fail the gate: at or above FailOn, not suppressed by VEX,
// and (with OnlyFixed) fixed in some version.
func (g Gate) Failing(fs []Finding) []Finding {
	if g.FailOn == vulnerability.UnknownSeverity {
		return nil
	}
	var out []Finding
	for _, f := range fs {
		if f.Suppressed() || f.Severity < g.FailOn || (g.OnlyFixed && !f.Fixed()) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// Check returns an error wrapping ErrGate that counts and names the failing findings.
func (g Gate) Check(fs []Finding) error {
	failing := g.Failing(fs)
	if len(failing) == 0 {
		return nil
	}
	var ids []string
	for _, f := range failing {
		if len(ids) == 5 {
			ids = append(ids, "…")
			break
		}
		ids = append(ids, fmt.Sprintf("%s in %s %s", f.ID, f.Package.Name, f.Package.Version))
	}
	what := "finding"
	if len(failing) > 1 {
		what = "findings"
	}
	fixed := ""
	if g.OnlyFixed {
		fixed = " with a fix"
	}
	return fmt.Errorf("%w: %d %s of severity %s or higher%s (%s)", ErrGate, len(failing), what, strings.ToLower(g.FailOn.String()), fixed, strings.Join(ids, ", "))
}

// Counts are findings by severity, after VEX.
type Counts struct {
	Critical   int `json:"critical"`
	High       int `json:"high"`
	Medium     int `json:"medium"`
	Low        int `json:"low"`
	Negligible int `json:"negligible"`
	Unknown    int `json:"unknown"`
}

// Count tallies the findings VEX did not suppress. The same vulnerability in the same package
// version counts once, so several platforms of one image do not multiply it.
func Count(fs []Finding) Counts {
	var c Counts
	open, _ := Distinct(fs)
	for _, f := range open {
		switch f.Severity {
		case vulnerability.CriticalSeverity:
			c.Critical++
		case vulnerability.HighSeverity:
			c.High++
		case vulnerability.MediumSeverity:
			c.Medium++
		case vulnerability.LowSeverity:
			c.Low++
		case vulnerability.NegligibleSeverity:
			c.Negligible++
		default:
			c.Unknown++
		}
	}
	return c
}

// Total is the number of findings counted.
func (c Counts) Total() int {
	return c.Critical + c.High + c.Medium + c.Low + c.Negligible + c.Unknown
}

// String is the counts as a log line or summary says them.
func (c Counts) String() string {
	return fmt.Sprintf("%d critical, %d high, %d medium, %d low, %d negligible, %d unknown", c.Critical, c.High, c.Medium, c.Low, c.Negligible, c.Unknown)
}

// JSON is the vulnerability-counts output.
func (c Counts) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}
