package grypedbtest

import (
	"github.com/anchore/clio"
	"github.com/anchore/grype/cmd/grype/cli/options"
	"github.com/anchore/grype/grype/matcher"
	"github.com/anchore/grype/grype/matcher/dotnet"
	"github.com/anchore/grype/grype/matcher/dpkg"
	"github.com/anchore/grype/grype/matcher/golang"
	"github.com/anchore/grype/grype/matcher/hex"
	"github.com/anchore/grype/grype/matcher/java"
	"github.com/anchore/grype/grype/matcher/javascript"
	"github.com/anchore/grype/grype/matcher/python"
	"github.com/anchore/grype/grype/matcher/rpm"
	"github.com/anchore/grype/grype/matcher/ruby"
	"github.com/anchore/grype/grype/matcher/rust"
	"github.com/anchore/grype/grype/matcher/stock"
)

// CLIMatcherConfig is the matcher configuration Grype's command line builds from its default
// options (cmd/grype/cli/commands/root.go, getMatcherConfig), read from those options rather
// than restated, and the options themselves: what tests hold bom-attest's matching to.
func CLIMatcherConfig() (matcher.Config, options.Grype) {
	o := *options.DefaultGrype(clio.Identification{Name: "grype"})
	return matcher.Config{
		Java:       java.MatcherConfig{ExternalSearchConfig: o.ExternalSources.ToJavaMatcherConfig(), UseCPEs: o.Match.Java.UseCPEs},
		Ruby:       ruby.MatcherConfig(o.Match.Ruby),
		Python:     python.MatcherConfig(o.Match.Python),
		Dotnet:     dotnet.MatcherConfig(o.Match.Dotnet),
		Javascript: javascript.MatcherConfig(o.Match.Javascript),
		Golang: golang.MatcherConfig{UseCPEs: o.Match.Golang.UseCPEs, AlwaysUseCPEForStdlib: o.Match.Golang.AlwaysUseCPEForStdlib,
			AllowMainModulePseudoVersionComparison: o.Match.Golang.AllowMainModulePseudoVersionComparison},
		Rust:  rust.MatcherConfig(o.Match.Rust),
		Hex:   hex.MatcherConfig(o.Match.Hex),
		Stock: stock.MatcherConfig(o.Match.Stock),
		Dpkg:  dpkg.MatcherConfig{MissingEpochStrategy: o.Match.Dpkg.MissingEpochStrategy, UseCPEsForEOL: o.Match.Dpkg.UseCPEsForEOL},
		Rpm:   rpm.MatcherConfig{MissingEpochStrategy: o.Match.Rpm.MissingEpochStrategy, UseCPEsForEOL: o.Match.Rpm.UseCPEsForEOL},
	}, o
}
