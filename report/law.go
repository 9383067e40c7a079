package report

import (
	"fmt"
	"hash/fnv"
	"runtime"
	"sort"
	"strings"
	"sync"

	"mergescale/store"
)

// The scaling law's data: per (base, method), metric and domain, the
// losses of the default variant's chosen merges (k = the merged experts)
// and of its experts alone (k = 1), each averaged over a fixed set of
// tasks, the domain's: every held-in task (in-domain) or every held-out
// task (cross-domain), test split. A model lacking any task of the set is
// left out, and the fit says how many were.

// lawMetrics and lawDomains are the metrics and domains fitted, in table
// order.
var (
	lawMetrics = []string{store.OptionCE, store.GoldNLL}
	lawDomains = []string{store.HeldIn, store.HeldOut}
)

// LawFit is the merging scaling law fitted to one (base type, method,
// metric, domain) of the default variant; see lawfit.go for the fit.
type LawFit struct {
	BaseType, Method string
	Metric           string // store.OptionCE or store.GoldNLL
	Domain           string // store.HeldIn or store.HeldOut
	// Tasks is the number of tasks the loss is averaged over.
	Tasks int
	// Excluded counts the models left out because they lack some of the
	// tasks; Models counts those fitted.
	Excluded, Models int
	// Why says why there is no fit ("" when there is one).
	Why string

	fit *lawFitResult
}

// OK reports whether the law could be fitted.
func (f LawFit) OK() bool { return f.fit != nil }

// Param returns the fitted value of the named parameter (lawParamNames)
// with its bootstrap 95% CI; ok is false without a fit, hasCI without an
// interval.
func (f LawFit) Param(name string) (value, lo, hi float64, hasCI, ok bool) {
	if f.fit == nil {
		return 0, 0, 0, false, false
	}
	for i, n := range lawParamNames {
		if n == name {
			return f.fit.Params[i], f.fit.CI[i][0], f.fit.CI[i][1], f.fit.HasCI, true
		}
	}
	return 0, 0, 0, false, false
}

// domainLabel names a domain for people.
func domainLabel(d string) string {
	switch d {
	case store.HeldIn:
		return "held-in"
	case store.HeldOut:
		return "held-out"
	}
	return d
}

// scalingLaw fits the law to every (base type, method, metric, domain) of
// the default variant's view def, reading the models' losses from d.
// The fits run concurrently; each is seeded by its own key, so the result
// does not depend on their order.
func scalingLaw(def *Results, d *storeData) []LawFit {
	var fits []LawFit
	for _, b := range def.BaseTypes {
		for _, m := range def.Methods {
			for _, metric := range lawMetrics {
				for _, dom := range lawDomains {
					fits = append(fits, LawFit{BaseType: b, Method: m, Metric: metric, Domain: dom})
				}
			}
		}
	}
	tasks := map[[2]string][]string{}
	for _, metric := range lawMetrics {
		for _, dom := range lawDomains {
			tasks[[2]string{metric, dom}] = lawTaskSet(d.byMetric(metric), dom)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for i := range fits {
		f := &fits[i]
		ts := tasks[[2]string{f.Metric, f.Domain}]
		f.Tasks = len(ts)
		if len(ts) == 0 {
			f.Why = fmt.Sprintf("the store has no %s scores on %s tasks", f.Metric, domainLabel(f.Domain))
			continue
		}
		obs := lawObservations(def, d.byMetric(f.Metric), ts, f)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := fitLaw(obs, lawSeed(f))
			if err != nil {
				f.Why = lawReason(err)
				if f.Excluded > 0 {
					f.Why += fmt.Sprintf(" (%d of %d models lack some of the %d %s tasks' %s scores and are left out)",
						f.Excluded, f.Excluded+f.Models, len(ts), domainLabel(f.Domain), f.Metric)
				}
				return
			}
			f.fit = res
		})
	}
	wg.Wait()
	return fits
}

// byMetric returns the test scores of metric by model id and task.
func (d *storeData) byMetric(metric string) map[string]map[string]store.Score {
	switch metric {
	case store.OptionCE:
		return d.ce
	case store.GoldNLL:
		return d.nll
	}
	return nil
}

// lawTaskSet lists the tasks of domain that some model has a score of in
// scores, sorted.
func lawTaskSet(scores map[string]map[string]store.Score, domain string) []string {
	seen := map[string]bool{}
	for _, byTask := range scores {
		for t, s := range byTask {
			if s.Heldness == domain {
				seen[t] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// lawLoss is a model's mean score over tasks; ok is false when it lacks
// one of them.
func lawLoss(byTask map[string]store.Score, tasks []string) (float64, bool) {
	var sum float64
	for _, t := range tasks {
		s, ok := byTask[t]
		if !ok || !isNum(s.Value) {
			return 0, false
		}
		sum += s.Value
	}
	return sum / float64(len(tasks)), true
}

// lawObservations collects the observations of fit f: its base type's
// experts at k = 1 (one subset per category) and its method's chosen
// merges (one per (k, subset)), counting in f the models left out.
func lawObservations(def *Results, scores map[string]map[string]store.Score, tasks []string, f *LawFit) []lawObs {
	var obs []lawObs
	add := func(size string, params int64, k int, id, model string) {
		y, ok := lawLoss(scores[model], tasks)
		if !ok {
			f.Excluded++
			return
		}
		f.Models++
		obs = append(obs, lawObs{Size: size, Params: params, K: k, ID: id, Loss: y})
	}
	for _, b := range def.Baselines {
		if b.Kind == store.KindExpert && b.BaseType == f.BaseType {
			add(b.Size, b.Params, 1, "expert "+b.Category, b.ModelID)
		}
	}
	for _, c := range def.Cells {
		if c.BaseType != f.BaseType || c.Method != f.Method {
			continue
		}
		for _, s := range c.Subsets {
			add(c.Size, c.Params, c.K, fmt.Sprintf("k=%d #%d %s", c.K, s.Subset, strings.Join(s.Categories, "+")), s.ModelID)
		}
	}
	return obs
}

// lawSeed seeds the bootstrap of fit f from its key.
func lawSeed(f *LawFit) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "scaling-law|%s|%s|%s|%s", f.BaseType, f.Method, f.Metric, f.Domain)
	return h.Sum64()
}
