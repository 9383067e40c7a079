package merge

import "hash/fnv"

// Random drops (DARE, DELLA) use a counter-based generator: the draw for
// entry j of expert i of tensor name is a pure function of (seed, name, i, j).
// A merge is therefore the same bit for bit whatever the order, chunking or
// parallelism in which tensors and entries are processed.

// streamKey derives the generator key of one expert's tensor.
func streamKey(seed uint64, name string, expert int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	k := mix64(seed ^ 0x6d657267655f7365) // "merge_se"
	k = mix64(k ^ h.Sum64())
	return mix64(k ^ uint64(expert)*0x9e3779b97f4a7c15)
}

// mix64 is the splitmix64 finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// drawStep separates the generator states of consecutive entries.
const drawStep = 0x9e3779b97f4a7c15

// draw returns 53 uniform random bits for entry j of the stream key.
func draw(key uint64, j int) uint64 {
	return mix64(key+uint64(j)*drawStep) >> 11
}

// probBits converts a probability to the threshold that draw is compared
// with: P(draw < probBits(p)) = p up to 2⁻⁵³.
func probBits(p float64) uint64 {
	if p >= 1 {
		return 1 << 53
	}
	if p <= 0 {
		return 0
	}
	return uint64(p * (1 << 53))
}
