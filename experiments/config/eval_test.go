package config

import (
	"strings"
	"testing"
)

func TestEvalConfigErrors(t *testing.T) {
	for _, c := range []struct{ name, section, want string }{
		{"backend", "eval: {backend: vllm}", `eval.backend: unknown backend "vllm" (known: builtin, command)`},
		{"no command", "eval: {backend: command}", "eval.command: backend command needs a command"},
		{"placeholders", "eval: {backend: command, command: [prog, '{model}']}", "eval.command: must pass {requests} to the program"},
		{"builtin with command", "eval: {command: [prog]}", "eval.command: is only used by backend: command"},
		{"timeout", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], timeout: soon}", `eval.timeout: must be a positive duration like 30m or 90s, got "soon"`},
		{"batch", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], batch: -1}", "eval.batch: must be ≥ 0"},
	} {
		_, err := Parse("e.yaml", []byte(baseConfig+c.section+"\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	good := baseConfig + "eval: {backend: command, command: [p, --model, '{model}', '{requests}', '{out}', 'cuda:{worker}'], timeout: 30m, batch: 64}\n"
	c, err := Parse("e.yaml", []byte(good), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Eval.Backend != "command" || c.Eval.Timeout != "30m" || c.Eval.Batch != 64 || len(c.Eval.Command) != 6 {
		t.Errorf("eval section %+v", c.Eval)
	}
	plain, err := Parse("e.yaml", []byte(baseConfig), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := Parse("e.yaml", []byte(baseConfig+"eval: {backend: builtin}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hash() != explicit.Hash() {
		t.Error("an explicit builtin backend changed the config hash")
	}
}
