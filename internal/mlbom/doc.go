// Package mlbom finds the models inside an image and turns them, with the model manifest, into a
// CycloneDX ML-BOM, and makes the SBOM's model components say the same thing.
//
// This stage owns model components. When it runs, the sbom stage turns Syft's model catalogers
// off (sbom.Options.SkipModels), and Build puts its own components in the SBOM; it does not
// build on Syft's. Syft names a fine-tuned model after its base model, leaves it unhashed, reads
// no ONNX, and records a model's files only as syft:location:N:path properties: building on its
// results meant parsing every model file twice, then matching Syft's components to ours by
// parsing those properties back, to rename and re-point them. With one owner, each file is read once and the two documents agree by
// construction (same name, version, hashes, purl and bom-ref). A model component the SBOM
// already has that Build did not make (another tool's) is kept, and copied to the ML-BOM.
//
// The file-format readers live in modelfile, chosen by file name; the manifest is decoded by
// modelmanifest.
package mlbom
