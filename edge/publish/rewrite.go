package publish

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sward-iot/sward/shared/recipe"
)

// rewrite is what an artifact URI becomes in the published recipe.
type rewrite struct{ uri, digest string }

// rewriteRecipe returns the recipe src (YAML or JSON) as YAML with every
// artifact whose URI is in rewrites given the new URI, its Digest and
// Algorithm SHA-256. Everything else, comments included, stays. Field
// names are matched without regard to case, as recipes are read.
func rewriteRecipe(src []byte, rewrites map[string]rewrite) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not one YAML or JSON document")
	}
	top := doc.Content[0]
	if manifests := field(top, "Manifests"); manifests != nil && manifests.Kind == yaml.SequenceNode {
		for _, m := range manifests.Content {
			arts := field(resolve(m), "Artifacts")
			if arts == nil || arts.Kind != yaml.SequenceNode {
				continue
			}
			for _, a := range arts.Content {
				a = resolve(a)
				uri := field(a, "URI")
				if uri == nil {
					continue
				}
				rw, ok := rewrites[uri.Value]
				if !ok {
					continue
				}
				set(a, "URI", rw.uri)
				set(a, "Digest", rw.digest)
				set(a, "Algorithm", recipe.AlgorithmSHA256)
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode the recipe: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// field returns the value of a mapping's key, matched case-insensitively.
func field(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if strings.EqualFold(m.Content[i].Value, key) {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

// set sets a mapping's key (matched case-insensitively) to a string.
func set(m *yaml.Node, key, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if strings.EqualFold(m.Content[i].Value, key) {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
			return
		}
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}
