package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types a checkpoint may hold. F32, F16, BF16 and F64 convert to
// float32 on request; the integer and boolean types pass through as raw bytes.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// Size is the number of bytes per element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// IsFloat reports whether d is one of the floating-point types (F32, F16,
// BF16, F64), which Checkpoint.Float32 and FileWriter.WriteFloat32 convert.
func (d DType) IsFloat() bool {
	switch d {
	case F32, F16, BF16, F64:
		return true
	}
	return false
}

// valid reports whether d is a dtype this package knows.
func (d DType) valid() bool { return d.Size() > 0 }

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 narrows f to bfloat16 with round-to-nearest-even. NaN stays
// NaN (quiet, sign kept), ±Inf stays ±Inf, and finite values too large for
// bfloat16 round to ±Inf.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: truncate and force the quiet bit
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToFloat32 widens an IEEE 754 half-precision bit pattern to float32
// (exact, including subnormals, ±Inf and NaN).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(mant) * (1.0 / (1 << 24)) // subnormal: mant × 2^-24
		if sign != 0 {
			v = -v
		}
		return v
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float32ToF16 narrows f to IEEE 754 half precision with
// round-to-nearest-even: values beyond 65504 (after rounding) become ±Inf,
// tiny values become subnormals or ±0, NaN stays NaN (quiet, sign kept).
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // a carry into the exponent is correct, up to Inf
	}
	return sign | uint16(half)
}

// decodeFloat32 widens src (little-endian elements of dtype d) into dst,
// which must have exactly len(src)/d.Size() elements.
func decodeFloat32(d DType, src []byte, dst []float32) error {
	switch d {
	case F32:
		copyF32(dst, src)
	case BF16:
		decodeBF16(dst, src)
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		return fmt.Errorf("dtype %s is not a float type", d)
	}
	return nil
}

// decodeBF16 widens little-endian bfloat16 bytes into dst, four elements
// per 64-bit load.
func decodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	n := len(dst) &^ 3
	for i := 0; i < n; i += 4 {
		v := binary.LittleEndian.Uint64(src[2*i:])
		d := dst[i : i+4 : i+4]
		lo, hi := uint32(v), uint32(v>>32)
		d[0] = math.Float32frombits(lo << 16)
		d[1] = math.Float32frombits(lo & 0xffff0000)
		d[2] = math.Float32frombits(hi << 16)
		d[3] = math.Float32frombits(hi & 0xffff0000)
	}
	for i := n; i < len(dst); i++ {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}

// encodeFloat32 narrows src into dst (little-endian elements of dtype d);
// dst must hold exactly len(src)*d.Size() bytes.
func encodeFloat32(d DType, src []float32, dst []byte) error {
	switch d {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToBF16(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToF16(v))
		}
	case F64:
		for i, v := range src {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	default:
		return fmt.Errorf("dtype %s is not a float type", d)
	}
	return nil
}
