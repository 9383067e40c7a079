package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"mergescale/internal/atomicfile"
)

// convertChunk is the number of elements WriteFloat32 converts at a time.
const convertChunk = 16 << 10

// writebackBytes is how much written data a FileWriter lets accumulate
// before it asks the kernel to start writing it to disk (on Linux), so that
// the fsync in Close waits for the tail only, not the whole file.
const writebackBytes = 32 << 20

// FileWriter streams one safetensors file: the header, built from the
// declared tensors, is written first, then each tensor's data in
// declaration order. The file is written under a temporary name in the
// target directory and renamed into place by Close.
type FileWriter struct {
	path    string // final name
	tmp     *os.File
	out     io.Writer     // bw, or dio for a large file
	bw      *bufio.Writer // nil when writing with O_DIRECT
	dio     *directWriter // nil when writing through the page cache
	tensors []TensorInfo
	next    int // index of the next tensor to write
	buf     []byte
	pos     int64 // bytes handed to bw so far
	kicked  int64 // offset up to which writeback has been started
	err     error // sticky: set on the first failure
	done    bool  // closed or aborted
}

// CreateFile starts writing a safetensors file at path with the given
// tensors (in this order) and metadata. Names must be unique, non-empty and
// not "__metadata__"; dtypes must be known. Nothing appears under path
// until Close succeeds. A file of 64 MiB or more is written with O_DIRECT
// where the system and filesystem allow it (see directWriter), otherwise
// through the page cache.
func CreateFile(path string, tensors []TensorInfo, metadata map[string]string) (*FileWriter, error) {
	return createFile(path, tensors, metadata, directMinBytes)
}

// createFile is CreateFile writing with O_DIRECT from directMin bytes on.
func createFile(path string, tensors []TensorInfo, metadata map[string]string, directMin int64) (*FileWriter, error) {
	hdr, err := buildHeader(tensors, metadata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w := &FileWriter{path: path, tmp: tmp, tensors: append([]TensorInfo(nil), tensors...)}
	size := int64(len(hdr))
	for _, t := range tensors {
		size += t.NumBytes() // buildHeader checked the sizes and their sum
	}
	if size >= directMin && setDirect(tmp, true) == nil {
		w.dio = newDirectWriter(tmp)
		w.out = w.dio
	} else {
		w.bw = bufio.NewWriterSize(tmp, 1<<20)
		w.out = w.bw
	}
	if _, err := w.out.Write(hdr); err != nil {
		w.Abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.pos = int64(len(hdr))
	return w, nil
}

// buildHeader encodes the length prefix and the JSON header, padded with
// spaces to a multiple of 8 bytes. Tensors keep the declared order and
// occupy consecutive offsets; metadata keys are sorted.
func buildHeader(tensors []TensorInfo, metadata map[string]string) ([]byte, error) {
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	str := func(s string) {
		enc.Encode(s) // a string always encodes
		js.Truncate(js.Len() - 1)
	}
	js.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		js.WriteString(`"__metadata__":{`)
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				js.WriteByte(',')
			}
			str(k)
			js.WriteByte(':')
			str(metadata[k])
		}
		js.WriteByte('}')
		first = false
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == metadataKey {
			return nil, fmt.Errorf("tensor %q: invalid name", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %q: declared twice", t.Name)
		}
		seen[t.Name] = true
		if !t.DType.valid() {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		nb := t.NumBytes()
		if nb < 0 || off+nb < off {
			return nil, fmt.Errorf("tensor %q: shape %v is negative or too large", t.Name, t.Shape)
		}
		if !first {
			js.WriteByte(',')
		}
		first = false
		str(t.Name)
		js.WriteString(`:{"dtype":"`)
		js.WriteString(string(t.DType))
		js.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				js.WriteByte(',')
			}
			js.WriteString(strconv.FormatInt(d, 10))
		}
		fmt.Fprintf(&js, `],"data_offsets":[%d,%d]}`, off, off+nb)
		off += nb
	}
	js.WriteByte('}')
	for js.Len()%8 != 0 {
		js.WriteByte(' ')
	}
	if js.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", js.Len(), MaxHeaderSize)
	}
	out := make([]byte, 8, 8+js.Len())
	binary.LittleEndian.PutUint64(out, uint64(js.Len()))
	return append(out, js.Bytes()...), nil
}

// expect checks that name is the next declared tensor and returns it.
func (w *FileWriter) expect(name string) (TensorInfo, error) {
	if w.done {
		return TensorInfo{}, fmt.Errorf("%s: tensor %q: writer is closed", w.path, name)
	}
	if w.err != nil {
		return TensorInfo{}, w.err
	}
	if w.next >= len(w.tensors) {
		return TensorInfo{}, fmt.Errorf("%s: tensor %q: all declared tensors are already written", w.path, name)
	}
	t := w.tensors[w.next]
	if t.Name != name {
		return TensorInfo{}, fmt.Errorf("%s: tensor %q: out of order, next declared tensor is %q", w.path, name, t.Name)
	}
	return t, nil
}

// WriteRaw writes the next tensor's bytes (little-endian elements of its
// declared dtype); len(data) must equal its NumBytes.
func (w *FileWriter) WriteRaw(name string, data []byte) error {
	t, err := w.expect(name)
	if err != nil {
		return err
	}
	if int64(len(data)) != t.NumBytes() {
		return fmt.Errorf("%s: tensor %q: got %d bytes, want %d for %s %v", w.path, name, len(data), t.NumBytes(), t.DType, t.Shape)
	}
	if _, err := w.out.Write(data); err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.path, name, err)
		return w.err
	}
	return w.tensorDone(name, t.NumBytes())
}

// tensorDone counts a written tensor and, every writebackBytes, flushes
// the buffer and starts the kernel's writeback of what was written since
// the last time (advisory: the fsync in Close still reports any failure).
// Direct writes need no writeback.
func (w *FileWriter) tensorDone(name string, n int64) error {
	w.next++
	w.pos += n
	if w.dio != nil || w.pos-w.kicked < writebackBytes {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("%s: tensor %q: %w", w.path, name, err)
		return w.err
	}
	startWriteback(w.tmp, w.kicked, w.pos-w.kicked)
	w.kicked = w.pos
	return nil
}

// WriteFloat32 converts data to the next tensor's declared float dtype
// (F32, F16, BF16 with round-to-nearest-even, or F64) and writes it;
// len(data) must equal its NumElements.
func (w *FileWriter) WriteFloat32(name string, data []float32) error {
	t, err := w.expect(name)
	if err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return fmt.Errorf("%s: tensor %q: declared dtype %s is not a float type", w.path, name, t.DType)
	}
	if int64(len(data)) != t.NumElements() {
		return fmt.Errorf("%s: tensor %q: got %d values, want %d for shape %v", w.path, name, len(data), t.NumElements(), t.Shape)
	}
	if t.DType == F32 {
		// The common case writes the caller's storage as is, no conversion copy.
		if b, ok := f32Bytes(data); ok {
			if _, err := w.out.Write(b); err != nil {
				w.err = fmt.Errorf("%s: tensor %q: %w", w.path, name, err)
				return w.err
			}
			return w.tensorDone(name, t.NumBytes())
		}
	}
	sz := t.DType.Size()
	if w.buf == nil {
		w.buf = make([]byte, convertChunk*8)
	}
	for i := 0; i < len(data); i += convertChunk {
		chunk := data[i:min(i+convertChunk, len(data))]
		b := w.buf[:len(chunk)*sz]
		if err := encodeFloat32(t.DType, chunk, b); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", w.path, name, err)
		}
		if _, err := w.out.Write(b); err != nil {
			w.err = fmt.Errorf("%s: tensor %q: %w", w.path, name, err)
			return w.err
		}
	}
	return w.tensorDone(name, t.NumBytes())
}

// finish flushes and syncs the temporary file, after checking every
// declared tensor was written, and closes it without renaming.
func (w *FileWriter) finish() error {
	if w.done {
		return fmt.Errorf("%s: writer is closed", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if w.next < len(w.tensors) {
		return fmt.Errorf("%s: tensor %q: declared but not written", w.path, w.tensors[w.next].Name)
	}
	if w.dio != nil {
		if err := w.dio.finish(w.pos); err != nil {
			return fmt.Errorf("%s: %w", w.path, err)
		}
	} else if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	return nil
}

// commit renames the finished temporary file into place.
func (w *FileWriter) commit() error {
	if err := os.Rename(w.tmp.Name(), w.path); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.done = true
	return nil
}

// Close checks that every declared tensor was written, flushes and syncs
// the file, renames it to its final name and syncs the directory. On an
// error before the rename nothing is left behind.
func (w *FileWriter) Close() error {
	if w.done {
		return fmt.Errorf("%s: writer is closed", w.path)
	}
	if err := w.finish(); err != nil {
		w.Abort()
		return err
	}
	if err := w.commit(); err != nil {
		w.Abort()
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(w.path))
}

// Abort discards the temporary file. It is safe to call after Close (it
// then does nothing) and more than once.
func (w *FileWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.dio != nil {
		w.dio.stop()
	}
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// DefaultMaxShardBytes is the shard size CreateDir uses when given 0: 5 GB,
// the Hugging Face default.
const DefaultMaxShardBytes = 5_000_000_000

// DirWriter writes a model directory's weights: model.safetensors, or, when
// the tensors exceed the maximum shard size, model-0000i-of-0000N.safetensors
// shards plus model.safetensors.index.json. Nothing appears under a final
// name until Close succeeds.
type DirWriter struct {
	dir     string
	shards  []*FileWriter
	owner   map[string]int // tensor name → shard index
	files   []string       // shard file names
	total   int64
	cur     int // shard currently being written
	closed  bool
	sharded bool
}

// CreateDir starts writing the weights of the model directory dir (which
// must exist). Tensors are assigned to shards greedily in declaration
// order, starting a new shard when the next tensor would push the current
// one past maxShardBytes (0 means DefaultMaxShardBytes); a tensor larger
// than the limit gets a shard of its own. The metadata goes into every file.
func CreateDir(dir string, tensors []TensorInfo, metadata map[string]string, maxShardBytes int64) (*DirWriter, error) {
	if maxShardBytes <= 0 {
		maxShardBytes = DefaultMaxShardBytes
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	var groups [][]TensorInfo
	var size, total int64
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if seen[t.Name] {
			return nil, fmt.Errorf("%s: tensor %q: declared twice", dir, t.Name)
		}
		seen[t.Name] = true
		nb := t.NumBytes()
		if nb < 0 {
			return nil, fmt.Errorf("%s: tensor %q: invalid dtype %q or shape %v", dir, t.Name, t.DType, t.Shape)
		}
		if len(groups) == 0 || (size > 0 && size+nb > maxShardBytes) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
		size += nb
		total += nb
	}
	if len(groups) == 0 {
		groups = append(groups, nil)
	}
	d := &DirWriter{dir: dir, owner: make(map[string]int, len(tensors)), total: total, sharded: len(groups) > 1}
	for i, g := range groups {
		name := SingleFileName
		if d.sharded {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		}
		w, err := CreateFile(filepath.Join(dir, name), g, metadata)
		if err != nil {
			d.Abort()
			return nil, err
		}
		d.shards = append(d.shards, w)
		d.files = append(d.files, name)
		for _, t := range g {
			d.owner[t.Name] = i
		}
	}
	return d, nil
}

// shardFor returns the writer holding name.
func (d *DirWriter) shardFor(name string) (*FileWriter, error) {
	if d.closed {
		return nil, fmt.Errorf("%s: tensor %q: writer is closed", d.dir, name)
	}
	i, ok := d.owner[name]
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: not declared", d.dir, name)
	}
	if i != d.cur {
		// Tensors are written in declaration order, so moving on means the
		// earlier shard is complete.
		if i < d.cur {
			return nil, fmt.Errorf("%s: tensor %q: out of order", d.dir, name)
		}
		for d.cur < i {
			if err := d.shards[d.cur].finish(); err != nil {
				return nil, err
			}
			d.cur++
		}
	}
	return d.shards[i], nil
}

// WriteRaw writes the next declared tensor's bytes.
func (d *DirWriter) WriteRaw(name string, data []byte) error {
	w, err := d.shardFor(name)
	if err != nil {
		return err
	}
	return w.WriteRaw(name, data)
}

// WriteFloat32 converts data to the next declared tensor's dtype and writes it.
func (d *DirWriter) WriteFloat32(name string, data []float32) error {
	w, err := d.shardFor(name)
	if err != nil {
		return err
	}
	return w.WriteFloat32(name, data)
}

// Close finishes every shard, renames them into place and, for a sharded
// layout, writes the index last (atomically). On error the temporary files
// are removed.
func (d *DirWriter) Close() error {
	if d.closed {
		return fmt.Errorf("%s: writer is closed", d.dir)
	}
	for ; d.cur < len(d.shards); d.cur++ {
		if err := d.shards[d.cur].finish(); err != nil {
			d.Abort()
			return err
		}
	}
	var idx []byte
	if d.sharded {
		wm := make(map[string]string, len(d.owner))
		for name, i := range d.owner {
			wm[name] = d.files[i]
		}
		var err error
		idx, err = json.MarshalIndent(struct {
			Metadata  map[string]int64  `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}{map[string]int64{"total_size": d.total}, wm}, "", "  ")
		if err != nil {
			d.Abort()
			return fmt.Errorf("%s: index: %w", d.dir, err)
		}
		idx = append(idx, '\n')
	}
	for _, w := range d.shards {
		if err := w.commit(); err != nil {
			d.Abort()
			return err
		}
	}
	d.closed = true
	if d.sharded {
		// The index is written last; its write syncs the directory.
		return atomicfile.Write(filepath.Join(d.dir, IndexFileName), idx)
	}
	return atomicfile.SyncDir(d.dir)
}

// Abort discards every temporary file. Safe to call more than once.
func (d *DirWriter) Abort() {
	d.closed = true
	for _, w := range d.shards {
		w.Abort()
	}
}

// modelFiles lists the non-weight files CopyModelFiles copies.
func modelFiles() []string {
	return []string{
		"config.json", "generation_config.json",
		"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
		"special_tokens_map.json", "tokenizer.model", "added_tokens.json",
	}
}

// CopyModelFiles copies config.json, generation_config.json and the
// tokenizer files (tokenizer.json, tokenizer_config.json, vocab.json,
// merges.txt, special_tokens_map.json, tokenizer.model, added_tokens.json)
// that exist in srcDir into dstDir, each written atomically.
func CopyModelFiles(srcDir, dstDir string) error {
	for _, name := range modelFiles() {
		src := filepath.Join(srcDir, name)
		st, err := os.Stat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", src)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dstDir, name), data); err != nil {
			return err
		}
	}
	return nil
}
