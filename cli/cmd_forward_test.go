package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"mergescale/model"
	"mergescale/tokenizer"
)

func TestForwardCommand(t *testing.T) {
	dir := t.TempDir()
	m := model.New(model.Config{VocabSize: 11, NPositions: 6, NEmbd: 8, NLayer: 1, NHead: 2}, 3)
	if err := m.Save(dir, nil); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Execute([]string{"forward", "--model", dir, "--tokens", "3, 10,5"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var got []float64
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout %q is not a JSON array: %v", out.String(), err)
	}
	want, err := m.LastLogits([]int{3, 10, 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(float32(got[i])) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d printed as %v, want %v exactly", i, got[i], want[i])
		}
	}

	cases := []struct{ name, tokens, want string }{
		{"id too large", "3,11", "vocabulary"},
		{"negative id", "-1", "vocabulary"},
		{"too many", "1,1,1,1,1,1,1", "n_positions"},
		{"not a number", "1,x", "not an integer"},
		{"empty", "", "no token ids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Execute([]string{"forward", "--model", dir, "--tokens", c.tokens}, nil, &out, &errb)
			msg := errb.String()
			if code != 1 || out.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line naming %q", code, out.String(), msg, c.want)
			}
		})
	}
	var o, e bytes.Buffer
	if code := Execute([]string{"forward", "--model", t.TempDir(), "--tokens", "1"}, nil, &o, &e); code != 1 || !strings.Contains(e.String(), "config.json") {
		t.Fatalf("missing model: exit %d, stderr %q", code, e.String())
	}
}

// TestForwardText checks that --text runs the ids of the directory's own
// tokenizer: the same logits as --tokens with those ids.
func TestForwardText(t *testing.T) {
	dir := t.TempDir()
	tok, err := tokenizer.New([]string{"mira", "lives", "in", "oslo"})
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(model.Config{VocabSize: tok.Size(), NPositions: 6, NEmbd: 8, NLayer: 1, NHead: 2}, 3)
	if err := m.Save(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Execute(append([]string{"forward", "--model", dir}, args...), nil, &out, &errb)
		return out.String(), errb.String(), code
	}
	byText, stderr, code := run("--text", "mira lives in oslo")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	byIDs, _, _ := run("--tokens", "6,7,8,9")
	if byText != byIDs {
		t.Fatalf("--text printed %q, --tokens with the same ids %q", byText, byIDs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--text", "mira zzz"}, "unknown word"},
		{[]string{"--text", "  "}, "no tokens"},
		{[]string{"--text", "mira", "--tokens", "6"}, "not both"},
	} {
		if out, stderr, code := run(c.args...); code != 1 || out != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want an error naming %q", c.args, code, out, stderr, c.want)
		}
	}
}
