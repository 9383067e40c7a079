// Package merge implements model-merging methods as pure functions over
// float32 tensors: no file I/O and no knowledge of experiments. The
// streaming driver and the mergekit-style YAML live in merge/mergefile.
//
// Notation: base θ₀, experts θ₁..θₖ, task vectors τᵢ = θᵢ − θ₀ (computed in
// float32, as a task-vector tensor would be stored), weights wᵢ (default 1),
// scale λ (default 1). Sums over experts accumulate in float64 and the
// result is rounded to float32 once.
//
// # Methods
//
//   - linear (the paper's Averaging): θ = Σ wᵢθᵢ / Σ wᵢ; Σ wᵢ = 0 is an error.
//   - task_arithmetic: θ = θ₀ + λ·Σ wᵢτᵢ, divided by Σ wᵢ when normalize
//     (default false).
//   - ties: trim each τᵢ to its k = round(density·n) largest |τ| (k ≥ 1 when
//     density > 0; ties in magnitude keep the lower flat index), elect the
//     sign of Σ wᵢτ̂ᵢ per entry (0 elects +), and take the disjoint mean
//     Σ wᵢτ̂ᵢ over the experts whose τ̂ᵢ is non-zero with the elected sign,
//     divided by the Σ of their wᵢ when normalize (default true); 0 where no
//     expert agrees. θ = θ₀ + λ·τ. trim_scope tensor (default) trims within
//     each tensor; global trims over the expert's whole task vector, with the
//     per-tensor Threshold found beforehand by MagnitudeHistogram.
//   - dare_ties, dare_linear: keep each entry of τᵢ independently with
//     probability density, rescale kept entries by 1/density (rescale,
//     default true) or, with rescale_mode l1, rescale the tensor so its L1
//     norm is unchanged; then the TIES election and disjoint mean (dare_ties,
//     normalize default true) or task arithmetic (dare_linear, normalize
//     default false). Draws come from a counter-based generator keyed by
//     (seed, tensor name, expert index) and the flat index.
//   - breadcrumbs, breadcrumbs_ties: drop the round(gamma·n) largest |τ| and
//     as many of the smallest as needed to keep k = round(density·n) entries;
//     then task arithmetic or the TIES consensus (normalize default false
//     for both, as in mergekit).
//   - della, della_linear: keep entry j with probability pⱼ = density − ε +
//     2ε·rankⱼ/(n − 1), rankⱼ being its position in ascending |τ| order
//     (0-based, ties: lower index first), and rescale kept entries by 1/pⱼ
//     (rescale, default true); then TIES consensus (della, normalize default
//     true) or task arithmetic (della_linear, normalize default false).
//   - slerp: two models, the base at t = 0 and the single expert at t = 1;
//     linear interpolation when |cos| of the two > 0.9995.
//   - model_stock: θ = t·mean(θᵢ) + (1 − t)·θ₀, t = k·c/(1 + (k − 1)·c),
//     c the mean pairwise cosine of the task vectors of this tensor.
//   - passthrough: copies its single input, multiplied in float32 by the
//     expert's scale (default 1; mergekit's per-model scale).
//
// # Differences from mergekit, and why
//
//   - Trim counts: mergekit keeps int(density·n) entries and fails when that
//     is 0 ("not gonna zero out the whole tensor"), so a tiny density on a
//     tiny tensor aborts a merge. Here k = round(density·n), at least 1 when
//     density > 0: a small tensor keeps its largest entry.
//   - Tie order: mergekit's argsort/topk leaves ties in magnitude in an
//     unspecified order; here ties keep the lower flat index, so a result is
//     reproducible across machines.
//   - Breadcrumbs: mergekit slices indices[n_bot:-n_top]; when gamma·n
//     rounds to 0 the slice [n_bot:-0] is empty and the whole task vector is
//     removed. Here a zero top count removes no large entries. Counts use
//     round instead of int truncation, as for TIES.
//   - dare_ties normalizes by default (mergekit: false), so that it is TIES
//     after a random drop, as in the DARE paper.
//   - Sign of an expert's entry: mergekit compares the sign of wᵢτᵢ with the
//     elected sign; so do we. For the usual wᵢ > 0 it is the sign of τᵢ.
//     When the agreeing weights sum to 0 (only possible with negative
//     weights) the sum is not divided, as in mergekit.
//   - Random drops: mergekit draws from torch's global generator, so a
//     merge depends on the order tensors are processed in; here draws are a
//     pure function of (seed, tensor, expert, index).
//   - DELLA: mergekit ranks magnitudes within each row of a matrix; tensors
//     here are flat, so ranks are over the whole tensor. mergekit requires
//     density ± ε strictly inside (0, 1); here [0, 1] is allowed (p = 0
//     entries are always dropped). mergekit's della applies λ only to della;
//     here λ applies to every task-vector method.
//   - model_stock: when 1 + (k − 1)·c is 0 (mergekit would produce Inf/NaN)
//     t is 0 and the base is returned.
//   - Non-finite inputs (NaN, ±Inf) are errors naming the model and index,
//     never silently propagated.
//
// # Diagnostics
//
// Every MergeTensor also returns TensorStats (pairwise task-vector dot
// products, L1 mass removed by the trim/drop, sign conflicts among the
// non-zero trimmed entries, ‖merged τ‖²); an Accumulator aggregates them
// into a model's Stats. On large tensors they are computed on a fixed,
// evenly spaced subset of 256-entry blocks (Input.StatsStride; by default
// at most 1/256 of the entries beyond 2²³, at least 2¹⁵ entries, every
// entry below 2¹⁶), so they cost little beside the merge; the sampled sums
// are scaled to the tensor's size, and the blocks chosen depend only on
// the tensor's length, so the numbers are deterministic.
//
// # Determinism and parallelism
//
// MergeTensor splits work into fixed chunks of 65536 entries and combines
// per-chunk results in chunk order, so output and stats are bit-identical
// for any GOMAXPROCS.
//
// On amd64 with AVX2 the hot loops — the weighted sum of linear and
// task_arithmetic, the TIES trim and consensus, the bracket scan of the
// top-k selection and the diagnostics' dot products — run in assembly
// (*_amd64.s), as do DARE's random drop and the one-pass consensus when the
// CPU has AVX-512 (F, VL, DQ). With AVX-512 each expert's trimmed or
// dropped τ̂ of a 512-entry block goes into a row of scratch and one pass
// elects signs and averages every row with its sums in registers; with
// AVX2 only, the trim is fused into per-expert passes over float64 sums.
// The top-k trims of all experts of a tensor share one sample and one scan
// (the base read once). Each does exactly
// the float32/float64 operations of its portable Go twin, in the same order
// and without fused multiply-adds, and tests compare the two bit for bit,
// so results do not depend on the CPU either. Build with -tags purego to
// use the portable code only.
package merge
