package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header (the JSON part) a file may declare:
// 100 MB, as in the reference implementation.
const MaxHeaderSize = 100_000_000

// metadataKey is the header key holding the free-form string metadata.
const metadataKey = "__metadata__"

// FormatError describes a violation of the safetensors format. Its message
// names the file and, when the violation concerns one tensor, the tensor.
type FormatError struct {
	Path   string // file the error was found in
	Tensor string // tensor concerned, "" for the file as a whole
	Msg    string // what is wrong
}

// Error formats the error as `path: tensor "name": what is wrong`.
func (e *FormatError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("%s: tensor %q: %s", e.Path, e.Tensor, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// entry is one tensor of a parsed header; Begin and End are relative to the
// start of the data area.
type entry struct {
	TensorInfo
	Begin, End int64
}

// header is a parsed and validated safetensors header.
type header struct {
	Entries  []entry // sorted by name
	Metadata map[string]string
	DataOff  int64 // absolute offset of the data area: 8 + N
}

// headerLen validates the 8-byte length prefix against the file size and
// returns N, the length of the JSON header.
func headerLen(prefix []byte, fileSize int64) (int64, error) {
	if fileSize < 8 || len(prefix) < 8 {
		return 0, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", fileSize)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeaderSize {
		return 0, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(fileSize-8) {
		return 0, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix", n, fileSize-8)
	}
	return int64(n), nil
}

// parseHeader validates a whole safetensors prefix: data holds at least the
// 8-byte length and the JSON header, and fileSize is the size of the whole
// file. Every tensor's bytes must lie in [8+N, fileSize), tensors may not
// overlap and must cover the data area exactly. Errors are *FormatError
// naming path.
func parseHeader(path string, data []byte, fileSize int64) (*header, error) {
	fail := func(tensor, format string, args ...any) error {
		return &FormatError{Path: path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	n, err := headerLen(data, fileSize)
	if err != nil {
		return nil, fail("", "%v", err)
	}
	if int64(len(data)) < 8+n {
		return nil, fail("", "header truncated: have %d of %d bytes", len(data)-8, n)
	}
	js := data[8 : 8+n]
	if !utf8.Valid(js) {
		return nil, fail("", "header is not valid UTF-8")
	}
	h := &header{DataOff: 8 + n}
	if err := decodeHeaderJSON(js, h); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
			return nil, fe
		}
		return nil, fail("", "header: %v", err)
	}
	dataLen := fileSize - h.DataOff
	if err := checkLayout(h.Entries, dataLen); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
			return nil, fe
		}
		return nil, fail("", "%v", err)
	}
	sort.Slice(h.Entries, func(i, j int) bool { return h.Entries[i].Name < h.Entries[j].Name })
	return h, nil
}

// decodeHeaderJSON walks the header object token by token, so duplicate
// names, unknown fields and non-integer numbers are caught (encoding/json
// would silently keep the last duplicate).
func decodeHeaderJSON(js []byte, h *header) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("expected a key, got %v", tok)
		}
		if seen[name] {
			return &FormatError{Tensor: name, Msg: "duplicate name in header"}
		}
		seen[name] = true
		if name == metadataKey {
			md, err := decodeMetadata(dec)
			if err != nil {
				return &FormatError{Msg: fmt.Sprintf("%s: %v", metadataKey, err)}
			}
			h.Metadata = md
			continue
		}
		e, err := decodeEntry(dec)
		if err != nil {
			return &FormatError{Tensor: name, Msg: err.Error()}
		}
		e.Name = name
		h.Entries = append(h.Entries, e)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	// Only whitespace (the padding) may follow the object.
	if len(bytes.TrimLeft(js[dec.InputOffset():], " \t\r\n")) != 0 {
		return errors.New("trailing data after the header object")
	}
	return nil
}

// token reads the next JSON token, describing a syntax error or a premature
// end as invalid JSON.
func token(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errors.New("invalid JSON: unexpected end of header")
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return tok, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := token(dec)
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected '%c', got %v", rune(want), tok)
	}
	return nil
}

// decodeMetadata reads the __metadata__ value: null or an object of strings.
func decodeMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := token(dec)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("expected an object of strings, got %v", tok)
	}
	md := make(map[string]string)
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("expected a key, got %v", tok)
		}
		if _, dup := md[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		tok, err = token(dec)
		if err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", k)
		}
		md[k] = v
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	return md, nil
}

// decodeEntry reads one tensor object {dtype, shape, data_offsets}.
func decodeEntry(dec *json.Decoder) (entry, error) {
	var e entry
	if err := expectDelim(dec, '{'); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return e, err
		}
		k, _ := tok.(string)
		switch k {
		case "dtype":
			if haveDType {
				return e, errors.New(`duplicate field "dtype"`)
			}
			haveDType = true
			tok, err := token(dec)
			if err != nil {
				return e, err
			}
			s, ok := tok.(string)
			if !ok {
				return e, fmt.Errorf("dtype is %v, not a string", tok)
			}
			e.DType = DType(s)
			if !e.DType.valid() {
				return e, fmt.Errorf("unknown dtype %q", s)
			}
		case "shape":
			if haveShape {
				return e, errors.New(`duplicate field "shape"`)
			}
			haveShape = true
			e.Shape, err = decodeInts(dec, "shape", -1)
			if err != nil {
				return e, err
			}
		case "data_offsets":
			if haveOffsets {
				return e, errors.New(`duplicate field "data_offsets"`)
			}
			haveOffsets = true
			offs, err := decodeInts(dec, "data_offsets", 2)
			if err != nil {
				return e, err
			}
			e.Begin, e.End = offs[0], offs[1]
		default:
			return e, fmt.Errorf("unknown field %v", tok)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, errors.New(`missing field "dtype"`)
	case !haveShape:
		return e, errors.New(`missing field "shape"`)
	case !haveOffsets:
		return e, errors.New(`missing field "data_offsets"`)
	}
	if e.Shape == nil {
		e.Shape = []int64{}
	}
	return e, nil
}

// decodeInts reads a JSON array of non-negative integers that fit in int64;
// want >= 0 requires exactly that many.
func decodeInts(dec *json.Decoder, field string, want int) ([]int64, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	var out []int64
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: %v is not an integer", field, tok)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %s is not a non-negative 64-bit integer", field, num)
		}
		out = append(out, v)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if want >= 0 && len(out) != want {
		return nil, fmt.Errorf("%s has %d values, want %d", field, len(out), want)
	}
	return out, nil
}

// numBytes is product(shape) × dtype size, with overflow reported as ok=false.
func numBytes(d DType, shape []int64) (elems, nbytes int64, ok bool) {
	var n uint64 = 1
	for _, s := range shape {
		if s < 0 {
			return 0, 0, false
		}
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, 0, false
		}
		n = lo
	}
	hi, lo := bits.Mul64(n, uint64(d.Size()))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, 0, false
	}
	return int64(n), int64(lo), true
}

// checkLayout validates sizes and offsets: each tensor's byte length matches
// its dtype and shape, and the tensors, sorted by offset, tile the data area
// [0, dataLen) exactly, without gaps or overlaps.
func checkLayout(entries []entry, dataLen int64) error {
	for _, e := range entries {
		if e.End < e.Begin {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("data_offsets [%d, %d] end before they begin", e.Begin, e.End)}
		}
		_, nb, ok := numBytes(e.DType, e.Shape)
		if !ok {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("shape %v × %d bytes overflows", e.Shape, e.DType.Size())}
		}
		if nb != e.End-e.Begin {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("shape %v of %s needs %d bytes but data_offsets [%d, %d] span %d", e.Shape, e.DType, nb, e.Begin, e.End, e.End-e.Begin)}
		}
		if e.End > dataLen {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("data_offsets [%d, %d] run past the %d-byte data area", e.Begin, e.End, dataLen)}
		}
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := entries[order[a]], entries[order[b]]
		if ea.Begin != eb.Begin {
			return ea.Begin < eb.Begin
		}
		return ea.End < eb.End
	})
	var pos int64
	for _, i := range order {
		e := entries[i]
		if e.Begin > pos {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("gap: data_offsets begin at %d but the previous tensor ends at %d", e.Begin, pos)}
		}
		if e.Begin < pos {
			return &FormatError{Tensor: e.Name, Msg: fmt.Sprintf("data_offsets [%d, %d] overlap the previous tensor, which ends at %d", e.Begin, e.End, pos)}
		}
		pos = e.End
	}
	if pos != dataLen {
		return &FormatError{Msg: fmt.Sprintf("tensors cover %d bytes but the data area holds %d", pos, dataLen)}
	}
	return nil
}
