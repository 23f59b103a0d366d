package harness

import (
	"os"
	"path/filepath"
	"time"
)

// DeployLocal deploys recipes (component name → recipe YAML, version 1.0.0)
// as the LOCAL group and waits for the deployment to finish.
func (n *Nucleus) DeployLocal(recipes map[string]string) {
	n.t.Helper()
	files := map[string]string{}
	args := []string{"deployment", "create", "--wait"}
	for name, text := range recipes {
		files[name+".yaml"] = text
		args = append(args, "--merge", name+"=1.0.0")
	}
	if out, err := n.CLI(append(args, "--recipeDir", WriteRecipes(n.t, files))...); err != nil {
		n.t.Fatalf("deploy %v: %v\n%s", args, err, out)
	}
}

// RemoveLocal removes components from the LOCAL group and waits.
func (n *Nucleus) RemoveLocal(names ...string) {
	n.t.Helper()
	args := []string{"deployment", "create", "--wait"}
	for _, name := range names {
		args = append(args, "--remove", name)
	}
	if out, err := n.CLI(args...); err != nil {
		n.t.Fatalf("remove %v: %v\n%s", names, err, out)
	}
}

// WorkPath is the path of file in component's work folder.
func (n *Nucleus) WorkPath(component, file string) string {
	return filepath.Join(n.Root, "work", component, file)
}

// Touch creates file (empty) in component's work folder: the signal test
// components in test/hostile wait for.
func (n *Nucleus) Touch(component, file string) {
	n.t.Helper()
	if err := os.WriteFile(n.WorkPath(component, file), nil, 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// ReadWorkFile waits up to timeout for file in component's work folder and
// returns its content.
func (n *Nucleus) ReadWorkFile(component, file string, timeout time.Duration) []byte {
	n.t.Helper()
	var data []byte
	Eventually(n.t, timeout, component+" writes "+file, func() error {
		var err error
		data, err = os.ReadFile(n.WorkPath(component, file))
		return err
	})
	return data
}
