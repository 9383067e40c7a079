package checkpoint

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// Large files are written with O_DIRECT on Linux: the data goes from an
// aligned staging buffer straight to the device instead of being copied
// into newly allocated page-cache pages. On a virtual machine that hands
// freed memory back to its host (virtio-balloon free page reporting), every
// new page costs a fault in the host, which made the kernel's copy the
// largest part of a merge's write; the direct path costs one memcpy into a
// reused buffer. Small files keep the page cache (and stay cached for the
// next reader).
const (
	// directAlign is the alignment of every O_DIRECT write: of the buffer
	// address, the file offset and the length (a multiple of the usual
	// logical block sizes, 512 and 4096).
	directAlign = 4096
	// directBufBytes is the size of the staging buffer, and of each write.
	directBufBytes = 4 << 20
	// directMinBytes is the smallest file written with O_DIRECT.
	directMinBytes = 64 << 20
)

// directWriter stages a file's bytes in an aligned buffer and writes it in
// full aligned blocks to a file opened with O_DIRECT. If the filesystem
// rejects a direct write (EINVAL), it switches the file back to ordinary
// writes and goes on. finish pads the last block and truncates the file to
// its real size.
type directWriter struct {
	f      *os.File
	buf    []byte // aligned; len = bytes pending, cap = directBufBytes
	direct bool   // false once writes go through the page cache
}

// newDirectWriter returns a writer for f, which must already have
// O_DIRECT set (see setDirect) and be empty.
func newDirectWriter(f *os.File) *directWriter {
	mem := make([]byte, directBufBytes+directAlign)
	off := int(-uintptr(unsafe.Pointer(&mem[0])) & (directAlign - 1))
	return &directWriter{f: f, buf: mem[off : off : off+directBufBytes], direct: true}
}

// Write stages p, writing every full buffer.
func (d *directWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := copy(d.buf[len(d.buf):cap(d.buf)], p)
		d.buf = d.buf[:len(d.buf)+c]
		p = p[c:]
		n += c
		if len(d.buf) == cap(d.buf) {
			if err := d.flush(d.buf); err != nil {
				return n, err
			}
			d.buf = d.buf[:0]
		}
	}
	return n, nil
}

// flush writes b at the file's offset, falling back to ordinary writes
// when the filesystem refuses a direct one.
func (d *directWriter) flush(b []byte) error {
	n, err := d.f.Write(b)
	if err != nil && d.direct && errors.Is(err, syscall.EINVAL) {
		if setDirect(d.f, false) != nil {
			return err
		}
		d.direct = false
		_, err = d.f.Write(b[n:])
	}
	return err
}

// finish writes the pending bytes (padded to a whole block while writes
// are direct), sets the file's size to size and drops the buffer.
func (d *directWriter) finish(size int64) error {
	if b := d.buf; len(b) > 0 {
		if d.direct {
			pad := -len(b) & (directAlign - 1)
			b = b[:len(b)+pad]
			clear(b[len(d.buf):])
		}
		if err := d.flush(b); err != nil {
			return err
		}
	}
	d.buf = nil
	return d.f.Truncate(size)
}
