// Package hashes gives an image's components hashes of three kinds, each recorded as what it
// is and never passed off as another:
//
//  1. Recorded: the hash of the deployable form (the .deb, the wheel) as the image itself
//     records it — apt's package lists, a wheel's direct_url.json;
//  2. Resolved: the same, looked up in the component's registry (PyPI's JSON API, the Debian
//     archive's Packages index) when the run is allowed the network, and with downloads the
//     artifact's SHA-512;
//  3. Installed files: otherwise, a digest of the package's files as they are in the image.
//
// The image is read through pkgdb; the network only through the Resolver, which has its own
// concurrency, timeouts and per-run cap, and whose failures are listed, never fatal.
package hashes
