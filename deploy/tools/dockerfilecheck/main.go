// dockerfilecheck runs BuildKit's Dockerfile build checks (what `docker build --check` reports: parse
// errors, undefined variables and stages, keyword casing, shell-form CMD, ...) without a Docker daemon
// or registry: base images resolve to an empty config instead of being fetched. Built and run by
// deploy/validate.sh; the BuildKit version is pinned in go.mod.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	digest "github.com/opencontainers/go-digest"
)

// offlineResolver answers every base image (and every named build context) with a minimal config.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`)
	return ref, digest.FromBytes(config), config, nil
}

func check(file string) (bool, error) {
	dt, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	sourceMap := llb.NewSourceMap(nil, file, "Dockerfile", dt)
	sourceMap.Definition = &llb.Definition{}
	results, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return false, err
	}
	ok := true
	if results.Error != nil {
		ok = false
		fmt.Fprintf(os.Stderr, "%s: %s\n", file, results.Error.Message)
	}
	for _, w := range results.Warnings {
		ok = false
		line := int32(0)
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = w.Location.Ranges[0].Start.Line
		}
		fmt.Fprintf(os.Stderr, "%s:%d: %s: %s (%s)\n", file, line, w.RuleName, w.Detail, w.URL)
	}
	return ok, nil
}

func main() {
	failed := false
	for _, file := range os.Args[1:] {
		ok, err := check(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if ok {
			fmt.Printf("%s: BuildKit build checks passed\n", file)
		}
		failed = failed || !ok
	}
	if failed {
		os.Exit(1)
	}
}
