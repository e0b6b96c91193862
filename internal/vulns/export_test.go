package vulns

// MatcherConfig is exported for the test comparing it with Grype's command line defaults.
var MatcherConfig = matcherConfig

// ParseVEX is exported for the fuzz target.
var ParseVEX = func(file string, data []byte) (int, error) {
	sts, err := parseVEX(file, data)
	return len(sts), err
}
