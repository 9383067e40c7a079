// Command mergescale runs model-merging scaling studies: it trains or loads
// base models and experts, merges them, evaluates the merges on held-in and
// held-out tasks, stores every score in SQLite and renders reports.
package main

import "os"

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
