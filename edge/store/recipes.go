package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
)

// RecipesPath is the folder of the recipes the store holds, one file per
// component version: <root>/packages/recipes/<Name>-<Version>.recipe.<yaml|json>.
func (s *Store) RecipesPath() string { return filepath.Join(s.root, "packages", "recipes") }

// SaveRecipe copies a parsed recipe's file into the store (atomically), so
// that the version stays deployable after its source folder changes. Like
// JetStream's own writes it is not fsync'd: it survives kill -9, and a power
// loss right after it is covered by the source folder still holding it.
func (s *Store) SaveRecipe(r *recipe.Recipe) error {
	data, err := os.ReadFile(r.File)
	if err != nil {
		return fmt.Errorf("component %s %s: read recipe: %w", r.Name, r.Version, err)
	}
	ext := ".yaml"
	if strings.EqualFold(filepath.Ext(r.File), ".json") {
		ext = ".json"
	}
	dir := s.RecipesPath()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, old := range []string{".yaml", ".json"} {
		if old != ext {
			_ = os.Remove(filepath.Join(dir, recipeFile(r.Name, r.Version, old)))
		}
	}
	tmp, err := os.CreateTemp(dir, ".recipe-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, recipeFile(r.Name, r.Version, ext)))
}

func recipeFile(name, version, ext string) string { return name + "-" + version + ".recipe" + ext }

// Recipes parses every recipe the store holds.
func (s *Store) Recipes() ([]*recipe.Recipe, error) {
	entries, err := os.ReadDir(s.RecipesPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*recipe.Recipe
	var errs []error
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := recipe.ParseFile(filepath.Join(s.RecipesPath(), e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// Remove deletes one component version: its recipe and its artifacts.
func (s *Store) Remove(name, version string) error {
	var errs []error
	for _, ext := range []string{".yaml", ".json"} {
		if err := os.Remove(filepath.Join(s.RecipesPath(), recipeFile(name, version, ext))); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, os.RemoveAll(s.ArtifactsPath(name, version)), os.RemoveAll(s.DecompressedPath(name, version)))
	return errors.Join(errs...)
}

// Collect removes, of the candidate versions, every installed one (an
// Install made its artifacts folder) that keep does not name; recipes only
// staged for a later deployment stay, downloads of versions keep does not
// name go. Candidates are the store's recipes as
// the caller already holds them (Recipes reads them all). keep maps a
// component name to the versions to keep. It returns what it removed as
// "name version" strings, sorted.
func (s *Store) Collect(candidates []*recipe.Recipe, keep map[string][]string) ([]string, error) {
	var removed []string
	var errs []error
	for _, r := range candidates {
		kept := false
		for _, v := range keep[r.Name] {
			kept = kept || v == r.Version
		}
		if _, err := os.Stat(s.ArtifactsPath(r.Name, r.Version)); kept || err != nil {
			continue
		}
		if err := s.Remove(r.Name, r.Version); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.Name+" "+r.Version)
	}
	sort.Strings(removed)
	errs = append(errs, s.removeDownloads(keep))
	return removed, errors.Join(errs...)
}

// Installed reports whether the store holds a component version's recipe.
func (s *Store) Installed(name, version string) bool {
	for _, ext := range []string{".yaml", ".json"} {
		if _, err := os.Stat(filepath.Join(s.RecipesPath(), recipeFile(name, version, ext))); err == nil {
			return true
		}
	}
	return false
}
