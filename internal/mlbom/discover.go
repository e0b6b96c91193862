package mlbom

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	stfile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/syft/syft/file"

	"github.com/bom-attest/bom-attest/internal/modelfile"
	"github.com/bom-attest/bom-attest/internal/modelmanifest"
)

// Found is one model found in the image: its weight files, hashed, and what their headers and the
// Hugging Face files beside them say.
type Found struct {
	// Name is the model's own name: its Hugging Face cache repo, its directory, or a header's
	// name — never its base model, which becomes a pedigree ancestor instead.
	Name    string
	Version string
	PURL    string // pkg:huggingface/org/name@revision for a Hugging Face cache snapshot
	Dir     string // the directory the model lives in
	// Declared is the manifest path that claimed these files; "" when the scan found them.
	Declared string
	Format   string // safetensors, gguf, onnx, or the weight files' extension
	Files    []WeightFile
	Problems []string // headers that did not parse, missing external data, …

	// headers are what the weight files (in path order) and then the companion files said.
	headers []modelfile.Header
}

// WeightFile is one file of a model's weights, as it is in the image.
type WeightFile struct {
	Path   string
	Layer  string // digest of the layer the file comes from (squashed view: the last to write it)
	Size   int64
	SHA256 string
	SHA512 string
}

// DiscoverOptions tune Discover.
type DiscoverOptions struct {
	// Scan searches the whole image for model files, not only the paths the manifest declares.
	Scan bool
	// Hashes, shared by the platforms of a run, reads each weight file once per layer and path:
	// the platforms of a multi-platform image usually share the layer holding the model. nil
	// reads every file.
	Hashes *HashCache
}

// Directory names that say nothing about which model is inside: a model named after one of
// these falls back to its parent (sub-directories) or to the file and header names.
var (
	containerDirs = setOf("", "/", ".", "models", "model", "weights", "checkpoints", "checkpoint", "ckpt", "app", "opt", "srv", "data", "tmp", "usr", "local", "share", "root", "home")
	subDirs       = setOf("onnx", "safetensors", "gguf", "weights", "model")
)

func setOf(list ...string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// shardRe matches the sharded-weights naming convention, model-00001-of-00003.safetensors.
var shardRe = regexp.MustCompile(`^(.+)-(\d+)-of-(\d+)(\.[A-Za-z0-9_]+)$`)

// hfCacheRe matches a Hugging Face hub cache snapshot: models--org--name/snapshots/<revision>.
var hfCacheRe = regexp.MustCompile(`(?:^|/)models--([^/]+)/snapshots/([0-9a-fA-F]{7,64})(?:/|$)`)

// group is the set of files that become one Found.
type group struct {
	dir      string
	declared string
	locs     []file.Location
	shared   bool // other models live in the same directory, so the directory does not name it
}

// Discover finds the models in the image behind r. Every path the manifest declares is always
// hashed (a path that is not in the image is an error naming the field); with opts.Scan, the
// whole image is searched for the weight formats modelfile reads too. Weight files are hashed by
// streaming them once; headers are read from that same stream.
func Discover(ctx context.Context, r file.Resolver, m *modelmanifest.Manifest, opts DiscoverOptions) ([]Found, error) {
	var groups []*group
	claimed := map[string]bool{}
	if m != nil {
		for i, md := range m.Models {
			if md.Path == "" {
				continue
			}
			locs, dir, err := declaredFiles(ctx, r, md.Path)
			if err != nil {
				return nil, m.Errorf(fmt.Sprintf("models[%d].path", i), modelmanifest.ErrPath, "%v", err)
			}
			for _, l := range locs {
				claimed[locPath(l)] = true
			}
			groups = append(groups, &group{dir: dir, declared: md.Path, locs: locs})
		}
	}
	if opts.Scan {
		locs, err := r.FilesByGlob(modelfile.ScanGlobs()...)
		if err != nil {
			return nil, fmt.Errorf("mlbom: search the image for model files: %w", err)
		}
		groups = append(groups, scanGroups(locs, claimed)...)
	}
	out := make([]Found, 0, len(groups))
	for _, g := range groups {
		f, err := examine(ctx, r, g, opts.Hashes)
		if err != nil {
			return nil, err
		}
		out = append(out, *f)
	}
	return out, nil
}

// scanGroups groups scanned files into models: all .safetensors files of a directory are one
// model (the Hugging Face layout keeps one model, however sharded, per directory); each .gguf or
// .onnx file is its own model, except that shards of one file stay together.
func scanGroups(locs []file.Location, claimed map[string]bool) []*group {
	byKey := map[string]*group{}
	perDir := map[string]int{}
	for _, l := range locs {
		p := locPath(l)
		if claimed[p] {
			continue
		}
		claimed[p] = true
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		key := dir + "\x00"
		if ext := path.Ext(base); ext != ".safetensors" {
			key += shardStem(base) + ext
		}
		g := byKey[key]
		if g == nil {
			g = &group{dir: dir}
			byKey[key] = g
			perDir[dir]++
		}
		g.locs = append(g.locs, l)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*group, 0, len(keys))
	for _, k := range keys {
		g := byKey[k]
		g.shared = perDir[g.dir] > 1
		out = append(out, g)
	}
	return out
}

// declaredFiles returns the weight files a manifest path stands for: the file itself (with its
// sibling shards), or every weight file under the directory.
func declaredFiles(ctx context.Context, r file.Resolver, p string) ([]file.Location, string, error) {
	if !r.HasPath(p) {
		return nil, "", fmt.Errorf("%s is not in the image", p)
	}
	locs, err := r.FilesByPath(p)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	if len(locs) > 0 {
		dir := path.Dir(p)
		m := shardRe.FindStringSubmatch(path.Base(p))
		if m == nil {
			return locs[:1], dir, nil
		}
		siblings, err := filesUnder(ctx, r, dir, false)
		if err != nil {
			return nil, "", err
		}
		var shards []file.Location
		for _, s := range siblings {
			if sm := shardRe.FindStringSubmatch(path.Base(locPath(s))); sm != nil && sm[1] == m[1] && sm[3] == m[3] && sm[4] == m[4] {
				shards = append(shards, s)
			}
		}
		return shards, dir, nil
	}
	all, err := filesUnder(ctx, r, p, true)
	if err != nil {
		return nil, "", err
	}
	var weights []file.Location
	for _, l := range all {
		if modelfile.IsWeights(locPath(l)) {
			weights = append(weights, l)
		}
	}
	if len(weights) == 0 {
		return nil, "", fmt.Errorf("%s holds no model weight files (looked for %s)", p, strings.Join(modelfile.WeightExtensions(), " "))
	}
	return weights, p, nil
}

// filesUnder lists the files in dir (recursively or not), sorted by path.
func filesUnder(ctx context.Context, r file.Resolver, dir string, recursive bool) ([]file.Location, error) {
	var locs []file.Location
	if strings.ContainsAny(dir, `*?[]{}\`) {
		// A path that would be read as a glob pattern is matched by walking every location.
		for l := range r.AllLocations(ctx) {
			locs = append(locs, l)
		}
	} else {
		pattern := dir + "/*"
		if recursive {
			pattern = dir + "/**"
		}
		var err error
		if locs, err = r.FilesByGlob(pattern); err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
	}
	seen := map[string]bool{}
	var out []file.Location
	for _, l := range locs {
		p := locPath(l)
		if seen[p] || !within(p, dir) || (!recursive && path.Dir(p) != dir) {
			continue
		}
		if md, err := r.FileMetadataByLocation(l); err == nil && md.Type == stfile.TypeDirectory {
			continue
		}
		seen[p] = true
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return locPath(out[i]) < locPath(out[j]) })
	return out, nil
}

// locPath is the path a file was asked for (a symlink's own path, as in a Hugging Face cache
// snapshot), falling back to the resolved path.
func locPath(l file.Location) string {
	if l.AccessPath != "" {
		return l.AccessPath
	}
	return l.RealPath
}

// within reports whether p is strictly inside directory dir.
func within(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func shardStem(base string) string {
	if m := shardRe.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

// examine hashes and reads the files of one group and names the model they make up.
func examine(ctx context.Context, r file.Resolver, g *group, cache *HashCache) (*Found, error) {
	f := &Found{Dir: g.dir, Declared: g.declared}
	sort.Slice(g.locs, func(i, j int) bool { return locPath(g.locs[i]) < locPath(g.locs[j]) })
	have := map[string]bool{}
	for _, l := range g.locs {
		have[locPath(l)] = true
	}
	formats := map[string]bool{}
	var exts []string
	for i := 0; i < len(g.locs); i++ {
		l := g.locs[i]
		p := locPath(l)
		exts = append(exts, strings.TrimPrefix(strings.ToLower(path.Ext(p)), "."))
		var read modelfile.Reader
		if format, ok := modelfile.Lookup(p); ok && format.Role == modelfile.Weights {
			read = format.Read
		}
		wf, h, perr, err := cache.read(ctx, r, l, read)
		if err != nil {
			return nil, err
		}
		if perr != nil {
			f.Problems = append(f.Problems, fmt.Sprintf("%s: %v", p, perr))
		}
		f.Files = append(f.Files, wf)
		if h == nil {
			continue
		}
		f.headers = append(f.headers, h)
		formats[h.Format()] = true
		parts, _ := h.(modelfile.Parts)
		if parts == nil {
			continue
		}
		// Files the header names as part of the model (ONNX weights over 2 GB live in external
		// data files) are hashed with it.
		for _, part := range parts.Parts() {
			xp, ok := partPath(p, part)
			if !ok {
				f.Problems = append(f.Problems, fmt.Sprintf("%s: external data location %q leaves the model's directory; not hashed", p, part))
				continue
			}
			if have[xp] {
				continue
			}
			xl, err := r.FilesByPath(xp)
			if err != nil || len(xl) == 0 {
				f.Problems = append(f.Problems, fmt.Sprintf("%s: external data file %s is not in the image", p, xp))
				continue
			}
			have[xp] = true
			g.locs = append(g.locs, xl[0])
		}
	}
	sort.Slice(f.Files, func(i, j int) bool { return f.Files[i].Path < f.Files[j].Path })

	f.Format = formatName(formats, exts)
	f.headers = append(f.headers, companions(r, g.dir, f)...)
	f.Name, f.Version, f.PURL = nameModel(f, g)
	return f, nil
}

// partPath resolves a part's location against the model file's directory, refusing one that
// would leave it (the location comes from the file, so it is not trusted).
func partPath(modelFile, location string) (string, bool) {
	if location == "" || strings.HasPrefix(location, "/") || strings.Contains(location, "\\") {
		return "", false
	}
	dir := path.Dir(modelFile)
	p := path.Join(dir, location)
	if !within(p, dir) {
		return "", false
	}
	return p, true
}

func formatName(formats map[string]bool, exts []string) string {
	var names []string
	for n := range formats {
		names = append(names, n)
	}
	if len(names) == 0 && len(exts) > 0 {
		names = append(names, exts[0])
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}

// companions reads the files that describe the weights (a Hugging Face config.json and model
// card) beside them, or one directory up (weights kept in an onnx/ or weights/ sub-directory);
// the nearer one of each kind wins.
func companions(r file.Resolver, dir string, f *Found) []modelfile.Header {
	var out []modelfile.Header
	for _, format := range modelfile.Of(modelfile.Companion) {
		for _, d := range []string{dir, path.Dir(dir)} {
			p := path.Join(d, format.Pattern)
			h, err := readCompanion(r, p, format.Read)
			if err != nil {
				f.Problems = append(f.Problems, fmt.Sprintf("%s: %v", p, err))
			}
			if h != nil {
				out = append(out, h)
				break
			}
			if d == "/" {
				break
			}
		}
	}
	return out
}

// readCompanion reads the file at p with read, which bounds what it reads; a file that is not
// there is no companion.
func readCompanion(r file.Resolver, p string, read modelfile.Reader) (modelfile.Header, error) {
	locs, err := r.FilesByPath(p)
	if err != nil || len(locs) == 0 {
		return nil, nil
	}
	rc, err := r.FileContentsByLocation(locs[0])
	if err != nil {
		return nil, nil
	}
	defer rc.Close()
	return read(rc, fileSize(r, locs[0]))
}

// nameModel picks the model's own name, version and purl. Syft names a model after the
// _name_or_path or base_model it was fine-tuned from, which is exactly what it is not; here
// the Hugging Face cache repo, the directory, or a header name come first, and a
// _name_or_path is used only when it is not one of the base models the card lists.
func nameModel(f *Found, g *group) (name, version, purl string) {
	first := g.dir
	if len(f.Files) > 0 {
		first = f.Files[0].Path
	}
	if m := hfCacheRe.FindStringSubmatch(first); m != nil {
		org, repo, ok := strings.Cut(m[1], "--")
		id := org
		purlName := "pkg:huggingface/" + org
		if ok {
			id = org + "/" + repo
			purlName = "pkg:huggingface/" + org + "/" + repo
		}
		rev := strings.ToLower(m[2])
		return id, rev, purlName + "@" + rev
	}
	for _, h := range headersOf[*modelfile.GGUF](f) {
		if h.ModelVersion != "" {
			version = h.ModelVersion
			break
		}
	}
	if version == "" {
		for _, h := range headersOf[*modelfile.ONNX](f) {
			if h.ModelVersion > 0 {
				version = fmt.Sprint(h.ModelVersion)
				break
			}
		}
	}
	stem := shardStem(path.Base(first))
	if g.shared {
		// Several models share the directory (quantizations, export formats): the file names
		// them, qualified by the directory when the file name alone says nothing (model.onnx).
		if n := dirName(g.dir); n != "" && (containerDirs[stem] || subDirs[stem]) {
			return n + "/" + stem + path.Ext(first), version, ""
		}
		return stem, version, ""
	}
	if n := dirName(g.dir); n != "" {
		return n, version, ""
	}
	if c := firstOf[*modelfile.HFConfig](f); c != nil && c.NameOrPath != "" && !isBaseModel(c.NameOrPath, f) {
		if n := path.Base(strings.ReplaceAll(c.NameOrPath, `\`, "/")); n != "." && n != "/" {
			return n, version, ""
		}
	}
	for _, h := range headersOf[*modelfile.GGUF](f) {
		if h.Name != "" && !isBaseModel(h.Name, f) {
			return h.Name, version, ""
		}
	}
	return stem, version, ""
}

func dirName(dir string) string {
	base := path.Base(dir)
	if subDirs[base] && dir != "/" {
		base = path.Base(path.Dir(dir))
	}
	if containerDirs[base] {
		return ""
	}
	return base
}

// isBaseModel reports whether name is one of the base models the model card or header lists.
func isBaseModel(name string, f *Found) bool {
	for _, b := range baseModels(f) {
		if strings.EqualFold(b, name) || strings.EqualFold(path.Base(b), path.Base(name)) {
			return true
		}
	}
	return false
}

// baseModels lists the base models the model card and GGUF header name, without repeats.
func baseModels(f *Found) []string {
	var out []string
	if card := firstOf[*modelfile.ModelCard](f); card != nil {
		out = append(out, card.BaseModels...)
	}
	for _, h := range headersOf[*modelfile.GGUF](f) {
		out = append(out, h.BaseModels...)
	}
	return uniq(out)
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// headersOf lists the headers of type T the model's files gave, in path order.
func headersOf[T modelfile.Header](f *Found) []T {
	var out []T
	for _, h := range f.headers {
		if t, ok := h.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// firstOf is the first header of type T, or nil.
func firstOf[T modelfile.Header](f *Found) T {
	var zero T
	for _, h := range f.headers {
		if t, ok := h.(T); ok {
			return t
		}
	}
	return zero
}
