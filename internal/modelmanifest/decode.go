package modelmanifest

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/bom-attest/bom-attest/internal/suggest"
)

// nodeDecoder is implemented by manifest types that accept more than one shape (a string or a
// list, a name or a mapping), so the strict decoder can hand them the raw node.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// decoder walks a yaml.Node tree into manifest structs by their `yaml` tags. yaml.v3's own
// KnownFields mode reports unknown keys without saying where in the document they are; this
// walker reports every problem at once with its field path and line. The tree it walks has no
// aliases (yamldata refuses them), so the walk is linear in the document.
type decoder struct {
	file  string
	errs  []error
	more  int            // problems past maxErrors, counted, not kept
	lines map[string]int // field path → line, for errors found after decoding
}

func (d *decoder) fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.add(&FieldError{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

// add keeps the first maxErrors problems and counts the rest: thousands of copies of one mistake
// say no more than the first hundred, and a megabyte-long error would bury them in the log.
func (d *decoder) add(err error) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, err)
		return
	}
	d.more++
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.lines != nil && path != "" {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return // an empty value is the same as leaving the key out
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, ErrType, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			d.fail(n, path, ErrType, "want a number, got %s", describe(n))
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			d.fail(n, path, ErrType, "want a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, ErrType, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, ErrType, "want a mapping, got %s", describe(n))
			return
		}
		d.decodeStruct(n, v, path)
	default:
		// Only the kinds above appear in manifest types; reaching here is a programming error.
		panic(fmt.Sprintf("modelmanifest: decoder has no case for %s", v.Type()))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		idx, ok := fields[key]
		if !ok || k.Kind != yaml.ScalarNode {
			if len(d.errs) >= maxErrors {
				d.more++ // past the cap, a suggestion nobody reads is not worth computing
				continue
			}
			if len(key) > 64 {
				sub = fmt.Sprintf("%s%.64s…", strings.TrimSuffix(sub, key), key) // a page-long key would bury the message
			}
			msg := "unknown field"
			if s := didYouMean(key, fields); s != "" {
				msg += fmt.Sprintf(", did you mean %q?", s)
			} else {
				msg += " (allowed: " + strings.Join(sortedKeys(fields), ", ") + ")"
			}
			d.fail(k, sub, ErrUnknownField, "%s", msg)
			continue
		}
		d.decode(val, v.Field(idx), sub)
	}
}

// fieldCache holds yamlFields' answer per type: a manifest of 100,000 models decodes the same
// few struct types over and over.
var fieldCache sync.Map // reflect.Type → map[string]int

// yamlFields maps each `yaml` tag name of t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = i
	}
	fieldCache.Store(t, out)
	return out
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// didYouMean finds the allowed key a typo most likely meant: the same letters ignoring case,
// '_' and '-' (base_model → baseModel), or at most two edits away (taks → task).
func didYouMean(key string, fields map[string]int) string {
	norm := func(s string) string { return strings.ToLower(keyNoise.Replace(s)) }
	want := norm(key)
	best, bestDist := "", 3
	for _, f := range sortedKeys(fields) {
		if norm(f) == want {
			return f
		}
		// A suggestion for a 64-byte key would not help, and would cost 64×64 steps per field.
		if len(key) > 64 {
			continue
		}
		if dist := suggest.Distance(key, f); dist < bestDist {
			best, bestDist = f, dist
		}
	}
	return best
}

// keyNoise is what didYouMean ignores in a key. A Replacer builds tables when made; made per
// comparison, it cost a megabyte for every unknown key.
var keyNoise = strings.NewReplacer("_", "", "-", "")

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "nothing"
}

// StringList is a list of strings that may also be written as a single string
// (baseModel: org/model, or baseModel: [a, b]).
type StringList []string

func (s *StringList) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = StringList{n.Value}
	case yaml.SequenceNode:
		var out []string
		d.decode(n, reflect.ValueOf(&out).Elem(), path)
		*s = out
	default:
		d.fail(n, path, ErrType, "want a string or a list of strings, got %s", describe(n))
	}
}

// decodeNode lets a party be just an organisation's name, or a mapping with name, email, url.
func (p *Party) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		p.Name = n.Value
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, ErrType, "want a name or a mapping with name, email, url; got %s", describe(n))
		return
	}
	d.decodeStruct(n, reflect.ValueOf(p).Elem(), path)
}
