package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sward-iot/sward/edge/authz"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/shared/recipe"
)

func newRecipeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "recipe", Short: "Work with Greengrass-format component recipes"}
	var platform string
	validate := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Validate recipes and show the manifest each selects; exit 1 if any is invalid",
		Long: `Validate recipe files, or every recipe under folders, without a nucleus.
For each valid recipe the manifest selected for this host's platform is
printed (--platform adds or overrides attributes, as Greengrass's
platformOverride does), followed by the parser's warnings (fields it
ignores, such as a misspelt Lifecycle.Start, and a RequiresPrivilege or
Timeout written as a recipe variable that the recipe's own defaults do not
resolve). Each invalid recipe prints its
errors; YAML syntax errors name the line that causes them. Dependency cycles
among the recipes given (a → b → a) are errors too. Warnings alone exit 0;
any error exits 1. A recipe is also invalid when the accessControl of its
DefaultConfiguration has a malformed policy or names an unknown operation
(as a deployment would refuse it). This is what CI runs on recipes/ before anything ships.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := platformFlag(platform)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			invalid := 0
			var parsed []*recipe.Recipe
			for _, arg := range args {
				results, err := validatePath(arg, p)
				if err != nil {
					return err
				}
				for _, r := range results {
					if r.recipe != nil {
						parsed = append(parsed, r.recipe)
					}
					if r.err != nil {
						invalid++
						fmt.Fprintf(out, "INVALID %s\n", r.file)
						for _, e := range flatten(r.err) {
							fmt.Fprintf(out, "  %v\n", e)
						}
					} else {
						fmt.Fprintf(out, "ok      %s: %s %s selects %s\n", r.file, r.recipe.Name, r.recipe.Version, r.manifest)
					}
					for _, w := range r.warnings {
						fmt.Fprintf(out, "  warning: %s\n", w)
					}
				}
			}
			cycles := recipe.Cycles(parsed)
			for _, c := range cycles {
				fmt.Fprintf(out, "CYCLE   %s\n  %s\n", c.String(), c.Error())
			}
			switch {
			case invalid > 0 && len(cycles) > 0:
				return fmt.Errorf("%d invalid recipe(s) and %d dependency cycle(s)", invalid, len(cycles))
			case invalid > 0:
				return fmt.Errorf("%d invalid recipe(s)", invalid)
			case len(cycles) > 0:
				return fmt.Errorf("%d dependency cycle(s)", len(cycles))
			}
			return nil
		},
	}
	validate.Flags().StringVar(&platform, "platform", "", platformFlagHelp)
	cmd.AddCommand(validate)
	return cmd
}

// platformFlagHelp describes --platform of `run` and `recipe validate`.
const platformFlagHelp = "platform attributes to add to or override in the detected ones, e.g. npu=rknn or architecture=aarch64"

// platformFlag returns the platform manifests are selected for: this host's,
// with the attributes of --platform added or replaced, as Greengrass applies
// its platformOverride to the platform it detects.
func platformFlag(flag string) (recipe.Platform, error) {
	p := recipe.HostPlatform()
	if flag == "" {
		return p, nil
	}
	overrides, err := recipe.ParsePlatform(flag)
	if err != nil {
		return nil, fmt.Errorf("--platform: %w", err)
	}
	return p.Override(overrides), nil
}

// validation is the outcome for one file: recipe is set when it parsed
// (err may still say that no manifest fits the platform).
type validation struct {
	file, manifest string
	recipe         *recipe.Recipe
	warnings       []string
	err            error
}

// validatePath validates one file, or every recipe file under a folder.
func validatePath(path string, p recipe.Platform) ([]validation, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		err := filepath.WalkDir(path, func(f string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch filepath.Ext(f) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() && looksLikeRecipe(f) {
					files = append(files, f)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no recipe files (*.yaml, *.yml, *.json with RecipeFormatVersion) under %s", path)
		}
		sort.Strings(files)
	}
	out := make([]validation, 0, len(files))
	for _, f := range files {
		v := validation{file: f}
		r, err := recipe.ParseFile(f)
		if err == nil {
			v.recipe, v.warnings = r, r.Warnings
			err = authz.CheckAccessControl(r.Name, r.DefaultConfiguration)
		}
		if err == nil {
			var sel *recipe.Selection
			if sel, err = r.Select(p); err == nil {
				v.manifest = fmt.Sprintf("Manifests[%d]", sel.ManifestIndex)
				if sel.ManifestName != "" {
					v.manifest += " " + sel.ManifestName
				}
				// A deployment may still set the keys, so this only warns.
				if _, rerr := sel.Lifecycle.Resolve(&recipe.Vars{Config: r.DefaultConfiguration}); rerr != nil {
					for _, e := range flatten(rerr) {
						v.warnings = append(v.warnings, fmt.Sprintf("%s: %v (with the recipe's DefaultConfiguration; every deployment must set it)", f, e))
					}
				}
			}
		}
		v.err = err
		out = append(out, v)
	}
	return out, nil
}

// flatten splits errors.Join trees into one error per line.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// looksLikeRecipe reports whether a file names a RecipeFormatVersion (in any
// letter case), so that other YAML and JSON files in a folder are left alone.
func looksLikeRecipe(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(strings.ToLower(string(data)), "recipeformatversion")
}
