package world

// Version identifies the generator: the vocabulary, the facts dealt from a
// seed, the corpus, every task's templates and the default split sizes. The
// experiment harness puts it in the key of every job whose artifact depends
// on generated data, so bump it whenever a change to this package changes
// what a seed generates; cached models and scores are then not reused.
const Version = "suite-4"
