//go:build !amd64

package gemm

// hostFeatures reports no SIMD features: there are no assembly kernels for
// this architecture.
func hostFeatures() features { return features{} }

// asmConfigs returns nothing: only the portable kernels exist here.
func asmConfigs(features) []*config { return nil }
