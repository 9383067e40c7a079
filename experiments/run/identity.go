package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"mergescale/experiments/config"
)

// identityCacheFile caches file hashes under the config's out dir.
const identityCacheFile = "checkpoint-identity.json"

// identityFiles are the non-weight files of a model directory that belong
// to a checkpoint's identity (the files `merge` copies beside the weights).
var identityFiles = []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer.model", "added_tokens.json"}

// identityCache maps a file version — (path, size, mtime, inode) of the
// file a path resolves to, symbolic links followed — to its SHA-256, so
// every version of a file is hashed once, however many links (Hugging Face
// cache snapshots point into blobs/) lead to it.
//
// The cache file is shared: by the shards of a study, which plan at once,
// and by an earlier `run --plan`. save merges the entries this process
// added into the file as it is on disk at that moment, under a lock, and
// replaces it atomically, so no process's hashes are lost and no reader
// sees half a file.
type identityCache struct {
	path    string
	mu      sync.Mutex
	entries map[string]string // every known hash: the file's as loaded, and fresh
	fresh   map[string]string // the hashes computed by this process, not saved yet
	// hashed counts the files hashed (not found in the cache); fromCache
	// the checkpoints of hashAll whose every file was in the cache.
	hashed, fromCache int
}

// loadIdentityCache reads the cache of out (an empty one when missing or
// unreadable: a cache is never a reason to fail).
func loadIdentityCache(out string) *identityCache {
	c := &identityCache{path: filepath.Join(out, identityCacheFile), entries: map[string]string{}, fresh: map[string]string{}}
	if b, err := os.ReadFile(c.path); err == nil {
		_ = json.Unmarshal(b, &c.entries)
	}
	return c
}

// pendingBytes is about what save adds to the cache file (for the disk
// pre-flight).
func (c *identityCache) pendingBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.fresh {
		n += int64(len(k) + len(v) + 12)
	}
	return n
}

// save merges the hashes this process computed into the cache file: under
// an exclusive lock of <file>.lock it reads the file as it is now, adds the
// fresh entries and renames a complete new file into place. Without fresh
// entries (or on a nil cache) it writes nothing.
func (c *identityCache) save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fresh) == 0 {
		return nil
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(c.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	merged := map[string]string{}
	if b, err := os.ReadFile(c.path); err == nil {
		_ = json.Unmarshal(b, &merged) // an unreadable file is replaced
	}
	maps.Copy(merged, c.fresh)
	b, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	maps.Copy(c.entries, merged)
	c.fresh = map[string]string{}
	return nil
}

// fileVersion is the cache key of the file at path: the path it resolves
// to (symbolic links followed), its size, mtime and inode.
func fileVersion(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%s|%d|%d|%d", real, fi.Size(), fi.ModTime().UnixNano(), ino), nil
}

// hashFile returns the hex SHA-256 of the file at path.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileHash returns the hex SHA-256 of the file at path, from the cache when
// the same version was hashed before.
func (c *identityCache) fileHash(path string) (string, error) {
	key, err := fileVersion(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	sum, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	if sum, err = hashFile(path); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.entries[key] = sum
	c.fresh[key] = sum
	c.hashed++
	c.mu.Unlock()
	return sum, nil
}

// identityFileNames lists the files of the checkpoint at path that make its
// identity, by name ("" for a .safetensors file itself): its weight files
// (*.safetensors and the shard index), config.json and tokenizer files.
// Symbolic links count as the files they point to, as a Hugging Face cache
// snapshot's do.
func identityFileNames(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{""}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".safetensors") && n != "model.safetensors.index.json" && !slices.Contains(identityFiles, n) {
			continue
		}
		fi, err := os.Stat(filepath.Join(path, n)) // follows links
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s is a broken link: %w", filepath.Join(path, n), err)
			}
			return nil, err
		}
		if fi.Mode().IsRegular() {
			files = append(files, n)
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no weight files", path)
	}
	return files, nil
}

// identity is a checkpoint's identity: the SHA-256 over the names and
// hashes of its identity files (identityFileNames); for a .safetensors
// file, of that file.
func (c *identityCache) identity(path string) (string, error) {
	files, err := identityFileNames(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint identity: %w", err)
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

// hashAll brings the hashes of every identity file of the checkpoints at
// paths into the cache, hashing the files it lacks in parallel (each file
// version once, however many checkpoints or links share it), and counts
// the files hashed and the checkpoints found whole in the cache.
func (c *identityCache) hashAll(paths []string) error {
	type todo struct{ key, path string }
	var work []todo
	queued := map[string]bool{}
	for _, p := range paths {
		files, err := identityFileNames(p)
		if err != nil {
			return fmt.Errorf("checkpoint identity: %w", err)
		}
		whole := true
		for _, n := range files {
			f := filepath.Join(p, n)
			key, err := fileVersion(f)
			if err != nil {
				return fmt.Errorf("checkpoint identity: %w", err)
			}
			c.mu.Lock()
			_, ok := c.entries[key]
			c.mu.Unlock()
			if ok {
				continue
			}
			whole = false
			if !queued[key] {
				queued[key] = true
				work = append(work, todo{key, f})
			}
		}
		if whole {
			c.fromCache++
		}
	}
	workers := min(max(runtime.GOMAXPROCS(0), 2), 8, len(work))
	jobs := make(chan todo)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for t := range jobs {
				if errs[w] != nil {
					continue // drain
				}
				sum, err := hashFile(t.path)
				if err != nil {
					errs[w] = fmt.Errorf("checkpoint identity: %w", err)
					continue
				}
				c.mu.Lock()
				c.entries[t.key] = sum
				c.fresh[t.key] = sum
				c.hashed++
				c.mu.Unlock()
			}
		})
	}
	for _, t := range work {
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	return errors.Join(errs...)
}

// checkpointPaths lists the absolute paths of every checkpoint of
// zoo.checkpoints, each once, in config order.
func checkpointPaths(c *config.Config) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p == "" {
			return
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, z := range c.Zoo.Checkpoints {
		add(z.BaseModel)
		cats := slices.Sorted(maps.Keys(z.Experts))
		for _, cat := range cats {
			add(z.Experts[cat])
		}
		add(z.Multitask)
	}
	return out
}
