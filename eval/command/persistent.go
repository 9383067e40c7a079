package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mergescale/eval"
)

// Persistent is the command backend's long-lived mode (eval.persistent):
// one evaluator process per worker slot, started with {worker} and
// {devices} substituted in Argv, stays up across jobs and talks JSON Lines
// over its standard input and output:
//
//	→ {"type": "load", "model": PATH}       when the slot's model changes
//	← {"type": "loaded", "model": PATH}
//	→ the job's request lines (the protocol's, unchanged), then {"type": "end"}
//	← one answer line per request, in order
//
// The runner reads answers while it writes. Anything on the evaluator's
// standard output that is not a protocol line, or an
// {"type": "error", "message": ...} line, fails the job with that text; an
// exit or a time-out fails the job too. After any failure the slot's
// process is killed (its whole process group) and the slot's next job
// starts a new one. The evaluator's standard error goes to the job's
// log (eval.WithLog) while a job runs, to Stderr otherwise.
//
// A Persistent must not be copied after first use; Close ends its
// processes.
type Persistent struct {
	// Argv is the evaluator's command; {worker} and {devices} are
	// substituted ({model}, {requests} and {out} have no meaning here).
	Argv []string
	// GPUsPerWorker is the number of devices of a slot ({devices}; 0
	// counts as 1).
	GPUsPerWorker int
	// Timeout bounds one job: the load when the model changes and the
	// requests' answers (0: none).
	Timeout time.Duration
	// Batch is the number of requests per exchange (0: all of a job in
	// one); the model stays loaded between them.
	Batch int
	// Stderr receives the evaluators' standard error outside a job with a
	// writer of its own (nil: discarded).
	Stderr io.Writer

	mu     sync.Mutex
	slots  map[int]*slot
	closed bool
	loads  atomic.Int64
	starts atomic.Int64
}

// slot is one worker slot's evaluator; its lock serializes the slot's
// jobs.
type slot struct {
	mu sync.Mutex
	p  *process // nil: none running
}

// process is a started evaluator.
type process struct {
	cmd     *exec.Cmd
	argv0   string
	stdin   io.WriteCloser
	stdout  *os.File // read end of the evaluator's standard output
	out     *bufio.Reader
	stderr  *sink
	model   string        // the loaded model; "" before the first load
	done    chan struct{} // closed once the process has exited
	waitErr error         // the exit, valid after done
}

// Loads is the number of load messages sent so far, over all slots.
func (p *Persistent) Loads() int { return int(p.loads.Load()) }

// Starts is the number of evaluator processes started so far.
func (p *Persistent) Starts() int { return int(p.starts.Load()) }

// Evaluate implements eval.Evaluator: it answers reqs with the evaluator
// of slot worker, loading model first when the slot holds another one.
func (p *Persistent) Evaluate(ctx context.Context, model string, reqs []eval.Request, worker int) ([]eval.Answer, error) {
	if len(p.Argv) == 0 {
		return nil, errors.New("eval: command backend without a command")
	}
	s, err := p.slot(worker)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	jobCtx := ctx
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	what := fmt.Sprintf("evaluator %q (slot %d) for model %s", p.Argv[0], worker, model)
	if s.p == nil {
		if s.p, err = p.start(worker); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", what, err)
		}
	}
	pr := s.p
	if w := stderrOf(ctx); w != nil {
		pr.stderr.set(w)
		defer pr.stderr.set(p.Stderr)
	}
	// A time-out or a cancellation kills the process, which ends the
	// exchange's reads and writes.
	stop := context.AfterFunc(jobCtx, func() { killGroup(pr.cmd) })
	ans, err := p.exchange(pr, model, reqs)
	stop()
	if err == nil {
		return ans, nil
	}
	// Whatever went wrong, the process's state is unknown: it goes, and the
	// slot's next job starts a new one.
	s.p = nil
	exited := pr.end()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("eval: %s: %w", what, ctx.Err())
	case p.Timeout > 0 && errors.Is(jobCtx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out after %v", p.Timeout)
	case errors.Is(err, io.EOF) && exited != nil:
		err = fmt.Errorf("the evaluator exited (%w) in the middle of the job", exited)
	case errors.Is(err, io.EOF):
		err = errors.New("the evaluator closed its standard output in the middle of the job")
	}
	return nil, fmt.Errorf("eval: %s: %w%s", what, err, pr.stderr.describe())
}

// slot returns the state of worker slot w.
func (p *Persistent) slot(w int) (*slot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("eval: persistent evaluator used after Close")
	}
	if p.slots == nil {
		p.slots = map[int]*slot{}
	}
	s := p.slots[w]
	if s == nil {
		s = &slot{}
		p.slots[w] = s
	}
	return s, nil
}

// start starts the evaluator of slot w.
func (p *Persistent) start(w int) (*process, error) {
	repl := strings.NewReplacer(PlaceholderWorker, strconv.Itoa(w), PlaceholderDevices, Devices(w, p.GPUsPerWorker))
	argv := make([]string, len(p.Argv))
	for i, a := range p.Argv {
		argv[i] = repl.Replace(a)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	ownGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	pr := &process{cmd: cmd, argv0: argv[0], stderr: &sink{w: p.Stderr}, done: make(chan struct{})}
	cmd.Stderr = pr.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own for stdout: Wait closes the pipes it makes, which
	// would lose answers not yet read when the process exits.
	r, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = wr
	if err := cmd.Start(); err != nil {
		r.Close()
		wr.Close()
		return nil, err
	}
	wr.Close()
	pr.stdin, pr.stdout, pr.out = stdin, r, bufio.NewReaderSize(r, 1<<16)
	p.starts.Add(1)
	go func() {
		pr.waitErr = cmd.Wait()
		close(pr.done)
	}()
	return pr, nil
}

// end kills the process group and returns how the process exited (nil when
// it had not exited on its own before the kill).
func (pr *process) end() error {
	var exited error
	select {
	case <-pr.done:
		exited = pr.waitErr
		if exited == nil {
			exited = errors.New("exit status 0")
		}
	case <-time.After(200 * time.Millisecond): // an exit just under way
		select {
		case <-pr.done:
			exited = pr.waitErr
		default:
		}
	}
	killGroup(pr.cmd)
	pr.stdin.Close()
	<-pr.done
	pr.stdout.Close()
	return exited
}

// exchange loads model when the process holds another one and answers
// reqs, Batch requests per exchange.
func (p *Persistent) exchange(pr *process, model string, reqs []eval.Request) ([]eval.Answer, error) {
	if pr.model != model {
		pr.model = ""
		if err := writeLine(pr.stdin, map[string]string{"type": "load", "model": model}); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		p.loads.Add(1)
		line, err := pr.readLine()
		if err != nil {
			return nil, err
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil || m.Type != "loaded" {
			return nil, unexpected(line, `{"type": "loaded"}`)
		}
		if m.Model != model {
			return nil, fmt.Errorf("the evaluator loaded %q, asked for %q", m.Model, model)
		}
		pr.model = model
	}
	batch := p.Batch
	if batch <= 0 || batch > len(reqs) {
		batch = max(len(reqs), 1)
	}
	out := make([]eval.Answer, 0, len(reqs))
	for lo := 0; lo < len(reqs); lo += batch {
		ans, err := pr.answer(reqs[lo:min(lo+batch, len(reqs))])
		if err != nil {
			return nil, err
		}
		out = append(out, ans...)
	}
	return out, nil
}

// answer writes reqs and the end line while it reads one answer line per
// request.
func (pr *process) answer(reqs []eval.Request) ([]eval.Answer, error) {
	wrote := make(chan error, 1)
	go func() {
		bw := bufio.NewWriter(pr.stdin)
		err := eval.WriteRequests(bw, reqs)
		if err == nil {
			err = writeLine(bw, map[string]string{"type": "end"})
		}
		if err == nil {
			err = bw.Flush()
		}
		wrote <- err
	}()
	var answers bytes.Buffer
	for range reqs {
		line, err := pr.readLine()
		if err != nil {
			return nil, err // the caller kills the process, which ends the writer
		}
		var m message
		if json.Unmarshal(line, &m) != nil || m.Type != "" {
			return nil, unexpected(line, "an answer line")
		}
		answers.Write(line)
		answers.WriteByte('\n')
	}
	if err := <-wrote; err != nil {
		return nil, fmt.Errorf("writing requests: %w", err)
	}
	return eval.ReadAnswers(&answers, "the evaluator's answers", reqs)
}

// message is a control line of the persistent protocol.
type message struct {
	Type    string `json:"type"`
	Model   string `json:"model"`
	Message string `json:"message"`
}

// readLine reads the next non-blank line of the evaluator's output; an
// error line becomes an error with its message.
func (pr *process) readLine() ([]byte, error) {
	for {
		line, err := pr.out.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		var m message
		if json.Unmarshal(line, &m) == nil && m.Type == "error" {
			return nil, fmt.Errorf("the evaluator reports: %s", m.Message)
		}
		return line, nil
	}
}

// unexpected is the error for a line that is not the protocol's want.
func unexpected(line []byte, want string) error {
	s := string(line)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return fmt.Errorf("the evaluator wrote %q where the protocol expects %s (its standard output carries protocol lines only)", s, want)
}

// writeLine writes v as one JSON line.
func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Close ends every slot's evaluator: it closes the evaluator's standard
// input (an evaluator exits at its end), waits a little and kills what is
// left.
func (p *Persistent) Close() error {
	p.mu.Lock()
	p.closed = true
	slots := p.slots
	p.slots = nil
	p.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		if pr := s.p; pr != nil {
			pr.stdin.Close()
			select {
			case <-pr.done:
			case <-time.After(10 * time.Second):
			}
			killGroup(pr.cmd)
			<-pr.done
			pr.stdout.Close()
			s.p = nil
		}
		s.mu.Unlock()
	}
	return nil
}

// sink is an evaluator's standard error: the last lines kept for error
// messages, and a copy to a writer that may change between jobs (whose
// write errors are ignored).
type sink struct {
	mu   sync.Mutex
	tail tailBuffer
	w    io.Writer
}

func (s *sink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tail.Write(b)
	if s.w != nil {
		s.w.Write(b)
	}
	return len(b), nil
}

// set makes w the copy's writer.
func (s *sink) set(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = w
}

// describe is the tail's "; its output ends: ..." for an error message.
func (s *sink) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tail.describe()
}
