package cli

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mergescale/eval/builtin"
	"mergescale/internal/atomicfile"
	"mergescale/model"
	"mergescale/store"
	"mergescale/tokenizer"
	"mergescale/world"
)

// knowledgeOpts are the flags of the knowledge command.
type knowledgeOpts struct {
	sizes    string
	steps    int
	batch    int
	lr       float64
	seed     uint64
	people   int
	ratio    float64
	bioShare float64
	out      string
	db       string
	cbqa     int
	cloze    bool
	prefix   string
	scatter  bool
	cbqaLR   float64
	tmpl     int
	qaShare  float64
}

// newKnowledgeCmd is the knowledge pilot: pretrain bases on the suite-5
// world's corpus and probe every fact of its knowledge base.
func newKnowledgeCmd(e *env) *cobra.Command {
	o := knowledgeOpts{}
	cmd := &cobra.Command{
		Use:   "knowledge",
		Short: "Pretrain bases in the suite-5 world and probe what each knows (the knowledge pilot)",
		Long: "knowledge pretrains one base per size on the suite-5 world's corpus, saves it under\n" +
			"<out>/<size>, and probes every fact of the knowledge base: the base's log-probability of\n" +
			"the value's tokens after the cloze context (<bos> name template), summed over the value's\n" +
			"tokens. It writes <out>/probe.csv (one row per size and fact) and prints the fraction known\n" +
			"(probability > 0.5) per size and exposure bin. A base already saved is probed, not retrained.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKnowledge(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.sizes, "sizes", "xs,s,m,l", "size presets, comma-separated")
	f.IntVar(&o.steps, "steps", 2000, "pretraining steps (the corpus has steps × batch documents, each seen once)")
	f.IntVar(&o.batch, "batch", 32, "documents per step")
	f.Float64Var(&o.lr, "lr", 3e-3, "peak learning rate")
	f.Uint64Var(&o.seed, "seed", 1, "world and training seed")
	f.IntVar(&o.people, "people", world.DefaultKnowledgeParams.People, "people in the knowledge base")
	f.Float64Var(&o.ratio, "exposure-ratio", world.DefaultKnowledgeParams.ExposureRatio, "most ÷ least exposed person's share of biographies")
	f.Float64Var(&o.bioShare, "bio-share", world.DefaultKnowledgeParams.BioShare, "fraction of documents that are biographies")
	f.BoolVar(&o.scatter, "scatter", false, "state facts one sentence at a time scattered over all documents, not one biography per document")
	f.IntVar(&o.tmpl, "templates", 1, fmt.Sprintf("sentence templates a fact is stated in, 1 to %d (1: the cloze sentence only)", world.KnowledgeTemplates))
	f.Float64Var(&o.qaShare, "qa-share", 0, "fraction of the closed-book train people's fact statements made in question form (\"what is the <attribute> of <name> ? <value> .\"; never about test or validation people)")
	f.StringVar(&o.out, "out", "results/knowledge", "output directory")
	f.IntVar(&o.cbqa, "cbqa-steps", 0, "also fine-tune a copy of each base for this many steps on 4-option closed-book QA over the train people's facts (batch 32, lr 2e-3, dropout 0.15) and print its test accuracy on the test people's facts, known and unknown apart (0: off)")
	f.Float64Var(&o.cbqaLR, "cbqa-lr", 2e-3, "closed-book check: the fine-tune's peak learning rate (the expert recipe's 2e-3 by default)")
	f.BoolVar(&o.cloze, "cbqa-cloze-last", false, "closed-book check: options first and the fact's cloze right before <ans>, rather than question then options")
	f.StringVar(&o.prefix, "probe-prefix", "", "words put between <bos> and every fact's cloze (a robustness check of the probe; the gate's probe has none)")
	f.StringVar(&o.db, "db", "", "also record the run (world version suite-5) and every probe in this results database (table knowledge)")
	return cmd
}

// runKnowledge trains and probes every size of o.
func runKnowledge(ctx context.Context, e *env, o knowledgeOpts) error {
	w, err := world.NewKnowledge(o.seed, world.KnowledgeParams{People: o.people, ExposureRatio: o.ratio, BioShare: o.bioShare,
		Scatter: o.scatter, Templates: o.tmpl, QAShare: o.qaShare})
	if err != nil {
		return err
	}
	tok := w.Tokenizer()
	sp := tok.Special()
	n := o.steps * o.batch
	docs := w.Corpus(n, o.seed)
	data := make([]model.Example, len(docs))
	for i, d := range docs {
		ids, err := tok.EncodeStrict(d)
		if err != nil {
			return fmt.Errorf("corpus document %d: %w", i, err)
		}
		t := append([]int{sp.BOS}, ids...)
		data[i] = model.Example{Target: append(t, sp.EOS)}
	}
	exp := w.Exposures(n)
	facts := w.Facts()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	flags := fmt.Sprintf("sizes=%s steps=%d batch=%d lr=%g seed=%d people=%d exposure_ratio=%g bio_share=%g",
		o.sizes, o.steps, o.batch, o.lr, o.seed, o.people, o.ratio, o.bioShare)
	if o.scatter {
		flags += " scatter=true"
	}
	if o.tmpl > 1 {
		flags += fmt.Sprintf(" templates=%d", o.tmpl)
	}
	if o.qaShare > 0 {
		flags += fmt.Sprintf(" qa_share=%g", o.qaShare)
	}
	if o.prefix != "" {
		flags += " probe_prefix=" + strconv.Quote(o.prefix)
	}
	fh := sha256.Sum256([]byte(flags))
	flagsHash := hex.EncodeToString(fh[:])
	var probes []store.KnowledgeProbe
	var rows [][]string
	rows = append(rows, []string{"size", "params", "fact", "attribute", "exposures", "logprob"})
	table := [][]string{{"size", "exposure_bin", "facts", "fraction_known", "value_ce"}}
	for _, size := range strings.Split(o.sizes, ",") {
		p, err := model.PresetByName(size)
		if err != nil {
			return err
		}
		dir := filepath.Join(o.out, size)
		m, err := model.Load(dir)
		if err != nil {
			m = model.New(p.Config(tok.Size()), o.seed)
			m.Special = sp
			start := time.Now()
			tc := model.TrainConfig{Steps: o.steps, Batch: o.batch, LR: o.lr, WeightDecay: 0.01, WarmupFrac: 0.05, ClipNorm: 1, Seed: o.seed, Workers: 2}
			sum, err := model.Train(ctx, m, data, tc, func(step int, loss float64) {
				if step%200 == 0 {
					fmt.Fprintf(e.stderr, "%s step %d loss %.3f (%.0fs)\n", size, step, loss, time.Since(start).Seconds())
				}
			})
			if err != nil {
				return fmt.Errorf("train %s: %w", size, err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := m.Save(dir, map[string]string{"world_version": world.VersionKnowledge, "size": size}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %d params, %d steps, final loss %.3f, %.0f s\n", size, m.NumParams(), sum.Steps, sum.FinalLoss, time.Since(start).Seconds())
		}
		known := 0
		type bin struct {
			facts, known int
			ce           float64
		}
		bins := map[int]*bin{}
		lps, err := builtin.ProbeFacts(m, tok, facts, o.prefix)
		if err != nil {
			return fmt.Errorf("probe %s: %w", size, err)
		}
		for i, lp := range lps {
			f := facts[i]
			lo, _ := exposureBin(exp[f.Person])
			b := bins[lo]
			if b == nil {
				b = &bin{}
				bins[lo] = b
			}
			b.facts++
			b.ce -= lp
			if lp > builtin.KnownLogProb {
				known++
				b.known++
			}
			probes = append(probes, store.KnowledgeProbe{ModelID: "knowledge-pt-" + size + "-" + flagsHash[:12],
				Size: size, Params: int64(m.NumParams()), WorldVersion: world.VersionKnowledge, Fact: f.ID(w),
				Attribute: world.KnowledgeAttributes()[f.Attribute].Name, Exposures: exp[f.Person], LogProb: lp})
			rows = append(rows, []string{size, strconv.Itoa(m.NumParams()), f.ID(w), world.KnowledgeAttributes()[f.Attribute].Name,
				strconv.Itoa(exp[f.Person]), strconv.FormatFloat(lp, 'f', 6, 64)})
		}
		fmt.Fprintf(e.stdout, "%s: %d of %d facts known (%.3f)\n", size, known, len(facts), float64(known)/float64(len(facts)))
		if o.cbqa > 0 {
			knownFact := make([]bool, len(facts))
			for i, p := range probes[len(probes)-len(facts):] {
				knownFact[i] = p.LogProb > builtin.KnownLogProb
			}
			if err := closedBookCheck(ctx, e, w, m, size, facts, knownFact, o); err != nil {
				return err
			}
		}
		for _, lo := range slices.Sorted(maps.Keys(bins)) {
			b := bins[lo]
			_, hi := exposureBin(lo)
			r := []string{size, fmt.Sprintf("%d-%d", lo, hi), strconv.Itoa(b.facts),
				strconv.FormatFloat(float64(b.known)/float64(b.facts), 'f', 4, 64), strconv.FormatFloat(b.ce/float64(b.facts), 'f', 4, 64)}
			table = append(table, r)
			fmt.Fprintf(e.stdout, "  exposures %-8s facts %5s known %s value_ce %s\n", r[1], r[2], r[3], r[4])
		}
	}
	if err := writeCSV(filepath.Join(o.out, "table_knowledge.csv"), table); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(o.out, "probe.csv"), rows); err != nil {
		return err
	}
	if o.db == "" {
		return nil
	}
	db, err := store.Open(o.db)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC()
	return db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.InsertRun(ctx, store.Run{Name: "knowledge-pilot", ConfigText: "# mergescale knowledge " + flags + "\n",
			ConfigHash: flagsHash, CodeVersion: version, StartedAt: now, EndedAt: now,
			WorldVersion: world.VersionKnowledge}); err != nil {
			return err
		}
		return tx.InsertKnowledge(ctx, probes)
	})
}

// writeCSV writes rows to path atomically.
func writeCSV(path string, rows [][]string) error {
	var b strings.Builder
	cw := csv.NewWriter(&b)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(b.String()))
}

// exposureBin returns the inclusive bounds of the power-of-two bin that
// holds e: 0-0, 1-1, 2-3, 4-7, 8-15, ...
func exposureBin(e int) (lo, hi int) {
	if e <= 0 {
		return 0, 0
	}
	lo = 1
	for lo*2 <= e {
		lo *= 2
	}
	return lo, 2*lo - 1
}

// closedBookCheck fine-tunes a copy of base m on closed-book QA over the
// train people's facts and prints its accuracy (rank classification over 4
// options, Σ log p(option + <eos>)) on the test people's facts, for the
// facts the base knows and those it does not.
func closedBookCheck(ctx context.Context, e *env, w *world.KnowledgeWorld, base *model.Model, size string,
	facts []world.Fact, known []bool, o knowledgeOpts) error {
	tok := w.Tokenizer()
	sp := tok.Special()
	enc := func(text string) ([]int, error) { return tok.EncodeStrict(text) }
	r := rand.New(rand.NewPCG(o.seed, 0x63627161))
	var train []model.Example
	var trainFacts, testIdx []int
	for i, f := range facts {
		switch world.ClosedBookGroup(f.Person) {
		case world.Train:
			trainFacts = append(trainFacts, i)
		case world.Test:
			testIdx = append(testIdx, i)
		}
	}
	for len(train) < o.cbqa*32 {
		f := facts[trainFacts[r.IntN(len(trainFacts))]]
		p, opts, ans := w.ClosedBookQA(r, f, 4, o.cloze)
		pt, err := enc(p)
		if err != nil {
			return err
		}
		t, err := enc(opts[ans])
		if err != nil {
			return err
		}
		train = append(train, model.Example{Prompt: append([]int{sp.BOS}, pt...), Target: append(t, sp.EOS)})
	}
	dir, err := os.MkdirTemp("", "cbqa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := base.Save(dir, nil); err != nil {
		return err
	}
	m, err := model.Load(dir)
	if err != nil {
		return err
	}
	// Before the fine-tune: does the base answer the corpus's own question
	// form about the test people (never asked about in pretraining)?
	qKnown, qAll := 0, 0
	for _, i := range testIdx {
		ok, err := probeKnown(base, tok, w.Question(facts[i]), facts[i].Value)
		if err != nil {
			return err
		}
		qAll++
		if ok {
			qKnown++
		}
	}
	fmt.Fprintf(e.stdout, "  question-form probe of the base on test people: %.3f of %d facts (p > 0.5)\n", float64(qKnown)/float64(max(qAll, 1)), qAll)
	tc := model.TrainConfig{Steps: o.cbqa, Batch: 32, LR: o.cbqaLR, WeightDecay: 0.01, WarmupFrac: 0.05, ClipNorm: 1, Dropout: 0.15, Seed: o.seed + 7, Workers: 2}
	if _, err := model.Train(ctx, m, train, tc, nil); err != nil {
		return fmt.Errorf("closed-book fine-tune %s: %w", size, err)
	}
	var right, n [2]int
	for _, i := range testIdx {
		p, opts, ans := w.ClosedBookQA(r, facts[i], 4, o.cloze)
		pt, err := enc(p)
		if err != nil {
			return err
		}
		options := make([][]int, len(opts))
		for k, op := range opts {
			t, err := enc(op)
			if err != nil {
				return err
			}
			options[k] = append(t, sp.EOS)
		}
		lp, err := m.OptionLogProbs(append([]int{sp.BOS}, pt...), options)
		if err != nil {
			return err
		}
		best := 0
		for k := range lp {
			if lp[k] > lp[best] {
				best = k
			}
		}
		g := 0
		if known[i] {
			g = 1
		}
		n[g]++
		if best == ans {
			right[g]++
		}
	}
	// Does the fine-tune keep what the base knew? The plain probe on the
	// test people's facts the base knows, under the fine-tuned model.
	kept, baseKnown := 0, 0
	for _, i := range testIdx {
		if !known[i] {
			continue
		}
		baseKnown++
		ok, err := probeKnown(m, tok, facts[i].Context, facts[i].Value)
		if err != nil {
			return err
		}
		if ok {
			kept++
		}
	}
	frac := func(a, b int) float64 {
		if b == 0 {
			return math.NaN()
		}
		return float64(a) / float64(b)
	}
	fmt.Fprintf(e.stdout, "  closed-book expert (%d steps, lr %g) on test people: all %.3f (n %d), known %.3f (n %d), unknown %.3f (n %d); chance 0.25\n",
		o.cbqa, o.cbqaLR, frac(right[0]+right[1], n[0]+n[1]), n[0]+n[1], frac(right[1], n[1]), n[1], frac(right[0], n[0]), n[0])
	fmt.Fprintf(e.stdout, "  after the fine-tune the probe still knows %.3f of the %d test-people facts the base knew\n", frac(kept, baseKnown), baseKnown)
	return nil
}

// probeKnown reports whether m gives value probability above 0.5 after
// <bos> context: the known test of the knowledge probe, for one fact.
func probeKnown(m *model.Model, tok *tokenizer.Tokenizer, context, value string) (bool, error) {
	c, err := tok.EncodeStrict(context)
	if err != nil {
		return false, err
	}
	v, err := tok.EncodeStrict(value)
	if err != nil {
		return false, err
	}
	lp, err := m.OptionLogProbs(append([]int{tok.Special().BOS}, c...), [][]int{v})
	if err != nil {
		return false, err
	}
	return lp[0] > math.Log(0.5), nil
}
