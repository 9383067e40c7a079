package trainset

import (
	"testing"

	"mergescale/tokenizer"
	"mergescale/world"
)

func TestEncodeInstanceAligned(t *testing.T) {
	s, err := world.NewSuite(1, world.Sizes{Train: 5, Validation: 2, Test: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok := s.World.Tokenizer()
	ex, err := ExpertExamples(s, "sentiment")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 10 {
		t.Fatalf("%d examples, want 10", len(ex))
	}
	for _, e := range ex {
		if e.Prompt[len(e.Prompt)-1] != tokenizer.AnsID || e.Target[len(e.Target)-1] != tokenizer.EOSID {
			t.Fatalf("example not aligned: %v -> %v", tok.Decode(e.Prompt), tok.Decode(e.Target))
		}
		w := tok.Decode(e.Target[:len(e.Target)-1])
		if w != "positive" && w != "negative" {
			t.Fatalf("target %q", w)
		}
	}
	if _, err := ExpertExamples(s, "nli"); err == nil {
		t.Fatal("held-out category accepted as an expert")
	}
	docs, err := CorpusExamples(s.World, 3, 1)
	if err != nil || len(docs) != 3 || docs[0].Target[0] != tokenizer.BOSID || len(docs[0].Prompt) != 0 {
		t.Fatalf("corpus examples %v %v", docs, err)
	}
}
