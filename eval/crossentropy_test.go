package eval

import (
	"math"
	"testing"

	"mergescale/world"
)

// TestCrossEntropyHandComputed scores hand-written answers: two instances,
// two and three options. Instance 0 (answer 1, option "bb"): log-likelihoods
// ln .2 and ln .6, so softmax gives the answer .6 ÷ .8 = .75 and option_ce
// ln(4/3); gold_nll −ln .6 ÷ 3 bytes (" bb"). Instance 1 (answer 0, option
// "é", two bytes in UTF-8): log-likelihoods −1, −1, −1: option_ce ln 3,
// gold_nll 1 ÷ 3 bytes (" é"). Chance: (ln 2 + ln 3) ÷ 2.
func TestCrossEntropyHandComputed(t *testing.T) {
	task := &world.Task{Name: "t", Category: "c", Heldness: world.HeldIn, Test: []world.Instance{
		{Prompt: "p0", Options: []string{"a", "bb"}, Answer: 1},
		{Prompt: "p1", Options: []string{"é", "b", "c"}, Answer: 0},
	}}
	reqs, err := TaskRequests([]*world.Task{task}, world.Test, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lps := []float64{math.Log(0.2), math.Log(0.6), -1, -1, -1}
	ans := make([]Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = Answer{ID: r.ID, LogProb: lps[i]}
	}
	res, err := TaskResults([]*world.Task{task}, world.Test, Options{}, ans)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	want := CrossEntropy{
		OptionCE:       (math.Log(4.0/3) + math.Log(3)) / 2,
		OptionCEChance: (math.Log(2) + math.Log(3)) / 2,
		GoldNLL:        (-math.Log(0.6)/3 + 1.0/3) / 2,
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !r.HasOptionCE || !r.HasGoldNLL || !near(r.CE.OptionCE, want.OptionCE) || !near(r.CE.OptionCEChance, want.OptionCEChance) || !near(r.CE.GoldNLL, want.GoldNLL) {
		t.Errorf("CE %+v (has %v %v), want %+v", r.CE, r.HasOptionCE, r.HasGoldNLL, want)
	}
	if r.Accuracy != 1 {
		t.Errorf("accuracy %v, want 1", r.Accuracy)
	}
}

func TestLogSumExp(t *testing.T) {
	if got := logSumExp([]float64{-1000, -1000}); math.Abs(got-(-1000+math.Log(2))) > 1e-9 {
		t.Errorf("logSumExp underflows: %v", got)
	}
	if got := logSumExp([]float64{math.Inf(-1), 0}); got != 0 {
		t.Errorf("logSumExp(-Inf, 0) = %v", got)
	}
}

// TestGoldNLLWithoutOptions: a task without options asks for its target's
// log-likelihood beside the generation (context the prompt, continuation
// " " + target, with eos) and gets gold_nll alone: targets "ab" and "xyz"
// with log-likelihoods −3 and −8 give (3 ÷ 3 + 8 ÷ 4) ÷ 2 = 1.5; no
// option_ce.
func TestGoldNLLWithoutOptions(t *testing.T) {
	task := &world.Task{Name: "s", Category: "c", Heldness: world.HeldIn, Test: []world.Instance{
		{Prompt: "p0", Target: "ab"},
		{Prompt: "p1", Target: "xyz"},
	}}
	reqs, err := TaskRequests([]*world.Task{task}, world.Test, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 4 || reqs[0].Type != TypeLoglikelihood || reqs[0].Continuation != " ab" || !reqs[0].EOS || reqs[1].Type != TypeGenerateUntil {
		t.Fatalf("requests %+v, want a loglikelihood request for the target before each generation", reqs)
	}
	ans := []Answer{{ID: reqs[0].ID, LogProb: -3}, {ID: reqs[1].ID, Text: "ab"}, {ID: reqs[2].ID, LogProb: -8}, {ID: reqs[3].ID, Text: "no"}}
	res, err := TaskResults([]*world.Task{task}, world.Test, Options{}, ans)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if !r.HasGoldNLL || r.HasOptionCE || math.Abs(r.CE.GoldNLL-1.5) > 1e-12 {
		t.Errorf("CE %+v (option_ce %v, gold_nll %v), want gold_nll 1.5 alone", r.CE, r.HasOptionCE, r.HasGoldNLL)
	}
	if v, ok := r.Score("exact_match"); !ok || v != 0.5 {
		t.Errorf("exact match %v %v, want 0.5", v, ok)
	}
}

// BenchmarkCrossEntropy is what the cross-entropies add to scoring one
// task of the reference run (512 test instances, 4 options): one op is
// the option_ce and gold_nll sums over the task's answers. Compare it with
// BenchmarkTaskResults, the whole scoring of the same answers (ranking,
// accuracy and the cross-entropies); neither includes the model calls.
func BenchmarkCrossEntropy(b *testing.B) {
	lps := benchAnswers()
	b.ResetTimer()
	for range b.N {
		var c ceSums
		for i := 0; i < len(lps); i += 4 {
			c.add(lps[i:i+4], (i/4)%4, 7)
		}
		if _, ok, _ := c.result(); !ok {
			b.Fatal("no option_ce")
		}
	}
}

// BenchmarkTaskResults scores 512 answered 4-option instances of one
// task: ranking, accuracy and the cross-entropies.
func BenchmarkTaskResults(b *testing.B) {
	task := &world.Task{Name: "t", Category: "c", Heldness: world.HeldIn}
	for i := range 512 {
		task.Test = append(task.Test, world.Instance{Prompt: "p", Options: []string{"a", "bb", "ccc", "d"}, Answer: i % 4})
	}
	reqs, err := TaskRequests([]*world.Task{task}, world.Test, Options{})
	if err != nil {
		b.Fatal(err)
	}
	lps := benchAnswers()
	ans := make([]Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = Answer{ID: r.ID, LogProb: lps[i%len(lps)]}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := TaskResults([]*world.Task{task}, world.Test, Options{}, ans); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAnswers returns 512 × 4 seeded log-likelihoods.
func benchAnswers() []float64 {
	lps := make([]float64, 512*4)
	x := uint64(1)
	for i := range lps {
		x = x*6364136223846793005 + 1442695040888963407
		lps[i] = -float64(x>>40) / float64(1<<24) * 8
	}
	return lps
}

// Options.Group splits a task's accuracy and option_ce by group, by hand:
// three instances in groups y, n, y (the third ungrouped run leaves none).
func TestGroupResultsHandComputed(t *testing.T) {
	task := &world.Task{Name: "t", Category: "c", Heldness: world.HeldIn, Test: []world.Instance{
		{Prompt: "p0", Options: []string{"a", "b"}, Answer: 0, Fact: "f0"},
		{Prompt: "p1", Options: []string{"a", "b"}, Answer: 1, Fact: "f1"},
		{Prompt: "p2", Options: []string{"a", "b"}, Answer: 1, Fact: "f2"},
		{Prompt: "p3", Options: []string{"a", "b"}, Answer: 0},
	}}
	reqs, err := TaskRequests([]*world.Task{task}, world.Test, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// p0 right (0.75 vs 0.25), p1 wrong, p2 right, p3 right.
	lps := []float64{math.Log(0.75), math.Log(0.25), math.Log(0.5), math.Log(0.25), math.Log(0.1), math.Log(0.9), 0, -1}
	ans := make([]Answer, len(reqs))
	for i, r := range reqs {
		ans[i] = Answer{ID: r.ID, LogProb: lps[i]}
	}
	group := map[string]string{"f0": "y", "f1": "n", "f2": "y"}
	opts := Options{Group: func(_ *world.Task, in *world.Instance) string { return group[in.Fact] }}
	res, err := TaskResults([]*world.Task{task}, world.Test, opts, ans)
	if err != nil {
		t.Fatal(err)
	}
	g := res[0].Groups
	if len(g) != 2 || g[0].Group != "y" || g[1].Group != "n" || g[0].N != 2 || g[1].N != 1 {
		t.Fatalf("groups %+v", g)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !near(g[0].Accuracy, 1) || !near(g[0].OptionCE, (math.Log(4.0/3)+math.Log(10.0/9))/2) {
		t.Errorf("group y %+v", g[0])
	}
	if !near(g[1].Accuracy, 0) || !near(g[1].OptionCE, math.Log(3)) {
		t.Errorf("group n %+v", g[1])
	}
	if res[0].Accuracy != 0.75 {
		t.Errorf("accuracy over all %v, want 0.75", res[0].Accuracy)
	}
	if plain, _ := TaskResults([]*world.Task{task}, world.Test, Options{}, ans); plain[0].Groups != nil {
		t.Errorf("groups without Options.Group: %+v", plain[0].Groups)
	}
}
