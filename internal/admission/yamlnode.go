package admission

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A policy is built as a yaml.v3 node tree, so that every choice can carry the comment that
// explains it next to the field it is about.

func mapping(pairs ...pair) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, p := range pairs {
		if p.value == nil {
			continue
		}
		k := str(p.key)
		k.HeadComment = p.comment
		n.Content = append(n.Content, k, p.value)
	}
	return n
}

// pair is one key of a mapping; a nil value leaves the key out.
type pair struct {
	key     string
	value   *yaml.Node
	comment string
}

func kv(key string, value *yaml.Node) pair { return pair{key: key, value: value} }

// kvc is a key with a comment above it; lines of the comment are joined with line breaks.
func kvc(key string, value *yaml.Node, comment ...string) pair {
	return pair{key: key, value: value, comment: strings.Join(comment, "\n")}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

// block is a multi-line string written as a literal block, as a person would.
func block(s string) *yaml.Node {
	n := str(s)
	n.Style = yaml.LiteralStyle
	return n
}

func list(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func strs(ss ...string) *yaml.Node {
	n := list()
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// flow writes a short list on one line: [Deny].
func flow(n *yaml.Node) *yaml.Node {
	n.Style = yaml.FlowStyle
	return n
}

func commented(n *yaml.Node, comment ...string) *yaml.Node {
	n.HeadComment = strings.Join(comment, "\n")
	return n
}
