// Package patchtext reads the text files of a patch tree as the hostile input they may be: a
// patch's header before its diff (git format-patch mail, DEP-3 fields, free text) into what
// CycloneDX pedigree records, and any such file as lines of bounded length within a bounded
// prefix.
package patchtext
