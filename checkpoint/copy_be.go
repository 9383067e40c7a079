//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package checkpoint

import (
	"encoding/binary"
	"math"
)

// copyF32 decodes little-endian float32 bytes into dst.
func copyF32(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// f32Bytes reports that float32 storage is not little-endian here: the
// caller must convert.
func f32Bytes(src []float32) ([]byte, bool) { return nil, false }
