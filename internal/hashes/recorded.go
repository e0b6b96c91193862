package hashes

import (
	"net/url"
	"path"

	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// Why an artifact is missing, when nothing more specific is known.
const (
	whyNoAptLists  = "the image keeps no apt lists (/var/lib/apt/lists) to read the .deb's name, URL and SHA-256 from; keep them, or set resolve-hashes: true"
	whyNotInLists  = "the image's apt lists do not list this version; set resolve-hashes: true"
	whyNoDirectURL = "the image records no hash of the wheel it was installed from (no direct_url.json); set resolve-hashes: true"
	whyOtherType   = "bom-attest finds deployable forms for deb and pypi packages, and npm packages installed by a .deb"
)

// recorded fills each target's artifact from what the image records: apt's lists for a .deb
// (a Python or npm package a .deb installed gets that .deb's), direct_url.json for a wheel.
func recorded(im *pkgdb.Image, targets []*target) {
	for _, t := range targets {
		p := t.rec.Debian(im)
		if t.res.NoArtifact != "" && p == nil {
			continue
		}
		if p != nil {
			t.res.Artifact, t.res.NoArtifact = aptArtifact(im, t, *p)
			continue
		}
		switch t.rec.Type {
		case "pypi":
			t.res.Artifact, t.res.NoArtifact = directURLArtifact(t)
		default:
			t.res.NoArtifact = whyOtherType
		}
	}
}

func aptArtifact(im *pkgdb.Image, t *target, p pkgdb.DebPackage) (*Artifact, string) {
	if im.Apt == nil {
		return nil, whyNoAptLists
	}
	a, ok := im.Apt.Entries[pkgdb.DebKey{Name: p.Name, Version: p.Version, Arch: p.Arch}]
	if !ok {
		return nil, whyNotInLists
	}
	return debArtifact(a, p, t, KindRecorded, "apt lists"), ""
}

// debArtifact describes the .deb an index entry names, for t (the deb itself, or a package it
// installed).
func debArtifact(a pkgdb.DebArtifact, p pkgdb.DebPackage, t *target, kind Kind, from string) *Artifact {
	art := &Artifact{Kind: kind, From: from, URL: a.URL(), Filename: path.Base(a.Filename),
		SHA256: a.SHA256, SHA512: a.SHA512, Size: a.Size, SourceURL: a.SourceURL(p.Version)}
	if t.rec.Deb < 0 {
		art.Via = p.Name
	}
	return art
}

func directURLArtifact(t *target) (*Artifact, string) {
	if t.rec.Dist == nil {
		return nil, "its dist-info directory was not found; set resolve-hashes: true"
	}
	du := t.rec.Dist.DirectURL
	if du == nil || du.SHA256 == "" {
		return nil, whyNoDirectURL
	}
	a := &Artifact{Kind: KindRecorded, From: "direct_url.json", Filename: du.ArchiveName(), SHA256: du.SHA256}
	// A file: URL names a file on the machine that built the image, which nobody else can
	// fetch; only the hash and the name are kept.
	if u, err := url.Parse(du.URL); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		u.User = nil
		a.URL = u.String()
	}
	return a, ""
}
