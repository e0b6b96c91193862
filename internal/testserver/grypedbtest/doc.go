// Package grypedbtest builds Grype vulnerability databases with Grype's own writer and serves
// them on loopback the way grype.anchore.io does, with faults on demand, for the tests of the
// vulnerability stage and the bench, and gives the matcher configuration of Grype's command line
// they are held to; it is testserver's, apart because it links Grype's builder.
package grypedbtest
