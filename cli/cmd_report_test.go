package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mergescale/store"
)

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := store.Open(filepath.Join(out, "results.db")) // an empty store
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	tiny, err := os.ReadFile(filepath.Join("..", "experiments", "testdata", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, append(tiny, []byte("out: "+out+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		mdExists string
	}{
		{"config", []string{"report", "--config", cfg}, 0, "report written to", "", filepath.Join(out, "report", "report.md")},
		{"db and out", []string{"report", "--db", filepath.Join(out, "results.db"), "--out", filepath.Join(dir, "r2")}, 0,
			"missing: the store has no models", "", filepath.Join(dir, "r2", "report.md")},
		{"both", []string{"report", "--config", cfg, "--db", "x.db"}, 1, "", "not both", ""},
		{"neither", []string{"report"}, 1, "", "need --db and --out", ""},
		{"missing store", []string{"report", "--db", filepath.Join(dir, "nope.db"), "--out", dir}, 1, "", "nope.db", ""},
		{"invalid config", []string{"report", "--config", filepath.Join(dir, "bad.yaml")}, 1, "", "bad.yaml", ""},
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("sizes: [xs]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var so, se bytes.Buffer
			code := Execute(tt.args, strings.NewReader(""), &so, &se)
			if code != tt.code || !strings.Contains(so.String(), tt.stdout) || !strings.Contains(se.String(), tt.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q",
					code, so.String(), se.String(), tt.code, tt.stdout, tt.stderr)
			}
			if tt.mdExists != "" {
				if _, err := os.Stat(tt.mdExists); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
