package gemm

// features are the CPU capabilities that decide which kernel is fastest.
type features struct {
	avx2   bool // AVX2 and FMA
	avx512 bool // AVX-512 F, VL and DQ
}

// portable is the blocked driver with the plain-Go micro-kernel.
var portable = blocked{cfg: newConfig("blocked-go-4x4", genericMR, genericNR, 256, 64, 512, microGeneric)}

// asmKernels are the assembly kernels this CPU runs, fastest first; they are
// chosen once at start-up and never change afterwards.
var asmKernels = func() []Kernel {
	return asmKernelsFor(hostFeatures())
}()

// asmKernelsFor wraps the assembly configurations for CPU features f as
// kernels. The AVX-512 kernel hands products with few columns to the AVX2
// micro-kernel, whose tiles are half as wide.
func asmKernelsFor(f features) []Kernel {
	cfgs := asmConfigs(f)
	var out []Kernel
	for i, cfg := range cfgs {
		k := blocked{cfg: cfg}
		if i+1 < len(cfgs) && cfgs[i+1].nr < cfg.nr {
			k.narrow = cfgs[i+1]
		}
		out = append(out, k)
	}
	return out
}

// best is the kernel Default returns.
var best = selectKernel(asmKernels)

// selectKernel returns the first (fastest) of the assembly kernels this CPU
// supports, or gonum's when there is none.
func selectKernel(asm []Kernel) Kernel {
	if len(asm) > 0 {
		return asm[0]
	}
	return Gonum()
}

// defaultKernel picks the kernel for this machine: the fastest assembly
// kernel the CPU supports, else gonum's.
func defaultKernel() Kernel { return best }

// Available returns every kernel that runs on this CPU, for benchmarks and
// cross-checks: the assembly kernels (fastest first), then gonum's, then the
// portable blocked kernel written in plain Go.
func Available() []Kernel {
	out := append([]Kernel(nil), asmKernels...)
	return append(out, Gonum(), portable)
}
