// Package recipes holds the components the user commits: one folder per
// component, named after it, with its recipe.yaml and, for the samples, the
// Go sources of its binary (package main). Committing here is how software
// reaches devices; see README.md. The samples import only shared/ and
// recipes/internal from this repository.
package recipes
