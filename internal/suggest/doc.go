// Package suggest measures how far a misspelt name is from the names that exist, so errors about
// inputs, manifest fields and patch directories can say what the user probably meant.
package suggest
