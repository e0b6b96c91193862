package mlbom

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	stfile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/syft/syft/file"
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

	safetensors []*safetensorsHeader
	gguf        []*ggufHeader
	onnx        []*onnxHeader
	config      *hfConfig
	readme      *modelReadme
}

// WeightFile is one file of a model's weights, as it is in the image.
type WeightFile struct {
	Path   string
	Layer  string // digest of the layer the file comes from (squashed view: the last to write it)
	Size   int64
	SHA256 string
	SHA512 string

	realPath string // where a symlinked path resolves to (a Hugging Face cache blob); syft reports this one
}

// scanGlobs are the model formats the scan looks for everywhere in the image.
var scanGlobs = []string{"**/*.safetensors", "**/*.gguf", "**/*.onnx"}

// weightExts are the files taken as weights under a declared directory: the scanned formats
// plus the ones whose headers are not read (PyTorch, TensorFlow, Keras, …).
var weightExts = setOf([]string{
	".safetensors", ".gguf", ".onnx", ".onnx_data", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".keras",
	".pb", ".tflite", ".msgpack", ".mlmodel", ".pte", ".npz", ".ggml", ".llamafile", ".ot", ".params",
	".joblib", ".pkl", ".pickle", ".mar", ".nemo", ".engine", ".plan",
})

// shardRe matches the sharded-weights naming convention, model-00001-of-00003.safetensors.
var shardRe = regexp.MustCompile(`^(.+)-(\d+)-of-(\d+)(\.[A-Za-z0-9_]+)$`)

// hfCacheRe matches a Hugging Face hub cache snapshot: models--org--name/snapshots/<revision>.
var hfCacheRe = regexp.MustCompile(`(?:^|/)models--([^/]+)/snapshots/([0-9a-fA-F]{7,64})(?:/|$)`)

// Directory names that say nothing about which model is inside: a model named after one of
// these falls back to its parent (sub-directories) or to the file and header names.
var (
	containerDirs = setOf([]string{"", "/", ".", "models", "model", "weights", "checkpoints", "checkpoint", "ckpt", "app", "opt", "srv", "data", "tmp", "usr", "local", "share", "root", "home"})
	subDirs       = setOf([]string{"onnx", "safetensors", "gguf", "weights", "model"})
)

// group is the set of files that become one Found.
type group struct {
	dir      string
	declared string
	locs     []file.Location
	shared   bool // other models live in the same directory, so the directory does not name it
}

// Discover finds the models in the image behind r. Every path the manifest declares is always
// hashed (a path that is not in the image is an error naming the field); when scan is true, the
// whole image is searched for .safetensors, .gguf and .onnx files too. Weight files are hashed
// by streaming them once; headers are read from that same stream.
func Discover(ctx context.Context, r file.Resolver, m *Manifest, scan bool) ([]Found, error) {
	var groups []*group
	claimed := map[string]bool{}
	if m != nil {
		for i, md := range m.Models {
			if md.Path == "" {
				continue
			}
			locs, dir, err := declaredFiles(ctx, r, md.Path)
			if err != nil {
				return nil, m.fieldError(fmt.Sprintf("models[%d].path", i), ErrPath, "%v", err)
			}
			for _, l := range locs {
				claimed[locPath(l)] = true
			}
			groups = append(groups, &group{dir: dir, declared: md.Path, locs: locs})
		}
	}
	if scan {
		locs, err := r.FilesByGlob(scanGlobs...)
		if err != nil {
			return nil, fmt.Errorf("mlbom: search the image for model files: %w", err)
		}
		groups = append(groups, scanGroups(locs, claimed)...)
	}
	out := make([]Found, 0, len(groups))
	for _, g := range groups {
		f, err := examine(ctx, r, g)
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
		if weightExts[strings.ToLower(path.Ext(locPath(l)))] {
			weights = append(weights, l)
		}
	}
	if len(weights) == 0 {
		exts := make([]string, 0, len(weightExts))
		for e := range weightExts {
			exts = append(exts, e)
		}
		slices.Sort(exts)
		return nil, "", fmt.Errorf("%s holds no model weight files (looked for %s)", p, strings.Join(exts, " "))
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

func shardStem(base string) string {
	if m := shardRe.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

// examine hashes and reads the files of one group and names the model they make up.
func examine(ctx context.Context, r file.Resolver, g *group) (*Found, error) {
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
		ext := strings.ToLower(path.Ext(p))
		exts = append(exts, strings.TrimPrefix(ext, "."))
		var parse func(io.Reader, int64) error
		switch ext {
		case ".safetensors":
			parse = func(rd io.Reader, size int64) error {
				h, err := parseSafetensors(rd, size)
				if err == nil {
					f.safetensors = append(f.safetensors, h)
					formats["safetensors"] = true
				}
				return err
			}
		case ".gguf":
			parse = func(rd io.Reader, size int64) error {
				h, err := parseGGUF(rd, size)
				if err == nil {
					f.gguf = append(f.gguf, h)
					formats["gguf"] = true
				}
				return err
			}
		case ".onnx":
			parse = func(rd io.Reader, size int64) error {
				h, err := parseONNX(rd, size)
				if err != nil {
					return err
				}
				f.onnx = append(f.onnx, h)
				formats["onnx"] = true
				// Weights over 2 GB live in external data files; they are part of the model.
				for _, ext := range h.External {
					xp, ok := externalDataPath(p, ext)
					if !ok {
						f.Problems = append(f.Problems, fmt.Sprintf("%s: external data location %q leaves the model's directory; not hashed", p, ext))
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
				return nil
			}
		}
		wf, perr, err := hashFile(ctx, r, l, parse)
		if err != nil {
			return nil, err
		}
		if perr != nil {
			f.Problems = append(f.Problems, fmt.Sprintf("%s: %v", p, perr))
		}
		f.Files = append(f.Files, wf)
	}
	sort.Slice(f.Files, func(i, j int) bool { return f.Files[i].Path < f.Files[j].Path })

	f.Format = formatName(formats, exts)
	f.config, f.readme = companions(r, g.dir, f)
	f.Name, f.Version, f.PURL = nameModel(f, g)
	return f, nil
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

// hashFile streams one file once through SHA-256 and SHA-512, letting parse read its header
// from the same stream. err is a failure to read the image; perr is a header that did not parse.
func hashFile(ctx context.Context, r file.Resolver, l file.Location, parse func(io.Reader, int64) error) (wf WeightFile, perr, err error) {
	p := locPath(l)
	wf = WeightFile{Path: p, Layer: l.FileSystemID, realPath: l.RealPath}
	size := int64(-1)
	if md, err := r.FileMetadataByLocation(l); err == nil && md.Type == stfile.TypeRegular && md.FileInfo != nil {
		size = md.Size()
	}
	rc, err := r.FileContentsByLocation(l)
	if err != nil {
		return wf, nil, fmt.Errorf("mlbom: read %s: %w", p, err)
	}
	defer rc.Close()
	h256, h512 := sha256.New(), sha512.New()
	var n countWriter
	sink := io.MultiWriter(h256, h512, &n)
	src := ctxReader{ctx: ctx, r: rc}
	if parse != nil {
		perr = parse(io.TeeReader(src, sink), size)
		if ctx.Err() != nil {
			return wf, nil, ctx.Err()
		}
	}
	if _, err := io.Copy(sink, src); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return wf, nil, err
		}
		return wf, nil, fmt.Errorf("mlbom: read %s: %w", p, err)
	}
	wf.Size = int64(n)
	wf.SHA256 = hex.EncodeToString(h256.Sum(nil))
	wf.SHA512 = hex.EncodeToString(h512.Sum(nil))
	return wf, perr, nil
}

type countWriter uint64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// ctxReader stops a long hash (weights are gigabytes) when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// companions reads the Hugging Face config.json and model card beside the weights, or one
// directory up (weights kept in an onnx/ or weights/ sub-directory).
func companions(r file.Resolver, dir string, f *Found) (*hfConfig, *modelReadme) {
	var cfg *hfConfig
	var card *modelReadme
	for _, d := range []string{dir, path.Dir(dir)} {
		if cfg == nil {
			if data := readSmall(r, path.Join(d, "config.json"), maxConfigJSON, true); data != nil {
				c, err := parseHFConfig(data)
				if err != nil {
					f.Problems = append(f.Problems, fmt.Sprintf("%s: %v", path.Join(d, "config.json"), err))
				}
				cfg = c
			}
		}
		if card == nil {
			if data := readSmall(r, path.Join(d, "README.md"), maxReadmePrefix, false); data != nil {
				c, err := parseReadme(data)
				if err != nil {
					f.Problems = append(f.Problems, fmt.Sprintf("%s: %v", path.Join(d, "README.md"), err))
				}
				card = c
			}
		}
		if d == "/" {
			break
		}
	}
	return cfg, card
}

// readSmall reads a companion file up to limit bytes; whole=true refuses a longer file (a
// truncated JSON document would be misread), whole=false keeps the prefix (front matter is at
// the top).
func readSmall(r file.Resolver, p string, limit int64, whole bool) []byte {
	locs, err := r.FilesByPath(p)
	if err != nil || len(locs) == 0 {
		return nil
	}
	rc, err := r.FileContentsByLocation(locs[0])
	if err != nil {
		return nil
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil
	}
	if int64(len(data)) > limit {
		if whole {
			return nil
		}
		data = data[:limit]
	}
	return data
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
	for _, h := range f.gguf {
		if h.ModelVersion != "" {
			version = h.ModelVersion
			break
		}
	}
	if version == "" {
		for _, h := range f.onnx {
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
	if c := f.config; c != nil && c.NameOrPath != "" && !isBaseModel(c.NameOrPath, f) {
		if n := path.Base(strings.ReplaceAll(c.NameOrPath, `\`, "/")); n != "." && n != "/" {
			return n, version, ""
		}
	}
	for _, h := range f.gguf {
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
	if f.readme != nil {
		out = append(out, f.readme.BaseModels...)
	}
	for _, h := range f.gguf {
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
