// Command mergescale runs model-merging scaling studies: it trains or loads
// base models and experts, merges them, evaluates the merges on held-in and
// held-out tasks, stores every score in SQLite and renders reports.
// The commands are in package cli.
package main

import (
	"os"

	"mergescale/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
