package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// maxRecipeSize bounds a downloaded recipe: Greengrass's recipes are a few
// KB; a megabyte is far beyond any real one.
const maxRecipeSize = 1 << 20

// fetchRecipes downloads the recipe of every component of doc from its
// recipeSource into dir, each checked to parse and to be that component at
// that version. A document without recipeSource needs none: the engine
// takes the recipes its component store has. The release carries every
// dependency as a component of the document (shared/release's
// CheckRecipes), so the components' recipes are all there are.
func (s *Service) fetchRecipes(ctx context.Context, doc *ddoc.Document, dir string) error {
	src := doc.RecipeSource
	if src == nil {
		return nil
	}
	if s.opts.Objects == nil {
		return errors.New("the job's recipes are in S3 but the device has no AWS credentials: set iotCredEndpoint and iotRoleAlias in the device configuration (`sward provision` writes them)")
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Components)) {
		version := doc.Components[name].Version
		key := src.RecipeKey(name, version)
		data, err := s.getObject(ctx, src.Bucket, key)
		if err != nil {
			return err
		}
		where := "s3://" + src.Bucket + "/" + key
		r, err := recipe.Parse(where, data)
		if err != nil {
			return fmt.Errorf("recipe %s: %w", where, err)
		}
		if r.Name != name || r.Version != version {
			return fmt.Errorf("recipe %s is %s, not %s@%s: publish the release again", where, r.ID(), name, version)
		}
		if err := os.WriteFile(filepath.Join(dir, ddoc.RecipeFile(name, version)), data, 0o600); err != nil {
			return fmt.Errorf("stage recipe %s: %w", where, err)
		}
	}
	return nil
}

// getObject reads one recipe. A missing object or bucket, or a denied
// read, is the release's fault and rejects the job; anything else (no
// network, credentials not yet served) is errTransient.
func (s *Service) getObject(ctx context.Context, bucket, key string) ([]byte, error) {
	where := "s3://" + bucket + "/" + key
	out, err := s.opts.Objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var noKey *s3types.NoSuchKey
		var noBucket *s3types.NoSuchBucket
		if errors.As(err, &noKey) || errors.As(err, &noBucket) {
			return nil, fmt.Errorf("recipe %s does not exist: publish the release's recipes before its manifest", where)
		}
		return nil, fmt.Errorf("%w: download recipe %s: %v", errTransient, where, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxRecipeSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: download recipe %s: %v", errTransient, where, err)
	}
	if len(data) > maxRecipeSize {
		return nil, fmt.Errorf("recipe %s is over %d bytes; a recipe is a few KB, put large content in artifacts", where, maxRecipeSize)
	}
	return data, nil
}
