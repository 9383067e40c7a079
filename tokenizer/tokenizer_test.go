package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRoundTripAndEncode(t *testing.T) {
	tok, err := New([]string{"mira", "lives", "in", "oslo", "."})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Size(), len(specials)+5; got != want {
		t.Fatalf("Size = %d, want %d", got, want)
	}
	ids := tok.Encode("mira lives  in oslo . zzz")
	want := []int{6, 7, 8, 9, 10, UnkID}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("Encode = %v, want %v", ids, want)
	}
	if _, err := tok.EncodeStrict("mira zzz"); err == nil {
		t.Fatal("EncodeStrict accepted an unknown word")
	}
	if got := tok.Decode([]int{6, 7, 99}); got != "mira lives <unk>" {
		t.Fatalf("Decode = %q", got)
	}
	dir := t.TempDir()
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Words(), tok.Words()) {
		t.Fatalf("Load(Save) = %v, want %v", back.Words(), tok.Words())
	}
	os.Remove(filepath.Join(dir, "tokenizer.json"))
	back, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Words(), tok.Words()) {
		t.Fatal("vocab.json fallback lost words")
	}
}

func TestNewRejects(t *testing.T) {
	for _, words := range [][]string{{"a", "a"}, {""}, {"a b"}, {"<pad>"}} {
		if _, err := New(words); err == nil {
			t.Errorf("New(%q) succeeded, want an error", words)
		}
	}
}

func TestLoadRejectsSparseIDs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(`{"<pad>":0,"x":5}`), 0o644)
	if _, err := Load(dir); err == nil {
		t.Fatal("Load accepted ids with gaps")
	}
}
