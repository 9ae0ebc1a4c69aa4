// rulecheck validates Prometheus rule files the way Prometheus loads them (rulefmt: known YAML fields,
// PromQL expressions, label and annotation templates): `promtool check rules` without promtool, whose
// build pulls every service-discovery backend (some of which the Go module proxy may not serve).
// Built and run by deploy/validate.sh; the Prometheus version is pinned in go.mod.
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	failed := false
	for _, file := range os.Args[1:] {
		groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
		if len(errs) > 0 {
			failed = true
			for _, err := range errs {
				fmt.Fprintln(os.Stderr, err)
			}
			continue
		}
		rules := 0
		for _, g := range groups.Groups {
			rules += len(g.Rules)
		}
		fmt.Printf("%s: %d groups, %d rules OK\n", file, len(groups.Groups), rules)
	}
	if failed {
		os.Exit(1)
	}
}
