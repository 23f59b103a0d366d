package devconfig

import (
	"bytes"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Marshal writes f in Greengrass's config.yaml shape (system, then
// services.aws.greengrass.Nucleus with componentType NUCLEUS, the MQTT
// bridge's configuration when it has one and, with secrets,
// aws.greengrass.SecretManager, with a shadow manager configuration
// aws.greengrass.ShadowManager, then sward),
// leaving out empty values; Parse reads it back to the same File.
func Marshal(f *File) ([]byte, error) {
	type service struct {
		ComponentType string `yaml:"componentType"`
		Version       string `yaml:"version,omitempty"`
		Configuration any    `yaml:"configuration"`
	}
	type bridge struct {
		Configuration Bridge `yaml:"configuration"`
	}
	doc := struct {
		System   System         `yaml:"system"`
		Services map[string]any `yaml:"services"`
		Sward    *yaml.Node     `yaml:"sward,omitempty"`
	}{
		System:   f.System,
		Services: map[string]any{NucleusService: service{ComponentType: "NUCLEUS", Version: f.NucleusVersion, Configuration: f.Nucleus}},
	}
	if !reflect.ValueOf(f.Bridge).IsZero() {
		doc.Services[BridgeService] = bridge{f.Bridge}
	}
	if len(f.SecretManager.CloudSecrets) > 0 {
		doc.Services[SecretManagerService] = service{ComponentType: "GENERIC", Configuration: f.SecretManager}
	}
	if !reflect.ValueOf(f.ShadowManager).IsZero() {
		doc.Services[ShadowManagerService] = service{ComponentType: "PLUGIN", Configuration: f.ShadowManager}
	}
	if len(f.Sward) > 0 {
		doc.Sward = &yaml.Node{Kind: yaml.MappingNode}
		for _, s := range f.Sward {
			doc.Sward.Content = append(doc.Sward.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: s.Name},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.Value})
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2) // as Greengrass's own files and docs
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
