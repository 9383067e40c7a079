package mergefile

import "mergescale/merge"

// padStats widens a tensor's diagnostics to k experts, with zeros for the
// experts the tensor does not have: in the slices: syntax slices may have
// different numbers of experts, and expert i of the merge's diagnostics is
// the i-th expert of each tensor's slice.
func padStats(st merge.TensorStats, k int) merge.TensorStats {
	if !st.TaskVectors || len(st.Gram) >= k {
		return st
	}
	gram := make([][]float64, k)
	for i := range gram {
		gram[i] = make([]float64, k)
		if i < len(st.Gram) {
			copy(gram[i], st.Gram[i])
		}
	}
	st.Gram = gram
	st.L1 = append(st.L1, make([]float64, k-len(st.L1))...)
	st.L1Removed = append(st.L1Removed, make([]float64, k-len(st.L1Removed))...)
	return st
}
