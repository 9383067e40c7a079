package config

import (
	"os"
	"path/filepath"
	"reflect"
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
		{"key_ignore builtin", "eval: {key_ignore: [--batch-size]}", "eval.key_ignore: is only used by backend: command"},
		{"key_ignore not a flag", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], key_ignore: [batch]}", `eval.key_ignore[0]: "batch" is not a flag`},
		{"key_ignore absent", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], key_ignore: [--device]}", `eval.key_ignore[0]: flag "--device" is not in eval.command`},
		{"version type", "eval: {version: [1]}", "eval.version"},
		{"persistent model", "eval: {backend: command, persistent: true, command: [p, --model, '{model}']}", "e.yaml:21: eval.command[2]: a persistent evaluator is started once per evaluation slot and is sent its models and requests on standard input: {model} has no meaning here"},
		{"persistent requests", "eval: {backend: command, persistent: true, command: [p, '--requests={requests}']}", "eval.command[1]: a persistent evaluator is started once per evaluation slot and is sent its models and requests on standard input: {requests}"},
		{"persistent out", "eval:\n  backend: command\n  persistent: true\n  command:\n    - p\n    - '{out}'", "e.yaml:26: eval.command[1]: a persistent evaluator is started once per evaluation slot and is sent its models and requests on standard input: {out}"},
		{"gpus without devices", "eval:\n  backend: command\n  command: [p, '{model}', '{requests}', '{out}', 'cuda:{worker}']\n  gpus_per_worker: 2", "e.yaml:24: eval.gpus_per_worker: eval.command must pass {devices}"},
		{"gpus range", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}', '{devices}'], gpus_per_worker: 0}", "eval.gpus_per_worker: must be in [1, 64], got 0"},
		{"slots range", "eval: {backend: command, command: [p, '{model}', '{requests}', '{out}'], slots: 0}", "eval.slots: must be in [1, 256], got 0"},
		{"persistent builtin", "eval: {persistent: true}", "eval.persistent: is only used by backend: command"},
		{"slots builtin", "eval: {slots: 2}", "eval.slots: is only used by backend: command"},
		{"gpus builtin", "eval: {gpus_per_worker: 2}", "eval.gpus_per_worker: is only used by backend: command"},
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
	persistent := baseConfig + "eval: {backend: command, persistent: true, command: [p, --devices, '{devices}', --slot, '{worker}'], slots: 2, gpus_per_worker: 2}\n"
	c, err = Parse("e.yaml", []byte(persistent), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Eval.Persistent || c.Eval.SlotsFor(8) != 2 || c.Eval.GPUsPerWorker != 2 || (EvalConfig{}).SlotsFor(3) != 3 {
		t.Errorf("persistent eval section %+v", c.Eval)
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

// TestEvalKeyPart checks what the evaluator puts in evaluation keys: the
// command without the key_ignore flags and their values, the files it
// names, the version; nothing for the built-in backend without a version.
func TestEvalKeyPart(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "adapter.py")
	os.WriteFile(script, []byte("print(1)\n"), 0o644)
	e := EvalConfig{Backend: "command", KeyIgnore: []string{"--batch-size", "--device"},
		Command: []string{"python3", script, "--model", "{model}", "--batch-size", "16", "--device=cuda:{worker}", "--bos", "auto", dir}}
	if got, want := e.KeyArgv(), []string{"python3", script, "--model", "{model}", "--bos", "auto", dir}; !reflect.DeepEqual(got, want) {
		t.Errorf("KeyArgv %q, want %q", got, want)
	}
	if got := e.KeyFiles(); !reflect.DeepEqual(got, []string{script}) {
		t.Errorf("KeyFiles %q, want the script only (not python3, a placeholder or a folder)", got)
	}
	files := map[string]string{script: "abc"}
	want := map[string]any{"backend": "command", "command": e.KeyArgv(), "files": files}
	if got := e.KeyPart(files); !reflect.DeepEqual(got, want) {
		t.Errorf("KeyPart %v, want %v", got, want)
	}
	e.Version = "hf_eval 2"
	want["version"] = "hf_eval 2"
	if got := e.KeyPart(files); !reflect.DeepEqual(got, want) {
		t.Errorf("KeyPart with a version %v, want %v", got, want)
	}
	if got := (EvalConfig{}).KeyPart(nil); got != nil {
		t.Errorf("built-in KeyPart %v, want nil", got)
	}
	if got := (EvalConfig{Version: "v2"}).KeyPart(nil); !reflect.DeepEqual(got, map[string]any{"version": "v2"}) {
		t.Errorf("built-in KeyPart with a version %v", got)
	}
}
