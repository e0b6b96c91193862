// Package memlimit gives the Go runtime a soft memory limit that follows the live heap, so a run
// that must hold a large image's file trees and package model at once carries a little garbage
// on top of them rather than as much again, which is what Go's default pacing allows.
package memlimit
