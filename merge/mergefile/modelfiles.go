package mergefile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"

	"mergescale/checkpoint"
	"mergescale/internal/atomicfile"
)

// tokenizerFiles are the files of a Hugging Face tokenizer that are copied
// from the tokenizer source.
func tokenizerFiles() []string {
	return []string{"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
		"special_tokens_map.json", "tokenizer.model", "added_tokens.json"}
}

// vocabulary returns a model directory's vocabulary, token → id, from
// tokenizer.json (model.vocab as a mapping or a list of [piece, score],
// plus added_tokens), else vocab.json (plus added_tokens.json), else the
// SHA-256 of tokenizer.model as a one-entry stand-in.
func vocabulary(dir string) (map[string]int64, error) {
	read := func(name string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
	v := map[string]int64{}
	if b, ok, err := read("tokenizer.json"); err != nil {
		return nil, err
	} else if ok {
		var doc struct {
			Model struct {
				Vocab json.RawMessage `json:"vocab"`
			} `json:"model"`
			Added []struct {
				ID      int64  `json:"id"`
				Content string `json:"content"`
			} `json:"added_tokens"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
		}
		if len(doc.Model.Vocab) > 0 && doc.Model.Vocab[0] == '[' {
			var list [][2]any
			if err := json.Unmarshal(doc.Model.Vocab, &list); err != nil {
				return nil, fmt.Errorf("%s: model.vocab: %w", filepath.Join(dir, "tokenizer.json"), err)
			}
			for i, e := range list {
				s, _ := e[0].(string)
				v[s] = int64(i)
			}
		} else if len(doc.Model.Vocab) > 0 {
			if err := json.Unmarshal(doc.Model.Vocab, &v); err != nil {
				return nil, fmt.Errorf("%s: model.vocab: %w", filepath.Join(dir, "tokenizer.json"), err)
			}
		}
		for _, a := range doc.Added {
			v[a.Content] = a.ID
		}
		return v, nil
	}
	if b, ok, err := read("vocab.json"); err != nil {
		return nil, err
	} else if ok {
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "vocab.json"), err)
		}
		if b, ok, err := read("added_tokens.json"); err != nil {
			return nil, err
		} else if ok {
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "added_tokens.json"), err)
			}
		}
		return v, nil
	}
	if b, ok, err := read("tokenizer.model"); err != nil {
		return nil, err
	} else if ok {
		h := sha256.Sum256(b)
		return map[string]int64{"sentencepiece:" + hex.EncodeToString(h[:]): 0}, nil
	}
	return nil, fmt.Errorf("no tokenizer files (tokenizer.json, vocab.json or tokenizer.model) in %s", dir)
}

// checkTokenizerSource locates tokenizer_source: <model> and checks that
// every input's vocabulary equals that model's: mergekit would otherwise
// build a new vocabulary and permute the embedding rows, which this tool
// does not do. It returns the directory to copy the tokenizer from.
func (p *planner) checkTokenizerSource(getenv func(string) string) string {
	ts := p.cfg.TokenizerSource
	if ts == "" || ts == "base" {
		return ""
	}
	dir, err := locateModel(ts, getenv)
	if err != nil {
		p.problem("tokenizer_source: %v", err)
		return ""
	}
	want, err := vocabulary(dir)
	if err != nil {
		p.problem("tokenizer_source %s: %v", ts, err)
		return ""
	}
	for i, path := range p.plan.Paths {
		if path == "" {
			continue
		}
		got, err := vocabulary(path)
		if err != nil {
			p.problem("not supported yet: tokenizer_source with differing vocabularies (model %s: %v)", p.plan.Models[i], err)
			continue
		}
		if !maps.Equal(got, want) {
			p.problem("not supported yet: tokenizer_source with differing vocabularies (model %s: %d tokens, %s: %d, not the same)",
				p.plan.Models[i], len(got), ts, len(want))
		}
	}
	return dir
}

// writeModelFiles copies config.json, generation_config.json and the
// tokenizer files of the config model (the base, else the first model)
// into dir, sets the layer count of config.json to the output's, and
// replaces the tokenizer files by those of tokenizer_source when it names
// a model.
func writeModelFiles(cfg *Config, plan *Plan, dir string) error {
	src := plan.Paths[plan.configModel]
	if !isDir(src) {
		return nil
	}
	if err := checkpoint.CopyModelFiles(src, dir); err != nil {
		return fmt.Errorf("merge: copying config and tokenizer files: %w", err)
	}
	if l := plan.layouts[plan.configModel]; plan.Layers != l.layers {
		if err := setLayerCount(filepath.Join(dir, "config.json"), l, plan.Layers); err != nil {
			return fmt.Errorf("merge: config.json: %w", err)
		}
	}
	if plan.tokenizerDir == "" {
		return nil
	}
	for _, name := range tokenizerFiles() {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("merge: %w", err)
		}
		b, err := os.ReadFile(filepath.Join(plan.tokenizerDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("merge: tokenizer_source: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(dir, name), b); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	return nil
}

// setLayerCount rewrites the layer count of a copied config.json.
func setLayerCount(path string, l layout, n int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	key := l.countKey
	if key == "" {
		for _, a := range knownArchs() {
			if a.name == l.arch {
				key = a.countKeys[0]
			}
		}
	}
	if key == "" {
		return nil // an unknown family without a count key: nothing to set
	}
	out, err := withLayerCount(data, key, n)
	if err != nil {
		return err
	}
	if bytes.Equal(out, data) {
		return nil
	}
	return atomicfile.Write(path, out)
}
