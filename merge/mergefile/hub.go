package mergefile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// hubID matches a Hugging Face model id as recipes write it: NAME or
// ORG/NAME, optionally @REVISION (a branch, tag or commit).
var hubID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?(@[A-Za-z0-9][A-Za-z0-9._/-]*)?$`)

// looksLikeHubID reports whether ref could be a hub model id rather than a
// path: no leading ./, ../ or /, at most one slash before the revision.
func looksLikeHubID(ref string) bool {
	return hubID.MatchString(ref) && !strings.HasPrefix(ref, ".")
}

// looksLikeLoRA reports whether ref is mergekit's MODEL+LORA reference: two
// hub ids joined by a plus.
func looksLikeLoRA(ref string) bool {
	m, l, ok := strings.Cut(ref, "+")
	return ok && looksLikeHubID(m) && looksLikeHubID(l)
}

// hubCacheDir returns the Hugging Face hub cache directory as the hub
// library finds it: $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub.
func hubCacheDir(getenv func(string) string) string {
	if d := getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	home := getenv("HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = h
		}
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// locateModel returns the path a model reference names: the reference
// itself when it exists, else the snapshot directory of a hub id in the
// local Hugging Face cache (models--ORG--NAME/snapshots/<commit>, the
// commit being @REV when given, a ref named REV, else refs/main). Nothing is
// downloaded; a miss is one error naming where it looked.
func locateModel(ref string, getenv func(string) string) (string, error) {
	if _, err := os.Stat(ref); err == nil {
		return ref, nil
	}
	if looksLikeLoRA(ref) {
		return "", fmt.Errorf("model %s: not supported yet: model+lora references", ref)
	}
	if !looksLikeHubID(ref) {
		return ref, nil // checkpoint.Open reports the missing path
	}
	id, rev, _ := strings.Cut(ref, "@")
	cache := hubCacheDir(getenv)
	repo := filepath.Join(cache, "models--"+strings.ReplaceAll(id, "/", "--"))
	if _, err := os.Stat(repo); err != nil {
		return "", fmt.Errorf("model %s: no such path, and not in the Hugging Face cache (looked for %s; nothing is downloaded)", ref, repo)
	}
	commit := rev
	refName := rev
	if rev == "" {
		refName = "main"
	}
	if rev == "" || !isDir(filepath.Join(repo, "snapshots", rev)) {
		b, err := os.ReadFile(filepath.Join(repo, "refs", refName))
		if err != nil {
			return "", fmt.Errorf("model %s: revision %s is not in the Hugging Face cache (looked for %s and %s)",
				ref, refName, filepath.Join(repo, "snapshots", refName), filepath.Join(repo, "refs", refName))
		}
		commit = strings.TrimSpace(string(b))
	}
	snap := filepath.Join(repo, "snapshots", commit)
	if !isDir(snap) {
		return "", fmt.Errorf("model %s: snapshot %s is not in the Hugging Face cache (looked for %s)", ref, commit, snap)
	}
	return snap, nil
}

// isDir reports whether path is an existing directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
