"""The Family row: every fact about a model_type's checkpoints, in one record."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    """Everything about a model_type's key names; compat, inspect and the loader all read these rows."""

    module: str  # autocli.models.<module>
    prefix: str  # backbone prefix inside head checkpoints ("bert" -> "bert.embeddings...")
    # task -> key prefixes (at the checkpoint's top level) that hold that head's trained weights;
    # "base" needs none. A task missing here is a head this architecture does not have.
    heads: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # config defaults a variant row sets
    # weight -> the embedding weight it *is* when config.tie_word_embeddings (overrides give the family's default),
    # full names as our modules spell them. The embedding may be a tuple of names, the first present one used
    # (BART keeps it as `model.shared`, or only under the decoder). A tied weight that is the whole of a head's
    # prefix (a causal LM's `lm_head.weight`) makes that head trained whenever the embeddings are there.
    tied: dict = field(default_factory=dict)
    # task -> task whose trained weights it runs (BART's fill-mask is its seq2seq LM, as in transformers)
    twins: dict = field(default_factory=dict)
    # checkpoint key prefix -> the prefix our modules use: older or alternative head names. The loader renames
    # them before anything else, so compat recognises a head exactly when the loader would.
    renames: dict = field(default_factory=dict)
    # task -> why autocli does not run a head transformers has (compat says so instead of "no such head").
    not_run: dict = field(default_factory=dict)
    kind: str = "encoder"  # encoder | decoder | seq2seq (text) | vision | audio
    # position ids start at pad_token_id + 1 (fairseq's make_positions): P positions hold P - pad - 1 tokens
    position_offset: bool = False
    # the image processor or feature extractor transformers builds when preprocessor_config.json names none
    processor: str = ""
    # the processor class transformers' AutoProcessor builds when the model reads two inputs (CLIPProcessor: the
    # image processor + the tokenizer); empty when the processor or tokenizer alone is all it needs
    combined: str = ""
