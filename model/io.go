package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"mergescale/checkpoint"
	"mergescale/internal/atomicfile"
	"mergescale/tokenizer"
)

// ConfigFile is the name of the Hugging Face config inside a model dir.
const ConfigFile = "config.json"

// hfConfig is the GPT-2 config.json we write. Field order is the file's.
type hfConfig struct {
	Architectures      []string          `json:"architectures"`
	ModelType          string            `json:"model_type"`
	VocabSize          int               `json:"vocab_size"`
	NPositions         int               `json:"n_positions"`
	NCtx               int               `json:"n_ctx"`
	NEmbd              int               `json:"n_embd"`
	NLayer             int               `json:"n_layer"`
	NHead              int               `json:"n_head"`
	NInner             *int              `json:"n_inner"`
	ActivationFunction string            `json:"activation_function"`
	LayerNormEpsilon   float64           `json:"layer_norm_epsilon"`
	InitializerRange   float64           `json:"initializer_range"`
	ResidPdrop         float64           `json:"resid_pdrop"`
	EmbdPdrop          float64           `json:"embd_pdrop"`
	AttnPdrop          float64           `json:"attn_pdrop"`
	ScaleAttnWeights   bool              `json:"scale_attn_weights"`
	TieWordEmbeddings  bool              `json:"tie_word_embeddings"`
	BosTokenID         *int              `json:"bos_token_id,omitempty"`
	EosTokenID         *int              `json:"eos_token_id,omitempty"`
	TorchDtype         string            `json:"torch_dtype"`
	Mergescale         map[string]string `json:"mergescale,omitempty"`
}

// Save writes the model into the existing directory dir as a Hugging Face
// GPT-2 checkpoint: model.safetensors (F32, names with the "transformer."
// prefix, no lm_head.weight since the head is tied) and config.json. extra
// is stored in config.json under the "mergescale" key. Both files are
// written atomically. The vocabulary is not written here (see
// tokenizer.Tokenizer.Save).
func (m *Model) Save(dir string, extra map[string]string) error {
	infos := make([]checkpoint.TensorInfo, len(m.specs))
	for i, s := range m.specs {
		shape := make([]int64, len(s.shape))
		for j, v := range s.shape {
			shape[j] = int64(v)
		}
		infos[i] = checkpoint.TensorInfo{Name: s.name, DType: checkpoint.F32, Shape: shape}
	}
	w, err := checkpoint.CreateDir(dir, infos, map[string]string{"format": "pt"}, 0)
	if err != nil {
		return fmt.Errorf("save model to %s: %w", dir, err)
	}
	for _, s := range m.specs {
		if err := w.WriteFloat32(s.name, m.data[s.offset:s.offset+s.size]); err != nil {
			w.Abort()
			return fmt.Errorf("save model to %s: tensor %s: %w", dir, s.name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("save model to %s: %w", dir, err)
	}
	c := m.Config
	hc := hfConfig{
		Architectures: []string{"GPT2LMHeadModel"}, ModelType: "gpt2",
		VocabSize: c.VocabSize, NPositions: c.NPositions, NCtx: c.NPositions,
		NEmbd: c.NEmbd, NLayer: c.NLayer, NHead: c.NHead,
		ActivationFunction: "gelu_new", LayerNormEpsilon: Epsilon, InitializerRange: initStd,
		ScaleAttnWeights: true, TieWordEmbeddings: true,
		TorchDtype: "float32", Mergescale: extra,
	}
	if id := m.Special.BOS; id != tokenizer.NoToken {
		hc.BosTokenID = &id
	}
	if id := m.Special.EOS; id != tokenizer.NoToken {
		hc.EosTokenID = &id
	}
	js, err := json.MarshalIndent(hc, "", "  ")
	if err != nil {
		return fmt.Errorf("save model: encode %s: %w", ConfigFile, err)
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), append(js, '\n'))
}

// loadedConfig is config.json as read: pointers tell absent keys apart.
type loadedConfig struct {
	ModelType          *string         `json:"model_type"`
	VocabSize          *int            `json:"vocab_size"`
	NPositions         *int            `json:"n_positions"`
	NEmbd              *int            `json:"n_embd"`
	NLayer             *int            `json:"n_layer"`
	NHead              *int            `json:"n_head"`
	NInner             *int            `json:"n_inner"`
	ActivationFunction *string         `json:"activation_function"`
	LayerNormEpsilon   *float64        `json:"layer_norm_epsilon"`
	ScaleAttnWeights   *bool           `json:"scale_attn_weights"`
	ScaleByLayerIdx    *bool           `json:"scale_attn_by_inverse_layer_idx"`
	Mergescale         json.RawMessage `json:"mergescale"`
}

// ReadConfig reads a GPT-2 config.json from dir and returns the model
// config, after checking that it describes an architecture this package
// computes exactly (GELU tanh approximation, LayerNorm epsilon 1e-5, inner
// width 4·n_embd, attention scaled by 1/sqrt(head dim)).
func ReadConfig(dir string) (Config, error) {
	lc, path, err := readLoaded(dir)
	if err != nil {
		return Config{}, err
	}
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	if lc.ModelType == nil || *lc.ModelType != "gpt2" {
		return bad("model_type must be \"gpt2\"")
	}
	for key, p := range map[string]*int{"vocab_size": lc.VocabSize, "n_positions": lc.NPositions, "n_embd": lc.NEmbd, "n_layer": lc.NLayer, "n_head": lc.NHead} {
		if p == nil {
			return bad("missing key %q", key)
		}
	}
	c := Config{VocabSize: *lc.VocabSize, NPositions: *lc.NPositions, NEmbd: *lc.NEmbd, NLayer: *lc.NLayer, NHead: *lc.NHead}
	if lc.NInner != nil && *lc.NInner != 4*c.NEmbd {
		return bad("n_inner %d is not 4·n_embd; only GPT-2's MLP width is supported", *lc.NInner)
	}
	if a := lc.ActivationFunction; a != nil {
		switch *a {
		case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		default:
			return bad("activation_function %q is not supported (only the tanh approximation of GELU)", *a)
		}
	}
	if e := lc.LayerNormEpsilon; e != nil && math.Abs(*e-Epsilon) > 1e-12 {
		return bad("layer_norm_epsilon %v is not supported (only %v)", *e, Epsilon)
	}
	if lc.ScaleAttnWeights != nil && !*lc.ScaleAttnWeights {
		return bad("scale_attn_weights false is not supported")
	}
	if lc.ScaleByLayerIdx != nil && *lc.ScaleByLayerIdx {
		return bad("scale_attn_by_inverse_layer_idx true is not supported")
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func readLoaded(dir string) (*loadedConfig, string, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, path, fmt.Errorf("read model config: %w", err)
	}
	var lc loadedConfig
	if err := json.Unmarshal(b, &lc); err != nil {
		return nil, path, fmt.Errorf("%s: %w", path, err)
	}
	return &lc, path, nil
}

// ReadExtra returns the "mergescale" map of dir's config.json (nil when
// absent), as written by Save.
func ReadExtra(dir string) (map[string]string, error) {
	lc, path, err := readLoaded(dir)
	if err != nil {
		return nil, err
	}
	if len(lc.Mergescale) == 0 || string(lc.Mergescale) == "null" {
		return nil, nil
	}
	var extra map[string]string
	if err := json.Unmarshal(lc.Mergescale, &extra); err != nil {
		return nil, fmt.Errorf("%s: key \"mergescale\": %w", path, err)
	}
	return extra, nil
}

// Load reads a GPT-2 model directory: config.json plus model.safetensors or
// a sharded safetensors index. Tensor names may carry the "transformer."
// prefix or not; the attention buffers attn.bias and attn.masked_bias are
// ignored. The LM head is always tied to wte: lm_head.weight may be absent,
// and when present it must equal transformer.wte.weight exactly, otherwise
// Load fails (untied heads are not supported). Any other unknown tensor is
// an error. Floating-point dtypes (F32, F16, BF16, F64) are widened to
// float32. Model.Special comes from config.json's eos_token_id and
// bos_token_id (tokenizer.NoToken when absent).
func Load(dir string) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	special, err := tokenizer.ConfigSpecial(dir)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	ck, err := checkpoint.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	defer ck.Close()
	m := newZero(cfg)
	m.Special = special
	byName := make(map[string]string) // canonical name → name in the file
	var lmHead string
	for _, ti := range ck.Tensors() {
		n := ti.Name
		canon := "transformer." + strings.TrimPrefix(n, "transformer.")
		switch {
		case strings.HasSuffix(n, ".attn.bias") || strings.HasSuffix(n, ".attn.masked_bias"):
			continue
		case n == "lm_head.weight":
			lmHead = n
			continue
		}
		if prev, dup := byName[canon]; dup {
			return nil, fmt.Errorf("load model %s: tensors %q and %q are the same parameter", dir, prev, n)
		}
		byName[canon] = n
	}
	known := make(map[string]bool, len(m.specs))
	for _, s := range m.specs {
		known[s.name] = true
		name, ok := byName[s.name]
		if !ok {
			return nil, fmt.Errorf("load model %s: missing tensor %s", dir, s.name)
		}
		if err := readTensor(ck, name, s.shape, m.data[s.offset:s.offset+s.size]); err != nil {
			return nil, fmt.Errorf("load model %s: %w", dir, err)
		}
	}
	for canon, name := range byName {
		if !known[canon] {
			return nil, fmt.Errorf("load model %s: unexpected tensor %q for a GPT-2 with %d layers", dir, name, cfg.NLayer)
		}
	}
	if lmHead != "" {
		head := make([]float32, len(m.w.wte))
		if err := readTensor(ck, lmHead, []int{cfg.VocabSize, cfg.NEmbd}, head); err != nil {
			return nil, fmt.Errorf("load model %s: %w", dir, err)
		}
		for i, v := range head {
			if math.Float32bits(v) != math.Float32bits(m.w.wte[i]) {
				return nil, fmt.Errorf("load model %s: tensor lm_head.weight differs from transformer.wte.weight; untied LM heads are not supported", dir)
			}
		}
	}
	return m, nil
}

// readTensor reads name into dst after checking its shape and dtype.
func readTensor(ck *checkpoint.Checkpoint, name string, shape []int, dst []float32) error {
	ti, _ := ck.Info(name)
	if !ti.DType.IsFloat() {
		return fmt.Errorf("tensor %s: dtype %s is not a floating-point type", name, ti.DType)
	}
	ok := len(ti.Shape) == len(shape)
	for i := 0; ok && i < len(shape); i++ {
		ok = ti.Shape[i] == int64(shape[i])
	}
	if !ok {
		return fmt.Errorf("tensor %s: shape %v, want %v", name, ti.Shape, shape)
	}
	got, err := ck.Float32(name, dst[:0])
	if err != nil {
		return fmt.Errorf("tensor %s: %w", name, err)
	}
	if len(got) != len(dst) {
		return fmt.Errorf("tensor %s: read %d values, want %d", name, len(got), len(dst))
	}
	if &got[0] != &dst[0] {
		copy(dst, got)
	}
	return nil
}
