package checkpoint

import (
	"errors"
	"os"
	"sync"
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
	// directBufBytes is the size of each of the two staging buffers, and of
	// each write.
	directBufBytes = 4 << 20
	// directPreBytes is how much a direct writer keeps before its first
	// large write without allocating its buffers (room for the header).
	directPreBytes = 1 << 20
	// directMinBytes is the smallest file written with O_DIRECT.
	directMinBytes = 64 << 20
)

// directWriter stages a file's bytes in aligned buffers and writes them in
// full aligned blocks to a file opened with O_DIRECT. Two buffers take
// turns: while a background goroutine writes one (the device's time), the
// caller fills the other (the copy's), so the two overlap. If the
// filesystem rejects a direct write (EINVAL), the file is switched back to
// ordinary writes and writing goes on. finish pads the last block and
// truncates the file to its real size; stop ends the background goroutine
// without finishing. The buffers and the goroutine exist only from the
// first Write to finish or stop, so the shards of a sharded model, written
// one after the other, hold one pair at a time.
type directWriter struct {
	f     *os.File
	pre   []byte // bytes written before the first large write (the header)
	cur   []byte // aligned; len = bytes pending, cap = directBufBytes
	off   int64  // file offset of cur[0]
	free  chan []byte
	queue chan directBlock
	done  chan struct{}

	mu      sync.Mutex
	err     error // the background writer's first error
	started bool  // buffers allocated and the background writer running
	closed  bool  // queue is closed
}

// directBlock is one full buffer for the background writer.
type directBlock struct {
	b   []byte
	off int64
}

// newDirectWriter returns a writer for f, which must already have
// O_DIRECT set (see setDirect) and be empty.
func newDirectWriter(f *os.File) *directWriter {
	return &directWriter{f: f}
}

// start allocates the buffers and starts the background writer.
func (d *directWriter) start() {
	d.started = true
	d.free = make(chan []byte, 2) // holds both buffers: the flusher never blocks on it
	d.queue = make(chan directBlock, 1)
	d.done = make(chan struct{})
	d.cur = alignedBuffer()
	d.free <- alignedBuffer()
	go d.flusher()
	d.cur = append(d.cur, d.pre...) // fits: at most directPreBytes
	d.pre = nil
}

// alignedBuffer returns an empty buffer of capacity directBufBytes whose
// first byte is directAlign-aligned.
func alignedBuffer() []byte {
	mem := make([]byte, directBufBytes+directAlign)
	off := int(-uintptr(unsafe.Pointer(&mem[0])) & (directAlign - 1))
	return mem[off : off : off+directBufBytes]
}

// flusher writes queued blocks in order until the queue is closed; after
// the first error it only hands buffers back.
func (d *directWriter) flusher() {
	defer close(d.done)
	direct := true
	for blk := range d.queue {
		if d.failed() == nil {
			n, err := d.f.WriteAt(blk.b, blk.off)
			if err != nil && direct && errors.Is(err, syscall.EINVAL) && setDirect(d.f, false) == nil {
				// The filesystem refuses direct writes: go through the page cache.
				direct = false
				_, err = d.f.WriteAt(blk.b[n:], blk.off+int64(n))
			}
			if err != nil {
				d.mu.Lock()
				d.err = err
				d.mu.Unlock()
			}
		}
		d.free <- blk.b[:0]
	}
}

// failed returns the background writer's first error.
func (d *directWriter) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Write stages p, handing every full buffer to the background writer.
func (d *directWriter) Write(p []byte) (int, error) {
	if d.closed {
		return 0, errors.New("direct writer is closed")
	}
	if !d.started {
		if len(d.pre)+len(p) <= directPreBytes {
			d.pre = append(d.pre, p...)
			return len(p), nil
		}
		d.start()
	}
	n := 0
	for len(p) > 0 {
		c := copy(d.cur[len(d.cur):cap(d.cur)], p)
		d.cur = d.cur[:len(d.cur)+c]
		p = p[c:]
		n += c
		if len(d.cur) == cap(d.cur) {
			d.queue <- directBlock{d.cur, d.off}
			d.off += int64(len(d.cur))
			d.cur = <-d.free
			if err := d.failed(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// finish writes the pending bytes (padded to a whole block), waits for
// every write, sets the file's size to size and drops the buffers.
func (d *directWriter) finish(size int64) error {
	if !d.started && !d.closed && len(d.pre) > 0 {
		d.start()
	}
	if d.started && !d.closed && len(d.cur) > 0 {
		b := d.cur[:len(d.cur)+(-len(d.cur)&(directAlign-1))]
		clear(b[len(d.cur):])
		d.queue <- directBlock{b, d.off}
	}
	d.stop()
	if err := d.failed(); err != nil {
		return err
	}
	return d.f.Truncate(size)
}

// stop ends the background writer after the queued writes and drops the
// buffers; safe to call more than once.
func (d *directWriter) stop() {
	if d.closed {
		return
	}
	d.closed = true
	if d.started {
		close(d.queue)
		<-d.done
	}
	d.pre, d.cur, d.free = nil, nil, nil
}
