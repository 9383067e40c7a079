package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_asm.go

// sgemmKernel6x16AVX2 is the AVX2+FMA micro-kernel (kernel_amd64.s): it
// multiplies a packed 6×k panel of A by a packed k×16 panel of B and stores
// alpha·acc (+ beta·C when beta ≠ 0) into the 6×16 tile at c.
//
//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

// sgemmKernel12x32AVX512 is the AVX-512 micro-kernel for a 12×32 tile, with
// the same contract as sgemmKernel6x16AVX2.
//
//go:noescape
func sgemmKernel12x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

// hostFeatures reports the SIMD features of this CPU that the kernels use.
// x/sys/cpu also checks that the OS saves the wide registers.
func hostFeatures() features {
	return features{
		avx2:   cpu.X86.HasAVX2 && cpu.X86.HasFMA,
		avx512: cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512DQ,
	}
}

// microAVX2 adapts the AVX2 assembly kernel to the microKernel signature.
// The slice expressions check bounds, so the assembly never touches memory
// outside the slices it was given.
func microAVX2(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	sgemmKernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// microAVX512 adapts the AVX-512 assembly kernel to the microKernel
// signature, checking bounds like microAVX2.
func microAVX512(k int, a, b, c []float32, ldc int, alpha, beta float32) {
	_ = a[12*k-1]
	_ = b[32*k-1]
	_ = c[11*ldc+31]
	sgemmKernel12x32AVX512(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
}

// asmConfigs returns the blocking configurations of the assembly kernels
// this CPU can run, fastest first.
func asmConfigs(f features) []*config {
	var out []*config
	if f.avx512 {
		out = append(out, newConfig("avx512-12x32", 12, 32, 256, 144, 1024, microAVX512))
	}
	if f.avx2 {
		out = append(out, newConfig("avx2-6x16", 6, 16, 256, 96, 1024, microAVX2))
	}
	return out
}
