package world

// Version identifies the generator: the vocabulary, the facts dealt from a
// seed, the corpus, every task's templates and the default split sizes. The
// experiment harness puts it in the key of every job whose artifact depends
// on generated data, so bump it whenever a change to this package changes
// what a seed generates; cached models and scores are then not reused.
//
// Version is the default world (the 48-person world of suite-4); a config
// selects another with world.version (see Versions).
const Version = "suite-4"

// VersionKnowledge is the candidate world whose knowledge base is large
// enough that no preset saturates it (KnowledgeWorld, knowledge.go): thousands
// of people with two-token names, 8 attributes × 16 values, exposures per
// person spread log-uniformly.
const VersionKnowledge = "suite-5"

// Versions lists the world versions a config may name, the default first.
func Versions() []string { return []string{Version, VersionKnowledge} }
