package sbom

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/hashes"
	"github.com/bom-attest/bom-attest/internal/pkgdb"
)

// EnrichOptions tune Enrich.
type EnrichOptions struct {
	SpecVersion cyclonedx.SpecVersion
	Namespace   string // property prefix (input property-namespace)
	// BSI adds the BSI TR-03183-2 properties (bsi:component:*), from CycloneDX 1.6 on.
	BSI bool
	// Hashes are the components' hashes by bom-ref (hashes.Compute over this BOM's
	// components, each with its Location).
	Hashes map[string]*hashes.Result
	// ResolveHashes and HashDownloads say what the run was allowed, so a gap names the input
	// that would fill it.
	ResolveHashes, HashDownloads bool
}

// Enrichment is what Enrich added, and why the rest is missing.
type Enrichment struct {
	Gaps       check.Gaps
	Creators   int // components given a creator
	Concluded  int // components given a concluded licence
	AddedEdges int // dependency edges added from dpkg's Depends

	installed int // components whose own hash is their installed files' digest
}

// Enrich fills the SBOM's components with what the image says about them (im) and the hashes
// found for them: creators, licence acknowledgements and concluded licences, hashes of the
// three kinds, BSI properties, and compositions stating what is known to be complete. It adds
// only what the image or a registry really says; for the rest it records why in the gaps.
func Enrich(ctx context.Context, bom *cyclonedx.BOM, im *pkgdb.Image, o EnrichOptions) (*Enrichment, error) {
	if o.Namespace == "" {
		return nil, errors.New("sbom: empty property namespace")
	}
	e := &Enrichment{Gaps: check.Gaps{}}
	if bom.Components == nil {
		return e, nil
	}
	comps := *bom.Components
	// A bom-ref two components share has one Result, the record of only one of them.
	refs := make(map[string]int, len(comps))
	for i := range comps {
		refs[comps[i].BOMRef]++
	}
	recs := make([]pkgdb.Record, len(comps))
	for i := range comps {
		if i%512 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		c := &comps[i]
		rec := record(ctx, c, im, o.Hashes, refs[c.BOMRef] == 1)
		recs[i] = rec
		if rec.Type == "npm" {
			retypeRepository(c)
		}
		e.creator(c, rec, im, o)
		if err := e.licences(ctx, c, rec, im, o); err != nil {
			return nil, err
		}
		e.hashes(c, rec, o)
		e.bsi(c, rec, o)
	}
	e.compositions(bom, im, recs)
	if e.installed > 0 {
		installedKind(bom, o.Namespace)
	}
	return e, nil
}

// record is what the image records about c: the match hashes.Compute made when its result is
// c's alone, else (no result, or a bom-ref shared) a match made now.
func record(ctx context.Context, c *cyclonedx.Component, im *pkgdb.Image, hs map[string]*hashes.Result, unique bool) pkgdb.Record {
	if res := hs[c.BOMRef]; res != nil && unique {
		return res.Record
	}
	rec, ok := im.Find(ctx, c.PackageURL, Location(c))
	if !ok {
		rec = pkgdb.Record{Type: purlType(c.PackageURL), Deb: -1, Owner: -1}
	}
	return rec
}

// installedKind says once, in metadata.properties, that a component's own hashes are the digest
// of its installed files unless the component's own <ns>:hash:kind says otherwise (a recorded
// hash with no download URL): the kind most components carry, named on each, would be about
// 60 bytes a component.
func installedKind(bom *cyclonedx.BOM, ns string) {
	if bom.Metadata == nil {
		bom.Metadata = &cyclonedx.Metadata{}
	}
	var props []cyclonedx.Property
	if bom.Metadata.Properties != nil {
		props = *bom.Metadata.Properties
	}
	name := check.HashKindProperty(ns)
	for _, p := range props {
		if p.Name == name {
			return
		}
	}
	props = append(props, cyclonedx.Property{Name: name, Value: string(hashes.KindInstalledFiles)})
	bom.Metadata.Properties = &props
}

// Location is the first path Syft recorded for a component (syft:location:N:path), "" for none.
func Location(c *cyclonedx.Component) string {
	if c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if strings.HasPrefix(p.Name, "syft:location:") && strings.HasSuffix(p.Name, ":path") {
			return p.Value
		}
	}
	return ""
}

func purlType(p string) string {
	rest, ok := strings.CutPrefix(p, "pkg:")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(t)
}

// creator sets who made the component, from what its package records: Debian's Maintainer,
// a Python distribution's author or maintainer and project URL, an npm package's author. At
// CycloneDX 1.6 and later it is the component's manufacturer (BSI's "creator"); at 1.5, which
// has no manufacturer, its supplier.
func (e *Enrichment) creator(c *cyclonedx.Component, rec pkgdb.Record, im *pkgdb.Image, o EnrichOptions) {
	var p Party
	switch rec.Type {
	case "deb":
		maint := c.Publisher
		if rec.Deb >= 0 {
			maint = im.Dpkg.Packages[rec.Deb].Maintainer
		}
		p.Name, p.Emails = ParseAddresses(maint)
	case "pypi":
		if d := rec.Dist; d != nil {
			p = pythonParty(d)
		}
	case "npm":
		p = parseNpmPerson(c.Author)
	default:
		if c.Type == cyclonedx.ComponentTypeOS && im.OS.Name != "" {
			// The distribution made its release, as its os-release says.
			p = Party{Name: im.OS.Name, URL: webURL(im.OS.HomeURL)}
			break
		}
		e.Gaps.Set(c.BOMRef, check.FieldProducer, check.WhyUnknown, "bom-attest reads creators from Debian, Python and npm package metadata only")
		e.Gaps.Set(c.BOMRef, check.FieldCreator, check.WhyUnknown, "bom-attest reads creators from Debian, Python and npm package metadata only")
		return
	}
	if p.Name == "" && len(p.Emails) > 0 {
		p.Name = p.Emails[0]
	}
	if p.Name == "" {
		why := map[string]string{"deb": "its dpkg entry has no Maintainer", "pypi": "its METADATA names no author or maintainer", "npm": "its package.json names no author"}[rec.Type]
		if rec.Type == "pypi" && rec.Dist == nil {
			why = "its dist-info directory was not found (or several match and the SBOM does not say which)"
		}
		e.Gaps.Set(c.BOMRef, check.FieldProducer, check.WhyUnknown, why)
		e.Gaps.Set(c.BOMRef, check.FieldCreator, check.WhyUnknown, why)
		return
	}
	if !p.Contact() {
		e.Gaps.Set(c.BOMRef, check.FieldCreator, check.WhyUnknown, "its package metadata gives a name but no e-mail address or URL")
	}
	if o.SpecVersion >= cyclonedx.SpecVersion1_6 {
		if c.Manufacturer == nil {
			c.Manufacturer = p.entity()
			dropRepeatedCreator(c, p)
		}
	} else if c.Supplier == nil {
		c.Supplier = p.entity()
		dropRepeatedCreator(c, p)
	}
	e.Creators++
}

// dropRepeatedCreator clears Syft's string for who made the package (publisher for dpkg's
// Maintainer, author for Python and npm) when it is exactly what the entity made of p says —
// one name and at most one address — so nothing is lost: on a large image the repetition is
// about 50 bytes a component of the attested document. The full document keeps Syft's string
// (fullComponents).
func dropRepeatedCreator(c *cyclonedx.Component, p Party) {
	if len(p.Emails) > 1 {
		return
	}
	same := p.Name // a name alone, or an address alone standing for the name
	if len(p.Emails) == 1 && p.Emails[0] != p.Name {
		same = p.Name + " <" + p.Emails[0] + ">"
	}
	if c.Publisher == same {
		c.Publisher = ""
	}
	if c.Author == same {
		c.Author = ""
	}
}

// projectLabels are the Project-URL labels taken for a creator's URL, in order of preference.
var projectLabels = []string{"homepage", "home", "source", "source code", "repository", "code"}

func pythonParty(d *pkgdb.PythonDist) Party {
	var p Party
	for _, pair := range [][2]string{{d.Author, d.AuthorEmail}, {d.Maintainer, d.MaintainerEmail}} {
		name, emails := ParseAddresses(pair[1])
		if pair[0] != "" && len(pair[0]) <= maxPartyName {
			name = pair[0]
		}
		if name != "" || len(emails) > 0 {
			p.Name, p.Emails = name, emails
			break
		}
	}
	p.URL = webURL(d.HomePage)
	for _, l := range projectLabels {
		if p.URL != "" {
			break
		}
		for _, u := range d.ProjectURLs {
			if strings.EqualFold(u.Label, l) {
				if p.URL = webURL(u.URL); p.URL != "" {
					break
				}
			}
		}
	}
	if p.Name == "" && p.URL != "" {
		// A URL alone is who made it, as far as the metadata says.
		p.Name = p.URL
	}
	return p
}

// licences marks what the package declares as declared (from CycloneDX 1.6, which has the
// acknowledgement) and adds the licence bom-attest concludes from a Debian machine-readable
// copyright file: all the licences of its Files paragraphs.
func (e *Enrichment) licences(ctx context.Context, c *cyclonedx.Component, rec pkgdb.Record, im *pkgdb.Image, o EnrichOptions) error {
	v := o.SpecVersion
	if c.Licenses == nil || len(*c.Licenses) == 0 {
		e.Gaps.Set(c.BOMRef, check.FieldDeclared, check.WhyUnknown, "its package metadata declares no licence")
		e.Gaps.Set(c.BOMRef, check.FieldLicence, check.WhyUnknown, "its package metadata declares no licence")
	} else if v >= cyclonedx.SpecVersion1_6 {
		for i := range *c.Licenses {
			l := &(*c.Licenses)[i]
			switch {
			case l.License != nil && l.License.Acknowledgement == "":
				l.License.Acknowledgement = cyclonedx.LicenseAcknowledgementDeclared
			case l.License == nil && l.Expression != "" && l.Acknowledgement == nil:
				ack := cyclonedx.LicenseAcknowledgementDeclared
				l.Acknowledgement = &ack
			}
		}
	} else {
		e.Gaps.Set(c.BOMRef, check.FieldDeclared, check.WhyWithheld, "CycloneDX 1.5 has no licence acknowledgement; use cyclonedx-version 1.6 or later")
	}
	if rec.Type != "deb" || rec.Deb < 0 {
		e.Gaps.Set(c.BOMRef, check.FieldConcluded, check.WhyWithheld, "bom-attest concludes licences only from Debian machine-readable copyright files")
		return nil
	}
	cr, err := pkgdb.ReadCopyright(ctx, im.Files(), im.Dpkg.Packages[rec.Deb].Name)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		why := "its copyright file cannot be read: " + err.Error()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			why = "the image has no /usr/share/doc/" + im.Dpkg.Packages[rec.Deb].Name + "/copyright (removed to save space?)"
		case errors.Is(err, pkgdb.ErrNotMachineReadable):
			why = "its copyright file is not machine-readable (DEP-5), so no licence can be concluded from it"
		}
		e.Gaps.Set(c.BOMRef, check.FieldConcluded, check.WhyUnknown, why)
		return nil
	}
	expr, ok := concludeDebian(cr.Licenses)
	if !ok {
		e.Gaps.Set(c.BOMRef, check.FieldConcluded, check.WhyUnknown, "its copyright file names a licence bom-attest cannot write as SPDX: "+strings.Join(cr.Licenses, "; "))
		return nil
	}
	concluded := cyclonedx.LicenseAcknowledgementConcluded
	switch {
	case v < cyclonedx.SpecVersion1_6:
		e.Gaps.Set(c.BOMRef, check.FieldConcluded, check.WhyWithheld, "CycloneDX 1.5 cannot mark a licence concluded; use cyclonedx-version 1.6 or later")
		return nil
	case v >= cyclonedx.SpecVersion1_7:
		// 1.7 lets a list hold licences and an expression side by side.
		l := cyclonedx.Licenses{}
		if c.Licenses != nil {
			l = *c.Licenses
		}
		l = append(l, cyclonedx.LicenseChoice{Expression: expr, Acknowledgement: &concluded})
		c.Licenses = &l
	case c.Licenses == nil || len(*c.Licenses) == 0:
		c.Licenses = &cyclonedx.Licenses{{Expression: expr, Acknowledgement: &concluded}}
	case check.SPDXLicense(expr) && (*c.Licenses)[0].License != nil:
		l := append(*c.Licenses, cyclonedx.LicenseChoice{License: &cyclonedx.License{ID: expr, Acknowledgement: concluded}})
		c.Licenses = &l
	default:
		e.Gaps.Set(c.BOMRef, check.FieldConcluded, check.WhyWithheld, "CycloneDX 1.6 cannot hold the declared licences and the concluded expression "+expr+" together; use cyclonedx-version 1.7")
		return nil
	}
	e.Concluded++
	return nil
}

// hashes records the component's hashes: the deployable form's under
// externalReferences[distribution] (with its source distribution beside it), else the digest of
// its installed files as the component's own hash, each with a property saying which kind it is.
func (e *Enrichment) hashes(c *cyclonedx.Component, rec pkgdb.Record, o EnrichOptions) {
	ref := c.BOMRef
	res := o.Hashes[ref]
	kindProp := check.HashKindProperty(o.Namespace)
	if res == nil {
		why := "bom-attest hashes Debian, Python and npm packages only"
		for _, f := range []check.Field{check.FieldHash, check.FieldDeployable, check.FieldSHA512, check.FieldFilename, check.FieldDistribution, check.FieldSource} {
			e.Gaps.Set(ref, f, check.WhyUnknown, why)
		}
		if c.Hashes != nil && len(*c.Hashes) > 0 {
			delete(e.Gaps[ref], check.FieldHash)
		}
		return
	}
	if a := res.Artifact; a != nil {
		hs := []cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: a.SHA256}}
		if a.SHA512 != "" {
			hs = append(hs, cyclonedx.Hash{Algorithm: cyclonedx.HashAlgoSHA512, Value: a.SHA512})
		}
		if a.URL != "" {
			addRef(c, cyclonedx.ExternalReference{Type: cyclonedx.ERTypeDistribution, URL: a.URL, Hashes: &hs})
		} else if c.Hashes == nil {
			c.Hashes = &hs
			e.Gaps.Set(ref, check.FieldDeployable, check.WhyUnknown, "the image records the hash of its "+a.Filename+" but not where it was downloaded from")
			e.Gaps.Set(ref, check.FieldDistribution, check.WhyUnknown, "the image records the hash of its "+a.Filename+" but not where it was downloaded from")
		}
		switch {
		case a.SourceURL != "" && o.SpecVersion >= cyclonedx.SpecVersion1_6:
			// CycloneDX has the source-distribution reference from 1.6 on.
			addRef(c, cyclonedx.ExternalReference{Type: cyclonedx.ERTypeSourceDistribution, URL: a.SourceURL})
		case a.SourceURL != "":
			e.Gaps.Set(ref, check.FieldSource, check.WhyWithheld, "CycloneDX 1.5 has no source-distribution reference; use cyclonedx-version 1.6 or later")
		default:
			e.Gaps.Set(ref, check.FieldSource, check.WhyUnknown, "its source distribution is not known (PyPI lists no sdist for it, or the .deb's archive is not known)")
		}
		if a.SHA512 == "" {
			if o.HashDownloads {
				e.Gaps.Set(ref, check.FieldSHA512, check.WhyUnknown, "its download for the SHA-512 failed (see the resolve failures)")
			} else {
				e.Gaps.Set(ref, check.FieldSHA512, check.WhyWithheld, "only a download gives the SHA-512 of "+a.Filename+"; set resolve-hashes: true and hash-downloads: true")
			}
		}
		setProperty(c, kindProp, string(a.Kind))
		if a.Filename != "" && o.BSI && o.SpecVersion >= cyclonedx.SpecVersion1_6 {
			setProperty(c, check.BSIFilename, a.Filename)
		} else if a.Filename == "" {
			e.Gaps.Set(ref, check.FieldFilename, check.WhyUnknown, "the name of the file it was distributed as is not recorded")
		}
		return
	}
	why := res.NoArtifact
	whyKind := check.WhyUnknown
	if !o.ResolveHashes && (rec.Type == "deb" || rec.Type == "pypi" || rec.Owner >= 0) {
		whyKind = check.WhyWithheld
		if why == "" {
			why = "set resolve-hashes: true to look it up"
		}
	}
	for _, f := range []check.Field{check.FieldDeployable, check.FieldSHA512, check.FieldFilename, check.FieldDistribution, check.FieldSource} {
		e.Gaps.Set(ref, f, whyKind, why)
	}
	if in := res.Installed; in != nil && in.SHA256 != "" && c.Hashes == nil {
		c.Hashes = &[]cyclonedx.Hash{{Algorithm: cyclonedx.HashAlgoSHA256, Value: in.SHA256}}
		// The document names this kind once (installedKind); the component carries none.
		e.installed++
		return
	}
	if c.Hashes == nil || len(*c.Hashes) == 0 {
		e.Gaps.Set(ref, check.FieldHash, check.WhyUnknown, "no deployable form is known and its installed files cannot be hashed: "+res.NoInstalled)
	}
}

// bsi adds BSI TR-03183-2's file properties where they hold: a Debian, Python or npm package is
// distributed as an archive (.deb, wheel or sdist, npm tarball) that keeps the metadata of its
// contents; it is executable when one of its files is an ELF file or has an execute bit.
func (e *Enrichment) bsi(c *cyclonedx.Component, rec pkgdb.Record, o EnrichOptions) {
	ref := c.BOMRef
	if o.SpecVersion < cyclonedx.SpecVersion1_6 {
		for _, f := range []check.Field{check.FieldFilename, check.FieldExecutable, check.FieldArchive} {
			e.Gaps.Set(ref, f, check.WhyNotApplicable, "BSI TR-03183-2 v2.1 needs CycloneDX 1.6 or later")
		}
		return
	}
	if !o.BSI {
		return
	}
	switch rec.Type {
	case "deb", "pypi", "npm":
		setProperty(c, check.BSIArchive, "archive")
		setProperty(c, check.BSIStructured, "structured")
	default:
		e.Gaps.Set(ref, check.FieldArchive, check.WhyUnknown, "bom-attest knows the distribution format of Debian, Python and npm packages only")
	}
	res := o.Hashes[ref]
	switch {
	case res != nil && res.Installed != nil:
		v := "non-executable"
		if res.Installed.Executable {
			v = "executable"
		}
		setProperty(c, check.BSIExecutable, v)
	case res != nil && res.NoInstalled != "":
		e.Gaps.Set(ref, check.FieldExecutable, check.WhyUnknown, "its files could not be examined: "+res.NoInstalled)
	default:
		e.Gaps.Set(ref, check.FieldExecutable, check.WhyUnknown, "bom-attest examines the files of Debian, Python and npm packages only")
	}
}

// retypeRepository corrects the "distribution" references Syft gives npm packages: Syft files
// package.json's repository URL there, and a source repository is not the file a package was
// distributed as.
func retypeRepository(c *cyclonedx.Component) {
	if c.ExternalReferences == nil {
		return
	}
	for i := range *c.ExternalReferences {
		r := &(*c.ExternalReferences)[i]
		if r.Type == cyclonedx.ERTypeDistribution && (r.Hashes == nil || len(*r.Hashes) == 0) {
			r.Type = cyclonedx.ERTypeVCS
		}
	}
}

func addRef(c *cyclonedx.Component, r cyclonedx.ExternalReference) {
	var refs []cyclonedx.ExternalReference
	if c.ExternalReferences != nil {
		refs = *c.ExternalReferences
	}
	for _, have := range refs {
		if have.Type == r.Type && have.URL == r.URL && have.Hashes != nil {
			return
		}
	}
	refs = append(refs, r)
	c.ExternalReferences = &refs
}

// setProperty adds name=value unless the component has a property of that name already.
func setProperty(c *cyclonedx.Component, name, value string) {
	var props []cyclonedx.Property
	if c.Properties != nil {
		props = *c.Properties
	}
	for _, p := range props {
		if p.Name == name {
			return
		}
	}
	props = append(props, cyclonedx.Property{Name: name, Value: value})
	c.Properties = &props
}
