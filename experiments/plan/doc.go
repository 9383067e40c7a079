// Package plan expands a checked config (package config) into a DAG of
// content-addressed jobs — train the zoo or register existing checkpoints,
// merge, evaluate — and shards it; package run executes it.
//
// New expands a config into its plan. Every job's key is a hash of
// everything that determines its artifact, so a changed sweep never
// invalidates the zoo and a new method only adds that method's jobs; models
// that a zoo variant's keys do not determine are one job, shared by every
// variant. What the config names on disk comes in as Inputs, read by the
// run's first step (run.Plan): the task set of tasks.dir, and the
// identities (SHA-256 of the files) of zoo.checkpoints, which key their
// jobs.
//
// Plan.ForShard selects a deterministic share of the merge and evaluation
// work for one machine of a cluster (Shard.Has): a merge and its
// evaluations go with their cell, the zoo with every shard.
//
// A job is one model, Job, told in two renderings (describe.go): Label,
// short, for the run's log lines, errors and progress display, and
// Plan.Describe, one line of the `run --plan` listing that Print writes
// after the plan's grid, subsets and job counts.
package plan
