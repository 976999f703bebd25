"""Tokenizers without transformers: tokenizer.json, vocab.txt, vocab.json+merges.txt, SentencePiece models;
special tokens; chat templates.

The `tokenizers` library does the work. This package rebuilds what transformers' AutoTokenizer builds
from the same files, so ids match it:
- tokenizer.json is used as written; tokenizer_config.json's `added_tokens_decoder` and named special
  tokens are added on top (transformers does the same, which can change a token's lstrip/rstrip).
- vocab.txt alone is a BERT WordPiece tokenizer (do_lower_case, strip_accents, tokenize_chinese_chars).
- vocab.json + merges.txt is byte-level BPE: RoBERTa-style (<s> A </s></s> B </s>) when its special tokens
  are <s>/</s>, GPT-2-style (nothing added unless add_bos_token/add_eos_token) otherwise.
- a SentencePiece model alone is converted where a builder exists (spm.py).
Padding and truncation baked into tokenizer.json are switched off: callers ask for them per call.
No torch here; jinja2 is imported only to render a chat template.

Modules: files (file names, size-limited reads), formats (one builder per vocabulary format), spm,
specials (special and added tokens), chat (templates), wrapper (the Tokenizer), load (files -> Tokenizer).
"""

from autocli.tokenizer.chat import render_template
from autocli.tokenizer.files import (
    ADDED_TOKENS, CHAT_TEMPLATE_DIR, CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON, MERGES_TXT, NO_LIMIT, READS_HINT,
    ROLES, SENTENCEPIECE_FILES, SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG, TOKENIZER_JSON, VOCAB_FILES, VOCAB_JSON,
    VOCAB_TXT, max_length_of,
)
from autocli.tokenizer.load import load_tokenizer, load_tokenizer_from_dir
from autocli.tokenizer.wrapper import Encoded, Tokenizer, clean_up_tokenization

__all__ = [
    "ADDED_TOKENS", "CHAT_TEMPLATE_DIR", "CHAT_TEMPLATE_JINJA", "CHAT_TEMPLATE_JSON", "MERGES_TXT", "NO_LIMIT",
    "READS_HINT", "ROLES", "SENTENCEPIECE_FILES", "SPECIAL_TOKENS_MAP", "TOKENIZER_CONFIG", "TOKENIZER_JSON",
    "VOCAB_FILES", "VOCAB_JSON", "VOCAB_TXT", "Encoded", "Tokenizer", "clean_up_tokenization", "load_tokenizer",
    "load_tokenizer_from_dir", "max_length_of", "render_template",
]
