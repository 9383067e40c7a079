package gemm

// defaultKernel picks the kernel for this machine. Faster kernels register
// themselves here when the CPU supports them.
func defaultKernel() Kernel { return Gonum() }
