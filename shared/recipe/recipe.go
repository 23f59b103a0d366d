package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Recipe is a parsed and validated component recipe.
type Recipe struct {
	// File is where the recipe came from, as given to Parse; it is used only
	// in messages.
	File string

	FormatVersion string
	Name          string
	Version       string
	Description   string
	Publisher     string
	// Type is the ComponentType, TypeGeneric when the recipe leaves it out.
	Type string
	// Source is ComponentSource (the Lambda ARN of Lambda components).
	Source string

	// DefaultConfiguration is ComponentConfiguration.DefaultConfiguration as
	// encoding/json would decode it (numbers are float64). Never nil.
	DefaultConfiguration map[string]any
	// Dependencies is keyed by component name. Never nil.
	Dependencies map[string]Dependency
	Manifests    []Manifest

	// GlobalLifecycle is the recipe-level Lifecycle as written, possibly keyed
	// by selection keys; Select resolves it for the chosen manifest.
	GlobalLifecycle map[string]any

	// Warnings lists what was ignored ("file: path: unknown field ignored
	// ..."), for tools to show; Greengrass ignores the same things silently.
	Warnings []string

	semver *semver.Version
}

// Manifest is one platform's way to run the component.
type Manifest struct {
	Name     string
	Platform Platform
	// Lifecycle is nil when the manifest has none (or an empty one); the
	// global lifecycle applies then.
	Lifecycle  *Lifecycle
	Selections []string
	Artifacts  []Artifact
}

// DependencyType says how a component reacts to its dependency's state.
type DependencyType string

const (
	// Hard restarts the component when the dependency changes state; a
	// component waits for its hard dependencies to be running. The default.
	Hard DependencyType = "HARD"
	// Soft neither waits nor restarts.
	Soft DependencyType = "SOFT"
)

// Dependency is one entry of ComponentDependencies.
type Dependency struct {
	// VersionRequirement is an npm-style range such as ^1.0.0.
	VersionRequirement string
	Type               DependencyType
}

// Allows reports whether version v satisfies the requirement. An invalid
// requirement or a nil version allows nothing.
func (d Dependency) Allows(v *semver.Version) bool {
	if v == nil {
		return false
	}
	c, err := semver.NewConstraint(d.VersionRequirement)
	if err != nil {
		return false
	}
	return c.Check(v)
}

// SemVer returns the component version, or nil if it is not a valid one.
func (r *Recipe) SemVer() *semver.Version {
	if r.semver != nil {
		return r.semver
	}
	v, err := ParseVersion(r.Version)
	if err != nil {
		return nil
	}
	return v
}

// DependencyNames returns the names of the recipe's dependencies, sorted.
func (r *Recipe) DependencyNames() []string {
	return slices.Sorted(maps.Keys(r.Dependencies))
}

// ID returns "Name@Version", how logs and errors name a component version.
func (r *Recipe) ID() string { return r.Name + "@" + r.Version }

// Parse parses and validates a recipe in YAML or JSON. The extension of file
// chooses the parser (.json JSON, .yaml and .yml YAML); only without one is
// a leading '{' taken for JSON. file is otherwise used only in messages. Every
// problem found is returned, joined; each is a *FieldError wrapping
// ErrInvalid (or ErrTooLarge).
func Parse(file string, data []byte) (*Recipe, error) {
	if len(data) > MaxRecipeSize {
		return nil, tooLarge(file, int64(len(data)))
	}
	top, err := parseTree(file, data)
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file}
	r := d.recipe(top)
	if err := joinErrs(d.errs); err != nil {
		return nil, err
	}
	return r, nil
}

func tooLarge(file string, size int64) error {
	return &FieldError{
		File: file,
		Msg:  fmt.Sprintf("recipe is %d bytes, over the %d-byte limit Greengrass sets; move large defaults out of DefaultConfiguration or scripts into artifacts", size, MaxRecipeSize),
		Err:  ErrTooLarge,
	}
}

// ParseFile reads and parses the recipe at path.
func ParseFile(path string) (*Recipe, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readLimited reads at most one byte past MaxRecipeSize, so a huge file is
// refused without being read whole.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read recipe: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRecipeSize+1))
	if err != nil {
		return nil, fmt.Errorf("read recipe %s: %w", path, err)
	}
	if len(data) > MaxRecipeSize {
		if st, err := f.Stat(); err == nil {
			return nil, tooLarge(path, st.Size())
		}
		return nil, tooLarge(path, int64(len(data)))
	}
	return data, nil
}

// LoadDir parses every recipe under dir, recursively: files named *.yaml,
// *.yml or *.json whose top level has RecipeFormatVersion. Other YAML and JSON
// files are skipped, and so are folders whose name starts with '.'. A file
// that cannot be parsed counts as a recipe when its text mentions
// RecipeFormatVersion. Recipes are returned in path order with every error
// joined; two recipes for the same component version are an error.
func LoadDir(dir string) ([]*Recipe, error) {
	var (
		recipes []*Recipe
		errs    []error
	)
	walkErr := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("load recipes: %w", err))
			if e != nil && e.IsDir() && path != dir {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			if path != dir && strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		r, err := loadCandidate(path)
		switch {
		case err != nil:
			errs = append(errs, err)
		case r != nil:
			recipes = append(recipes, r)
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("load recipes from %s: %w", dir, walkErr))
	}
	errs = append(errs, duplicates(recipes)...)
	return recipes, joinErrs(errs)
}

// loadCandidate parses path if it is a recipe; it returns nil, nil for other files.
func loadCandidate(path string) (*Recipe, error) {
	data, err := readLimited(path)
	if errors.Is(err, ErrTooLarge) {
		if head, _ := readHead(path); !mentionsFormat(head) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	top, err := parseTree(path, data)
	if err != nil {
		if mentionsFormat(data) {
			return nil, err
		}
		return nil, nil
	}
	f := (&decoder{file: path}).object("", top, "")
	if _, ok := f.take("RecipeFormatVersion"); !ok {
		return nil, nil
	}
	return Parse(path, data)
}

func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxRecipeSize))
}

func mentionsFormat(data []byte) bool {
	return bytes.Contains(bytes.ToLower(data), []byte("recipeformatversion"))
}

func duplicates(recipes []*Recipe) []error {
	first := map[string]*Recipe{}
	var errs []error
	for _, r := range recipes {
		id := r.ID()
		if prev, dup := first[id]; dup {
			errs = append(errs, &FieldError{
				File: r.File, Path: "ComponentVersion",
				Msg: fmt.Sprintf("component %s is also defined by %s; give each recipe its own ComponentVersion or remove one", id, prev.File),
				Err: ErrInvalid,
			})
			continue
		}
		first[id] = r
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}
