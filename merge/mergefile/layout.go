package mergefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"mergescale/checkpoint"
)

// arch describes how one family of checkpoints names its decoder layers.
type arch struct {
	name string
	// architectures and modelTypes recognise the family in config.json.
	architectures []string
	modelTypes    []string
	// prefixes are the layer name templates without the index, e.g.
	// "model.layers." for model.layers.{i}.; a model uses one of them.
	prefixes []string
	// countKeys are the config.json keys holding the layer count.
	countKeys []string
}

// knownArchs returns the architectures recognised from config.json.
func knownArchs() []arch {
	llamaLike := []string{"model.layers."}
	hfCount := []string{"num_hidden_layers"}
	return []arch{
		{name: "llama", architectures: []string{"LlamaForCausalLM", "LLaMaForCausalLM"}, modelTypes: []string{"llama"}, prefixes: llamaLike, countKeys: hfCount},
		{name: "mistral", architectures: []string{"MistralForCausalLM"}, modelTypes: []string{"mistral"}, prefixes: llamaLike, countKeys: hfCount},
		{name: "qwen2", architectures: []string{"Qwen2ForCausalLM"}, modelTypes: []string{"qwen2"}, prefixes: llamaLike, countKeys: hfCount},
		{name: "gpt2", architectures: []string{"GPT2LMHeadModel", "GPT2Model"}, modelTypes: []string{"gpt2"}, prefixes: []string{"transformer.h.", "h."}, countKeys: []string{"n_layer", "num_hidden_layers"}},
	}
}

// fallbackPrefixes are the layer templates tried, in order, for a model
// whose config.json is missing or names another architecture.
func fallbackPrefixes() []string {
	return []string{"model.layers.", "transformer.h.", "h.", "model.decoder.layers.", "gpt_neox.layers.",
		"transformer.blocks.", "transformer.layers.", "layers.", "blocks."}
}

// layout is how one model's tensors map to layers.
type layout struct {
	// arch is the recognised family ("" when the layers come from names).
	arch string
	// prefix is the layer template this model's names use, "" without
	// layers.
	prefix string
	// root is the part of prefix shared by the model's other tensors
	// ("transformer." for transformer.h.{i}.), stripped when tensor names
	// are compared across models.
	root string
	// layers is the number of layers.
	layers int
	// countKey is the config.json key holding the count ("" when none).
	countKey string
}

// modelConfig is what the layer detection reads from config.json.
type modelConfig struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
	raw           map[string]json.RawMessage
}

// readModelConfig reads config.json next to a model (nil when there is
// none, as for a bare .safetensors file).
func readModelConfig(path string) (*modelConfig, error) {
	if !isDir(path) {
		return nil, nil
	}
	file := filepath.Join(path, "config.json")
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var mc modelConfig
	if err := json.Unmarshal(b, &mc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := json.Unmarshal(b, &mc.raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &mc, nil
}

// findArch returns the family config.json names, if known.
func findArch(mc *modelConfig) (arch, bool) {
	if mc == nil {
		return arch{}, false
	}
	for _, a := range knownArchs() {
		for _, name := range mc.Architectures {
			if slices.Contains(a.architectures, name) {
				return a, true
			}
		}
	}
	for _, a := range knownArchs() {
		if slices.Contains(a.modelTypes, mc.ModelType) {
			return a, true
		}
	}
	return arch{}, false
}

// layerIndex parses name as prefix + digits + "." + rest.
func layerIndex(name, prefix string) (int, string, bool) {
	if prefix == "" || !strings.HasPrefix(name, prefix) {
		return 0, "", false
	}
	rest := name[len(prefix):]
	dot := strings.IndexByte(rest, '.')
	if dot <= 0 {
		return 0, "", false
	}
	i, err := strconv.Atoi(rest[:dot])
	if err != nil || i < 0 || rest[:dot] != strconv.Itoa(i) {
		return 0, "", false
	}
	return i, rest[dot+1:], true
}

// detectLayout finds a model's layer template and count: the family from
// config.json (architectures, else model_type) and its count key, else the
// first fallback template its tensor names use and a count from the names.
// The layer indexes in the names must be exactly 0..count−1.
func detectLayout(path string, c *checkpoint.Checkpoint) (layout, error) {
	mc, err := readModelConfig(path)
	if err != nil {
		return layout{}, err
	}
	names := make([]string, 0, len(c.Tensors()))
	for _, t := range c.Tensors() {
		names = append(names, t.Name)
	}
	var l layout
	prefixes := fallbackPrefixes()
	var countKeys []string
	if a, ok := findArch(mc); ok {
		l.arch = a.name
		prefixes, countKeys = a.prefixes, a.countKeys
	}
	seen := map[int]bool{}
	for _, p := range prefixes {
		for _, n := range names {
			if i, _, ok := layerIndex(n, p); ok {
				seen[i] = true
			}
		}
		if len(seen) > 0 {
			l.prefix = p
			break
		}
	}
	if l.prefix == "transformer.h." {
		l.root = "transformer."
	}
	fromNames := 0
	for i := range seen {
		fromNames = max(fromNames, i+1)
	}
	l.layers = fromNames
	if mc != nil {
		if countKeys == nil {
			countKeys = []string{"num_hidden_layers", "n_layer"}
		}
		for _, k := range countKeys {
			raw, ok := mc.raw[k]
			if !ok {
				continue
			}
			var n int
			if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
				return layout{}, fmt.Errorf("%s: %s: want a non-negative integer, got %s", filepath.Join(path, "config.json"), k, raw)
			}
			l.countKey = k
			if n != fromNames {
				return layout{}, fmt.Errorf("%s says %s = %d, but the tensor names have %d layers (%s{i}.)",
					filepath.Join(path, "config.json"), k, n, fromNames, l.prefix)
			}
			break
		}
	}
	if len(seen) != fromNames {
		var missing []int
		for i := range fromNames {
			if !seen[i] {
				missing = append(missing, i)
			}
		}
		return layout{}, fmt.Errorf("layers %v are missing (tensor names %s{i}. up to %d)", missing, l.prefix, fromNames-1)
	}
	return l, nil
}

// split parses a tensor name of this model: its key (the name without the
// root), and its layer index and the rest after the layer prefix when it
// is a layer tensor (layer −1 otherwise).
func (l layout) split(name string) (key string, layer int, rest string) {
	if i, r, ok := layerIndex(name, l.prefix); ok {
		return strings.TrimPrefix(name, l.root), i, r
	}
	return strings.TrimPrefix(name, l.root), -1, ""
}

// layerName is the name of a layer tensor of this model.
func (l layout) layerName(layer int, rest string) string {
	return l.prefix + strconv.Itoa(layer) + "." + rest
}

// find returns this model's name for a non-layer tensor key.
func (l layout) find(c *checkpoint.Checkpoint, key string) (string, bool) {
	for _, n := range []string{l.root + key, key, "transformer." + key} {
		if _, ok := c.Info(n); ok {
			return n, true
		}
	}
	return "", false
}

// isPre reports whether a non-layer tensor key belongs before the layers
// (embeddings): its name has "embed" in it or it is GPT-2's wte or wpe.
// Every other non-layer tensor (final norm, LM head) belongs after them.
func isPre(key string) bool {
	return strings.Contains(key, "embed") || strings.HasPrefix(key, "wte.") || strings.HasPrefix(key, "wpe.")
}

// countPattern matches "key": N in config.json text.
func countPattern(key string) *regexp.Regexp {
	return regexp.MustCompile(`("` + regexp.QuoteMeta(key) + `"\s*:\s*)(\d+)`)
}

// withLayerCount returns config.json text with the layer count set to n:
// the key's number is replaced in place when it occurs once (the file's
// formatting is kept); otherwise the JSON is re-encoded with the key set.
// key is the config's count key (the family's first when the file has
// none).
func withLayerCount(data []byte, key string, n int) ([]byte, error) {
	re := countPattern(key)
	if len(re.FindAll(data, -1)) == 1 {
		return re.ReplaceAll(data, []byte("${1}"+strconv.Itoa(n))), nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m[key] = n
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
