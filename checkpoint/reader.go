package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Hugging Face file names of a model directory.
const (
	// SingleFileName is the weights file of an unsharded model directory.
	SingleFileName = "model.safetensors"
	// IndexFileName is the index of a sharded model directory.
	IndexFileName = "model.safetensors.index.json"
)

// maxIndexSize bounds the index file we are willing to read.
const maxIndexSize = 100_000_000

// TensorInfo describes one tensor: its name, element type and shape.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64 // [] for a scalar
}

// NumElements is the product of the shape: 1 for a scalar, 0 when a
// dimension is 0. It returns -1 if the product overflows int64.
func (t TensorInfo) NumElements() int64 {
	n, _, ok := numBytes(U8, t.Shape)
	if !ok {
		return -1
	}
	return n
}

// NumBytes is NumElements × DType.Size(), or -1 on overflow or an unknown dtype.
func (t TensorInfo) NumBytes() int64 {
	if !t.DType.valid() {
		return -1
	}
	_, nb, ok := numBytes(t.DType, t.Shape)
	if !ok {
		return -1
	}
	return nb
}

// shard is one memory-mapped safetensors file.
type shard struct {
	path string
	data []byte // the whole file, mapped read-only; nil when the file is empty
}

// tensorRef locates a tensor's bytes: data[begin:end] of shard s.
type tensorRef struct {
	info       TensorInfo
	s          *shard
	begin, end int64 // absolute file offsets
}

// Checkpoint is an open safetensors checkpoint: a single file, a model
// directory with model.safetensors, or a sharded model directory. Its
// tensors are memory-mapped and read lazily. A Checkpoint is safe for
// concurrent readers; Close must not race with them.
type Checkpoint struct {
	path   string
	shards []*shard
	refs   map[string]tensorRef
	infos  []TensorInfo // sorted by name
	meta   map[string]string
	pageSz int
}

// Open opens the checkpoint at path: a .safetensors file, a directory
// holding model.safetensors, or a directory holding
// model.safetensors.index.json and its shards. Every header is validated
// (see the package documentation); errors name the file and the tensor.
func Open(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathErr(path, err)
	}
	c := &Checkpoint{path: path, refs: make(map[string]tensorRef), pageSz: os.Getpagesize()}
	if !st.IsDir() {
		if err := c.addShard(path, nil); err != nil {
			c.Close()
			return nil, err
		}
		c.finish()
		return c, nil
	}
	single := filepath.Join(path, SingleFileName)
	if fi, err := os.Stat(single); err == nil && !fi.IsDir() {
		if err := c.addShard(single, nil); err != nil {
			c.Close()
			return nil, err
		}
		c.finish()
		return c, nil
	}
	index := filepath.Join(path, IndexFileName)
	if _, err := os.Stat(index); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s or %s in directory", path, SingleFileName, IndexFileName)
		}
		return nil, pathErr(index, err)
	}
	if err := c.openSharded(path, index); err != nil {
		c.Close()
		return nil, err
	}
	c.finish()
	return c, nil
}

// openSharded reads the index and maps every shard it names.
func (c *Checkpoint) openSharded(dir, index string) error {
	f, err := os.Open(index)
	if err != nil {
		return pathErr(index, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > maxIndexSize {
		return fmt.Errorf("%s: index is %d bytes, more than the %d-byte limit", index, st.Size(), maxIndexSize)
	}
	var idx struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	dec := json.NewDecoder(f)
	if err := dec.Decode(&idx); err != nil {
		return fmt.Errorf("%s: %w", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return fmt.Errorf("%s: weight_map is missing or empty", index)
	}
	byFile := make(map[string][]string)
	for name, file := range idx.WeightMap {
		if file == "" || file != filepath.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
			return fmt.Errorf("%s: tensor %q: shard file %q is not a plain file name in the directory", index, name, file)
		}
		byFile[file] = append(byFile[file], name)
	}
	for _, file := range slices.Sorted(maps.Keys(byFile)) {
		want := make(map[string]bool, len(byFile[file]))
		for _, n := range byFile[file] {
			want[n] = true
		}
		if err := c.addShard(filepath.Join(dir, file), want); err != nil {
			return err
		}
	}
	return nil
}

// addShard maps one file, validates its header and registers its tensors.
// When want is non-nil the file must hold exactly the tensors in want.
func (c *Checkpoint) addShard(path string, want map[string]bool) error {
	s, h, err := mapFile(path)
	if err != nil {
		return err
	}
	c.shards = append(c.shards, s)
	if len(c.shards) == 1 {
		c.meta = h.Metadata
	}
	for _, e := range h.Entries {
		if want != nil && !want[e.Name] {
			return &FormatError{Path: path, Tensor: e.Name, Msg: "tensor is not listed for this file in " + IndexFileName}
		}
		if prev, dup := c.refs[e.Name]; dup {
			return &FormatError{Path: path, Tensor: e.Name, Msg: "tensor also appears in " + prev.s.path}
		}
		c.refs[e.Name] = tensorRef{info: e.TensorInfo, s: s, begin: h.DataOff + e.Begin, end: h.DataOff + e.End}
	}
	for name := range want {
		if _, ok := c.refs[name]; !ok {
			return &FormatError{Path: path, Tensor: name, Msg: IndexFileName + " lists the tensor in this file but the file does not hold it"}
		}
	}
	return nil
}

// mapFile maps path read-only and parses its header.
func mapFile(path string) (*shard, *header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, pathErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &FormatError{Path: path, Msg: "not a regular file"}
	}
	size := st.Size()
	var prefix [8]byte
	if size >= 8 {
		if _, err := f.ReadAt(prefix[:], 0); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if _, err := headerLen(prefix[:], size); err != nil {
		return nil, nil, &FormatError{Path: path, Msg: err.Error()}
	}
	if int64(int(size)) != size {
		return nil, nil, &FormatError{Path: path, Msg: "file too large to map"}
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	s := &shard{path: path, data: data}
	h, err := parseHeader(path, data, size)
	if err != nil {
		s.unmap()
		return nil, nil, err
	}
	return s, h, nil
}

func (s *shard) unmap() error {
	if s.data == nil {
		return nil
	}
	err := unix.Munmap(s.data)
	s.data = nil
	if err != nil {
		return fmt.Errorf("%s: munmap: %w", s.path, err)
	}
	return nil
}

// pathErr formats err as "path: what is wrong", dropping the operation name
// an *fs.PathError would add ("stat path: ..."). The cause stays wrapped.
func pathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// finish builds the sorted tensor list.
func (c *Checkpoint) finish() {
	c.infos = make([]TensorInfo, 0, len(c.refs))
	for _, r := range c.refs {
		c.infos = append(c.infos, r.info)
	}
	sort.Slice(c.infos, func(i, j int) bool { return c.infos[i].Name < c.infos[j].Name })
	if c.meta == nil {
		c.meta = map[string]string{}
	}
}

// Path is the path the checkpoint was opened with.
func (c *Checkpoint) Path() string { return c.path }

// Tensors lists every tensor, sorted by name. The caller must not modify
// the returned slice.
func (c *Checkpoint) Tensors() []TensorInfo { return c.infos }

// Info returns the description of the named tensor.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	r, ok := c.refs[name]
	return r.info, ok
}

// Metadata is the file's __metadata__ (for a sharded checkpoint, the first
// shard's in file-name order). It is empty, not nil, when absent.
func (c *Checkpoint) Metadata() map[string]string { return c.meta }

// Raw returns the named tensor's bytes (little-endian elements) as a
// zero-copy view of the mapped file. The slice is read-only, and valid
// until Close; after Release it stays readable but pages are re-read.
func (c *Checkpoint) Raw(name string) ([]byte, error) {
	r, ok := c.refs[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: not in checkpoint", c.path, name)
	}
	if r.s.data == nil {
		return nil, fmt.Errorf("%s: tensor %q: checkpoint is closed", c.path, name)
	}
	return r.s.data[r.begin:r.end:r.end], nil
}

// Float32 converts the named F32, F16, BF16 or F64 tensor to float32. It
// reuses dst's storage when its capacity suffices and returns the filled
// slice of NumElements values.
func (c *Checkpoint) Float32(name string, dst []float32) ([]float32, error) {
	raw, err := c.Raw(name)
	if err != nil {
		return nil, err
	}
	info := c.refs[name].info
	if !info.DType.IsFloat() {
		return nil, fmt.Errorf("%s: tensor %q: dtype %s does not convert to float32", c.path, name, info.DType)
	}
	n := len(raw) / info.DType.Size()
	if dst != nil && cap(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]float32, n)
	}
	if err := decodeFloat32(info.DType, raw, dst); err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", c.path, name, err)
	}
	return dst, nil
}

// Release tells the kernel the named tensor's pages are no longer needed
// (madvise MADV_DONTNEED over the pages the tensor spans), so a streaming
// reader's resident memory stays bounded by what it holds. The mapping is
// read-only and file-backed, so nothing is lost: a later Raw re-reads the
// pages. Unknown names are ignored.
func (c *Checkpoint) Release(name string) {
	r, ok := c.refs[name]
	if !ok || r.s.data == nil || r.end <= r.begin {
		return
	}
	ps := int64(c.pageSz)
	lo := r.begin / ps * ps
	hi := (r.end + ps - 1) / ps * ps
	if hi > int64(len(r.s.data)) {
		hi = int64(len(r.s.data))
	}
	_ = unix.Madvise(r.s.data[lo:hi], unix.MADV_DONTNEED) // advisory only; failure just keeps pages resident
}

// Close unmaps every file. Slices from Raw must not be used afterwards.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, s := range c.shards {
		if err := s.unmap(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
