package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mergescale/eval"
	"mergescale/internal/atomicfile"
	"mergescale/world"
)

// suiteOptions are the flags of `mergescale suite`.
type suiteOptions struct {
	// World is the world version (world.Versions; "" for the default).
	World  string
	Seed   uint64
	Sizes  world.Sizes
	JSON   bool
	Export string
	// Requests names a file to write the evaluator requests of the
	// held-in and held-out tasks' Split to.
	Requests string
	Split    string
}

func newSuiteCmd(e *env) *cobra.Command {
	o := suiteOptions{Sizes: world.DefaultSizes()}
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "List the task suite (categories, tasks, split sizes, chance, one example each) or export it as JSONL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSuite(o, e.stdout)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.Seed, "seed", 1, "world seed")
	f.StringVar(&o.World, "world", world.Version, "world version: "+strings.Join(world.Versions(), " or "))
	f.BoolVar(&o.JSON, "json", false, "print the listing as JSON")
	f.StringVar(&o.Export, "export", "", "write every split of every task as JSONL under this directory")
	f.StringVar(&o.Requests, "requests", "", "write the evaluator requests (JSONL) of the held-in and held-out tasks' --split to this file")
	f.StringVar(&o.Split, "split", "test", "split of --requests: test or validation")
	f.IntVar(&o.Sizes.Train, "train", o.Sizes.Train, "train examples per task")
	f.IntVar(&o.Sizes.Validation, "validation", o.Sizes.Validation, "validation examples per task")
	f.IntVar(&o.Sizes.Test, "test", o.Sizes.Test, "test examples per task")
	return cmd
}

// runSuite generates the suite and prints (or exports) it.
func runSuite(o suiteOptions, out io.Writer) error {
	s, err := world.NewSuiteVersion(o.World, o.Seed, o.Sizes)
	if err != nil {
		return err
	}
	if o.Requests != "" {
		return writeSuiteRequests(s, o, out)
	}
	if o.Export != "" {
		if err := s.Export(o.Export); err != nil {
			return err
		}
		if !o.JSON {
			_, err := fmt.Fprintf(out, "exported %d tasks to %s\n", len(s.Tasks), o.Export)
			return err
		}
	}
	if o.JSON {
		b, err := json.MarshalIndent(s.Summary(), "", "  ")
		if err != nil {
			return fmt.Errorf("suite: %w", err)
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	return printSuite(s, out)
}

// printSuite writes the human-readable listing: one block per part of the
// suite, one line per task, and the first test example of every task.
func printSuite(s *world.Suite, out io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "world seed %d, vocabulary %d tokens, %d entities\n", s.World.Seed, s.World.Tokenizer().Size(), len(s.World.Entities))
	if k := s.Knowledge; k != nil {
		fmt.Fprintf(&b, "world %s: %d people in the knowledge base (%d facts), the %d entities above are the novel names of the in-context tasks; knowledge tasks are marked *\n",
			s.Version, len(k.People), len(k.Facts()), len(s.World.Entities))
	}
	for _, part := range []world.Heldness{world.HeldIn, world.HeldOut, world.Mixture} {
		fmt.Fprintf(&b, "\n== %s ==\n", part)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "category\ttask\ttrain\tvalidation\ttest\tchance\tgenerative\tskills")
		for _, t := range s.TasksOf(part) {
			name := t.Name
			if t.Knowledge {
				name += " *"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.3f\t%v\t%s\n", t.Category, name, len(t.Train), len(t.Validation), len(t.Test),
				t.Chance(), t.Generative, strings.Join(t.Skills, ","))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("suite: %w", err)
		}
	}
	b.WriteString("\n== one example per task ==\n")
	for _, t := range s.Tasks {
		if len(t.Test) == 0 {
			continue
		}
		in := t.Test[0]
		fmt.Fprintf(&b, "%s\n  prompt:  %s\n  options: %s\n  answer:  %s\n", t.Name, in.Prompt, strings.Join(in.Options, " | "), in.Target)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// writeSuiteRequests writes the requests the harness sends an evaluator for
// one split of the held-in and held-out tasks (what the device check of
// adapters/hf_eval.py answers twice).
func writeSuiteRequests(s *world.Suite, o suiteOptions, out io.Writer) error {
	split := world.Split(o.Split)
	if split != world.Test && split != world.Validation {
		return fmt.Errorf("suite: --split %q: want test or validation", o.Split)
	}
	tasks := append(s.TasksOf(world.HeldIn), s.TasksOf(world.HeldOut)...)
	reqs, err := eval.TaskRequests(tasks, split, eval.Options{})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := eval.WriteRequests(&b, reqs); err != nil {
		return err
	}
	if err := atomicfile.Write(o.Requests, b.Bytes()); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	_, err = fmt.Fprintf(out, "wrote %d requests (%d tasks, %s split) to %s\n", len(reqs), len(tasks), split, o.Requests)
	return err
}
