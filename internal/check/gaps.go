package check

// Field is one thing an SBOM component can carry that a minimum element asks for. The stage
// that fills the SBOM says, per component and field, why a value is missing (a Gap); the
// compliance report quotes it.
type Field string

// The fields the CISA and BSI elements read.
const (
	FieldProducer     Field = "producer"          // supplier or manufacturer, with a name
	FieldCreator      Field = "creator"           // manufacturer (supplier at 1.5) with an e-mail or URL
	FieldHash         Field = "hash"              // a hash of the component, any kind
	FieldDeployable   Field = "deployable-hash"   // the deployable form's hash (externalReferences[distribution])
	FieldSHA512       Field = "sha512"            // the deployable form's SHA-512
	FieldFilename     Field = "filename"          // bsi:component:filename
	FieldDistribution Field = "distribution-uri"  // externalReferences[distribution].url
	FieldSource       Field = "source-uri"        // externalReferences[source-distribution].url
	FieldDeclared     Field = "declared-licence"  // licences with acknowledgement declared
	FieldConcluded    Field = "concluded-licence" // licences with acknowledgement concluded
	FieldLicence      Field = "licence"           // any licence
	FieldExecutable   Field = "executable"        // bsi:component:executable
	FieldArchive      Field = "archive"           // bsi:component:archive and :structured
	FieldDependencies Field = "dependencies"      // a composition stating the dependencies' completeness
)

// Why sorts the reasons a value is missing.
type Why string

const (
	// WhyUnknown: the image does not say (no apt lists, no author in METADATA).
	WhyUnknown Why = "unknown to the image"
	// WhyWithheld: bom-attest could say but this run does not (resolve-hashes off, a field
	// this CycloneDX version cannot hold).
	WhyWithheld Why = "withheld"
	// WhyNotApplicable: the element does not apply to the component.
	WhyNotApplicable Why = "not applicable"
)

// Gap says why a component lacks a field: the sort of reason, and a sentence naming what the
// user can do about it.
type Gap struct {
	Why    Why
	Detail string
}

// Gaps are the gaps of an SBOM's components, by bom-ref, then by field.
type Gaps map[string]map[Field]Gap

// Set records a gap, keeping the first one given for a component's field.
func (g Gaps) Set(ref string, f Field, why Why, detail string) {
	m := g[ref]
	if m == nil {
		m = map[Field]Gap{}
		g[ref] = m
	}
	if _, ok := m[f]; !ok {
		m[f] = Gap{Why: why, Detail: detail}
	}
}
