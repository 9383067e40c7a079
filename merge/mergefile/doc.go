// Package mergefile merges real checkpoints the way mergekit does: it reads a
// mergekit-style YAML recipe, resolves every output tensor (its sources,
// layer, t and parameters) and checks every input before it merges
// anything, then streams the merge tensor by tensor through the pure
// methods of package merge, so memory stays near (k + 2) × the largest
// tensor whatever the model's size.
//
// The same driver, Run, serves the `mergescale merge` command and the
// experiment harness, which builds a Config in code instead of loading YAML.
//
// # Recipes
//
// The semantics are mergekit's (arcee-ai/mergekit: config.py, plan.py,
// merge_methods/), read from its source:
//
//   - A recipe lists either models: (one slice over every layer of every
//     model) or slices:, each a list of sources {model, layer_range:
//     [first, end)} with end exclusive. The sources of a slice have equal
//     lengths; output layers are numbered consecutively across slices.
//     With a base_model, the base is one of each slice's sources and the
//     other sources are the experts (in the models: syntax the base is
//     added when it is not listed).
//   - A parameter is a scalar, a gradient (a list of values) or a list of
//     {filter, value} conditionals, of which the first whose filter is
//     absent, "*" or a substring of the tensor name applies; its value may
//     be a gradient. Lookup order for each expert of each tensor: the
//     source's parameters (in the models: syntax the model's own), matched
//     against the source's tensor name; then the slice's, then the top
//     level's, matched against the output tensor's name; then the method's
//     default. A conditional list without a match gives nothing at its
//     level. A required parameter (weight of linear and the task-vector
//     methods, t of slerp) that no level gives is an error naming the
//     parameter, the model and the tensor.
//   - A numeric gradient is interpolated linearly at t ∈ [0, 1]; a list of
//     booleans or strings gives element int(t·(n − 1)). Layer i of a slice
//     of L layers has t = i ÷ (L − 1) (1 when L = 1), restarting in every
//     slice. Tensors outside the layers have t = 0: those before the layers
//     (embeddings) come from the first slice's sources with its parameters,
//     those after them (final norm, LM head) from the last slice's.
//   - Layers are recognised from config.json (architectures, else
//     model_type): Llama, Mistral and Qwen2 as model.layers.{i}., GPT-2 as
//     transformer.h.{i}. or h.{i}., the count from num_hidden_layers or
//     n_layer. Other models, and files without config.json, are recognised
//     by the first of a few common templates their names use, the count
//     taken from the names. The output's names follow the model config.json
//     comes from (the base, else the first model), and its config.json is
//     that model's with the new layer count.
//   - dtype and out_dtype: the output dtype is out_dtype, else dtype, else
//     each tensor's dtype in the base (the first source without base).
//   - A model reference that is not an existing path is looked up in the
//     local Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
//     ~/.cache/huggingface/hub): models--ORG--NAME/snapshots/<commit>,
//     ORG/NAME@REV choosing a commit or ref, else the commit refs/main
//     names. Nothing is downloaded.
//
// Run writes the weights, mergescale_config.yaml (a recipe Load accepts,
// reproducing the merge), merge_stats.json, merge_plan.jsonl (one JSON line
// per output tensor: sources, slice, layer, t and every resolved
// parameter) and the config and tokenizer files.
//
// # Deliberate differences from mergekit
//
//   - Computation is float32 whatever dtype says (mergekit computes in
//     dtype); dtype only chooses the output dtype when out_dtype is unset.
//     int8_mask is accepted and ignored.
//   - Method-wide parameters (lambda, normalize, rescale, rescale_mode,
//     trim_scope, t) may also be set per model; they are used when every
//     expert of a tensor resolves them alike, and differing values are an
//     error. mergekit reads them from the slice and top level only and
//     ignores a model's.
//   - Which tensors lie before or after the layers is decided by name
//     (embed, wte, wpe before; everything else after), not by a
//     per-architecture list, and every tensor of the reference model is
//     written, including those a mergekit architecture file does not name
//     (mergekit drops them). Non-float tensors are copied from the slice's
//     base, else its first source.
//   - Gradient lists must hold one type: mergekit would interpolate a list
//     mixing numbers and booleans (Python booleans are numbers).
//   - A model listed twice in one slice is an error (mergekit keys a
//     slice's tensors by model, so one would shadow the other).
//   - tokenizer_source: base copies the base's tokenizer files without
//     rebuilding the vocabulary; tokenizer_source: <model> copies that
//     model's files and needs every input's vocabulary (tokenizer.json,
//     vocab.json or tokenizer.model) to equal it, since mergekit would
//     permute embedding rows; otherwise the merge fails with "not supported
//     yet: tokenizer_source with differing vocabularies". union, the
//     tokenizer: block and chat_template are not supported yet.
//   - Not supported yet (each an error saying so): modules:, per-slice
//     base_model and residual_weight, model+lora references, downloading
//     from the hub.
//   - config.json is copied and only its layer count rewritten in place
//     (mergekit re-serializes it through transformers).
//   - trim_scope: global (an extension: TIES over the whole task vector)
//     needs the models: syntax and a density that does not vary by tensor.
//   - The diagnostics (merge_stats.json) count expert i of the merge as the
//     i-th expert of each tensor's slice.
//
// The merge methods' own differences from mergekit are listed in package
// merge.
package mergefile
