// Package checkpoint reads and writes model checkpoints in the safetensors
// format, in the three Hugging Face layouts: a single .safetensors file, a
// directory holding model.safetensors, and a sharded directory holding
// model-0000i-of-0000N.safetensors files with model.safetensors.index.json.
//
// # File layout
//
// A safetensors file is
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  the header: UTF-8 JSON, padded with spaces
//	[rest]     the data area: tensors' bytes, little-endian, row-major
//
// The header is one JSON object. Each key but "__metadata__" names a tensor
// and maps to {"dtype": D, "shape": [d0, d1, ...], "data_offsets": [begin,
// end]}, offsets counted from the first byte of the data area. The optional
// "__metadata__" maps strings to strings. A scalar has shape []; a tensor
// with a zero dimension has no bytes (begin == end).
//
// # Validation
//
// Open checks every file's header as strictly as the reference
// implementation (huggingface/safetensors), and rejects:
//
//   - a file shorter than 8 bytes;
//   - N > 100 MB (MaxHeaderSize) or N > file size − 8;
//   - a header that is not valid UTF-8, does not start with '{', or is not
//     one JSON object followed only by whitespace;
//   - a duplicate tensor name, a tensor entry with a missing, duplicate or
//     unknown field, a "__metadata__" that is not an object of strings;
//   - an unknown dtype;
//   - a shape or offset that is not a non-negative integer, data_offsets
//     without exactly two values, or end < begin;
//   - product(shape) × dtype size that overflows int64 or differs from
//     end − begin;
//   - tensors that, sorted by offset, leave a gap, overlap, run past the end
//     of the file or do not cover the data area exactly.
//
// The reference ignores unknown fields in a tensor entry and keeps the last
// of duplicate names; this package rejects both, since no writer produces
// them and either would hide a corrupt header.
//
// Each error is a *FormatError naming the file and, where one is concerned,
// the tensor. Parsing never panics and allocates at most in proportion to
// the header, which is bounded by the file size: sizes are checked with
// overflow-safe arithmetic before anything is sized by them.
//
// For a sharded directory the index's weight_map must name plain file names
// in the directory, each shard must hold exactly the tensors the index lists
// for it, and no tensor may appear twice.
//
// # Reading
//
// Open maps every file read-only (mmap) and hands tensors out lazily by
// name: Raw is a zero-copy view, Float32 widens F32, F16, BF16 and F64.
// Release drops a tensor's pages (madvise MADV_DONTNEED over the pages the
// tensor spans) so a streaming consumer's resident memory is bounded by what
// it holds rather than by the file size.
//
// # Writing
//
// CreateFile and CreateDir take the list of tensors up front, write the
// header (padded with spaces to a multiple of 8 bytes), then accept tensor
// data one tensor at a time in declaration order, so writing a model never
// needs it all in memory. Files are written under a temporary name in the
// target directory and renamed into place by Close; a crash leaves no
// partial file under a final name. CreateDir shards when the total exceeds
// the maximum shard size and writes the index (metadata.total_size = sum of
// tensor bytes) last. Close fsyncs each file before renaming it.
//
// A file of 64 MiB or more is written with O_DIRECT on Linux, through two
// reused 4 MiB aligned buffers (one filled while the other is written by a
// background goroutine), bypassing the page cache: on a virtual
// machine that returns freed memory to its host, each new page-cache page
// of an ordinary write costs a host fault, which made the kernel's copy the
// dearest part of writing a merge. The last block is padded and the file
// truncated to its size; a filesystem that refuses direct writes gets
// ordinary ones. Smaller files go through the page cache, which also keeps
// them cached for the next reader. The bytes written are the same either
// way.
//
// Float32ToBF16 and Float32ToF16 round to nearest, ties to even; NaN stays
// NaN and ±Inf stays ±Inf.
package checkpoint
