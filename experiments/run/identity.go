package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// identityCacheFile caches file hashes under the config's out dir.
const identityCacheFile = "checkpoint-identity.json"

// identityFiles are the non-weight files of a model directory that belong
// to a checkpoint's identity (the files `merge` copies beside the weights).
var identityFiles = []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer.model", "added_tokens.json"}

// identityCache maps a file version — (path, size, mtime, inode) — to its
// SHA-256, so every version of a file is hashed once.
type identityCache struct {
	path    string
	mu      sync.Mutex
	entries map[string]string
	dirty   bool
	hashed  int // files hashed (not found in the cache), for tests
}

// loadIdentityCache reads the cache of out (an empty one when missing or
// unreadable: a cache is never a reason to fail).
func loadIdentityCache(out string) *identityCache {
	c := &identityCache{path: filepath.Join(out, identityCacheFile), entries: map[string]string{}}
	if b, err := os.ReadFile(c.path); err == nil {
		_ = json.Unmarshal(b, &c.entries)
	}
	return c
}

// save writes the cache when it changed (atomically; a failure only costs
// rehashing next time).
func (c *identityCache) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c.entries, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".identity-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	c.dirty = false
	return nil
}

// fileHash returns the hex SHA-256 of the file at path, from the cache when
// the same version was hashed before.
func (c *identityCache) fileHash(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	key := fmt.Sprintf("%s|%d|%d|%d", abs, fi.Size(), fi.ModTime().UnixNano(), ino)
	c.mu.Lock()
	sum, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", abs, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.entries[key] = sum
	c.dirty = true
	c.hashed++
	c.mu.Unlock()
	return sum, nil
}

// identity is a checkpoint's identity: the SHA-256 over the names and
// hashes of its weight files (*.safetensors and the shard index),
// config.json and tokenizer files; for a .safetensors file, of that file.
func (c *identityCache) identity(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint identity: %w", err)
	}
	var files []string
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return "", fmt.Errorf("checkpoint identity: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, ".safetensors") || n == "model.safetensors.index.json" || slices.Contains(identityFiles, n)) {
				files = append(files, n)
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return "", fmt.Errorf("checkpoint identity: %s holds no weight files", path)
		}
	} else {
		files = []string{""}
	}
	h := sha256.New()
	for _, n := range files {
		sum, err := c.fileHash(filepath.Join(path, n))
		if err != nil {
			return "", fmt.Errorf("checkpoint identity: %w", err)
		}
		fmt.Fprintf(h, "%s %s\n", n, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
