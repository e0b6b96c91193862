// Package vulns matches an SBOM against Grype's vulnerability database with the Grype library,
// applies OpenVEX and CycloneDX VEX statements, writes the findings as a CycloneDX vulnerability
// report about the SBOM's components, and decides the severity gate.
package vulns
