// Package admission writes the Kyverno policy that admits exactly what a run signed and attested
// — an ImageValidatingPolicy or a classic ClusterPolicy, with the trust its Sigstore instance
// needs — and evaluates the rules of such a policy offline against an image's bundles.
package admission
