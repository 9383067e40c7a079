//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package checkpoint

import "unsafe"

// copyF32 copies little-endian float32 bytes into dst. On a little-endian
// machine the bytes already are the in-memory representation, so this is a
// plain memmove into dst's (aligned) storage.
func copyF32(dst []float32, src []byte) {
	if len(dst) == 0 {
		return
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
}

// f32Bytes returns the little-endian bytes of src without copying: on a
// little-endian machine they are src's own storage.
func f32Bytes(src []float32) ([]byte, bool) {
	if len(src) == 0 {
		return nil, true
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 4*len(src)), true
}
