package recipe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sward-iot/sward/shared/strictjson"
	"go.yaml.in/yaml/v3"
)

// maxTreeNodes bounds how many values a recipe may expand to. A 16 KB recipe
// holds at most a few thousand values, but YAML aliases can repeat a subtree
// any number of times ("billion laughs") or even refer to themselves; the bound
// stops both long before memory or the stack suffers.
const maxTreeNodes = 1 << 16

// number is a numeric scalar as the author wrote it. Keeping the text lets a
// field that wants a string (ComponentVersion: 1.0) report what was written,
// and keeps integers exact until a field decides how to read them.
type number string

// float returns the number as a float64; ok is false for text that is not a
// finite number (YAML .inf and .nan are numbers to YAML but not to JSON).
func (n number) float() (float64, bool) {
	s := strings.ReplaceAll(string(n), "_", "")
	if i, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// isJSON says whether data is to be read as JSON. The file extension
// decides, as in Greengrass: .json is JSON, .yaml and .yml are YAML (even a
// YAML flow mapping that starts with '{' and has trailing commas). Only
// without a known extension (inline recipes, other names) does the content
// decide: a first non-blank byte that opens an object means JSON.
func isJSON(file string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".json":
		return true
	case ".yaml", ".yml":
		return false
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// parseTree reads a recipe into a tree of map[string]any, []any, string, bool,
// nil and number. The top level must be a mapping.
func parseTree(file string, data []byte) (map[string]any, error) {
	invalid := func(format string, args ...any) error {
		return &FieldError{File: file, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalid("recipe is empty; write a YAML or JSON object starting with RecipeFormatVersion: 2020-01-25")
	}
	var tree any
	if isJSON(file, data) {
		var err error
		if tree, err = parseJSON(data); err != nil {
			return nil, invalid("%v; fix the JSON syntax", err)
		}
	} else {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, invalid("invalid YAML: %s; fix the YAML syntax", yamlSyntaxError(data, err))
		}
		c := yamlConverter{budget: maxTreeNodes}
		var err error
		if tree, err = c.convert(&doc); err != nil {
			return nil, invalid("invalid YAML: %v", err)
		}
	}
	if tree == nil {
		return nil, invalid("recipe is empty (only comments or null); write a YAML or JSON object starting with RecipeFormatVersion: 2020-01-25")
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return nil, invalid("the recipe is %s, not an object; write fields like RecipeFormatVersion: 2020-01-25 at the top level", describe(tree))
	}
	return top, nil
}

// yamlLinePrefix matches the "line N: " yaml.v3 puts before its messages.
var yamlLinePrefix = regexp.MustCompile(`^line \d+: `)

// yamlSyntaxError describes a YAML syntax error by the line that causes it,
// quoting that line. yaml.v3 reports where the enclosing block or flow
// collection starts, and for parser errors one line too early, so a
// misindented key deep in a manifest is blamed on the line of Manifests.
// Since the parser stops at the first problem, the line that causes it is
// the first line whose prefix of the document fails with the same error;
// a binary search finds it in a few parses. When no prefix fails the same
// way, yaml.v3's own message is kept.
func yamlSyntaxError(data []byte, err error) string {
	full := err.Error()
	msg := strings.TrimPrefix(full, "yaml: ")
	var ends []int // byte offset just past each line
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	failsAlike := func(lines int) bool {
		var n yaml.Node
		e := yaml.Unmarshal(data[:ends[lines-1]], &n)
		return e != nil && e.Error() == full
	}
	lo, hi := 1, len(ends)
	if !failsAlike(hi) {
		return msg
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if failsAlike(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	start := 0
	if lo > 1 {
		start = ends[lo-2]
	}
	text := strings.TrimSpace(string(data[start:ends[lo-1]]))
	return fmt.Sprintf("line %d: %s, at %q", lo, yamlLinePrefix.ReplaceAllString(msg, ""), strictjson.Truncate(text))
}

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(data, syn.Offset-1) // Offset is just past the bad byte
			return nil, fmt.Errorf("invalid JSON at line %d column %d: %v", line, col, err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("invalid JSON: the document ends early (unclosed object, array or string)")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(data, dec.InputOffset())
		return nil, fmt.Errorf("invalid JSON: unexpected data after the top-level object at line %d column %d", line, col)
	}
	return fromJSON(v), nil
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func fromJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromJSON(e)
		}
		return v
	default:
		return v
	}
}

type yamlConverter struct{ budget int }

var errTooManyNodes = fmt.Errorf("the recipe expands to more than %d values (YAML aliases repeating or containing themselves?); write the values out", maxTreeNodes)

func (c *yamlConverter) convert(n *yaml.Node) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, errTooManyNodes
	}
	switch n.Kind {
	case 0:
		return nil, nil // a document of only comments
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: alias to an unknown anchor", n.Line)
		}
		return c.convert(n.Alias)
	case yaml.ScalarNode:
		return yamlScalar(n), nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.convert(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		if err := c.mapping(n, out, false); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// mapping adds n's pairs to out. Merge keys (<<: *base) then add the pairs of
// the merged mappings that out does not already have, as YAML 1.1 defines:
// the mapping's own keys win wherever the merge key is written.
func (c *yamlConverter) mapping(n *yaml.Node, out map[string]any, merging bool) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		if c.budget--; c.budget < 0 {
			return errTooManyNodes
		}
		return c.mapping(n.Alias, out, merging)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a merge key (<<) needs a mapping or a list of mappings", n.Line)
	}
	own := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		// Charge every pair, even skipped ones: merges can revisit a mapping
		// many times without converting anything.
		if c.budget--; c.budget < 0 {
			return errTooManyNodes
		}
		k, v := n.Content[i], n.Content[i+1]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
			if v.Kind == yaml.SequenceNode {
				merges = append(merges, v.Content...)
			} else {
				merges = append(merges, v)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a mapping key must be a plain value, not a list or mapping", k.Line)
		}
		if own[k.Value] {
			return fmt.Errorf("line %d: key %q appears twice in one mapping; keep one", k.Line, k.Value)
		}
		own[k.Value] = true
		if _, set := out[k.Value]; set && merging {
			continue // an outer mapping already has this key
		}
		val, err := c.convert(v)
		if err != nil {
			return err
		}
		out[k.Value] = val
	}
	for _, m := range merges {
		if err := c.mapping(m, out, true); err != nil {
			return err
		}
	}
	return nil
}

func yamlScalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	case "!!int", "!!float":
		return number(n.Value)
	}
	return n.Value
}

// describe names the kind of a tree value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "empty (null)"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the text %q", strictjson.Truncate(v))
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case number:
		return fmt.Sprintf("the number %s", strictjson.Truncate(string(v)))
	case float64:
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a %T", v)
}

// plain converts a tree into the types encoding/json produces (float64 for
// numbers), which is what every consumer of configuration expects.
func plain(v any) any {
	switch v := v.(type) {
	case number:
		f, _ := v.float()
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plain(e)
		}
		return out
	default:
		return v
	}
}
