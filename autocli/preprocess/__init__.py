"""Preprocessors beside the tokenizer: preprocessor_config.json -> the image processor or feature extractor
it names, as transformers' AutoImageProcessor / AutoFeatureExtractor pick it. No torch here: a processor
turns decoded files into numpy arrays (`pixel_values`, `input_values`, `attention_mask`).

A processor class (autocli/preprocess/<module>.py) has:
  from_config(settings: dict, source: str) -> processor   refuses values it cannot honour (InvalidCheckpoint)
  input: str                                             "image" | "audio": what one input is
  load(path: str) -> raw                                 decodes one file; a bad file raises an AutocliError
  __call__(raws: list) -> {name: np.ndarray}             the model's inputs for a batch
  settings() -> dict, steps() -> list[str]               what inspect and `preprocess` show
and the module a NEEDS tuple of (library, extra): checked when the processor is loaded, so a missing optional
library stops the command once with the extra to install.
  batch_key(raw) (optional)                              inputs whose keys differ never share a batch
A combined processor (a family row's `combined`: CLIPProcessor, WhisperProcessor...) is a class in PROCESSORS
built as `Class(inner, tokenizer)` from the image processor or feature extractor above and the checkpoint's
tokenizer, as transformers' ProcessorMixin pairs them; it has the same methods.
"""

from __future__ import annotations

import importlib

from autocli import registry
from autocli.errors import InvalidCheckpoint, Unsupported
from autocli.extras import need

PREPROCESSOR_CONFIG = "preprocessor_config.json"
PROCESSOR_CONFIG = "processor_config.json"
# processor_config.json's keys for the part that is not the tokenizer
PROCESSOR_PARTS = ("image_processor", "feature_extractor")
MAX_CONFIG_BYTES = 1024 * 1024

# image_processor_type / feature_extractor_type -> "module:Class" under autocli.preprocess. transformers' own
# names, the older *FeatureExtractor names of image processors and the torchvision *Fast variants included.
PROCESSORS: dict[str, str] = {}
# speech: wav2vec2 and HuBERT checkpoints name the same extractor
PROCESSORS.update({"Wav2Vec2FeatureExtractor": "audio:Wav2Vec2FeatureExtractor"})
# speech to text: log-mel features, and the processor pairing them with the tokenizer
PROCESSORS.update({"WhisperFeatureExtractor": "whisper:WhisperFeatureExtractor", "WhisperProcessor": "whisper:WhisperProcessor"})
PROCESSORS.update({f"{family}{suffix}": f"image:{family}ImageProcessor" for family in ("ViT", "DeiT", "CLIP")
                   for suffix in ("ImageProcessor", "ImageProcessorFast", "ImageProcessorPil", "FeatureExtractor")})
# documents: the LayoutLM image processors, and the processors that pair them with the tokenizer
PROCESSORS.update({f"LayoutLM{v}{suffix}": f"layout:LayoutLM{v}ImageProcessor" for v in ("v2", "v3")
                   for suffix in ("ImageProcessor", "ImageProcessorFast", "ImageProcessorPil", "FeatureExtractor")})
PROCESSORS.update({f"LayoutLM{v}Processor": f"layout_processor:LayoutLM{v}Processor" for v in ("", "v2", "v3")})
# images and texts: the image processor and the tokenizer, paired
PROCESSORS.update({"CLIPProcessor": "clip:CLIPProcessor"})


def processor_type(settings: dict, model_type: str | None) -> str | None:
    """The class transformers would build: the config's own type, else the family's default."""
    for key in ("image_processor_type", "feature_extractor_type"):
        name = settings.get(key)
        if isinstance(name, str) and name:
            return name
    fam = registry.family(model_type) if model_type else None
    return fam.processor if fam is not None and fam.processor else None


def has_processor_settings(ckpt) -> bool:
    return ckpt.has(PREPROCESSOR_CONFIG) or ckpt.has(PROCESSOR_CONFIG)


def processor_settings(ckpt) -> dict:
    """preprocessor_config.json as a dict, or the image processor's / feature extractor's part of
    processor_config.json (where transformers 5 saves a processor's settings, nested per part); a clear error
    when the checkpoint has neither."""
    settings = ckpt.json(PREPROCESSOR_CONFIG, MAX_CONFIG_BYTES)
    source = PREPROCESSOR_CONFIG
    if settings is None:
        source = PROCESSOR_CONFIG
        combined = ckpt.json(PROCESSOR_CONFIG, MAX_CONFIG_BYTES)
        if combined is None:
            model_type = ckpt.config().model_type
            if registry.input_kind(model_type) == "text" and registry.family(model_type) is not None:
                raise Unsupported(f"{ckpt.name} ({model_type}) reads text, not image or audio files: it has no preprocessor",
                                  "autocli tokenize MODEL TEXT shows how it reads text")
            raise InvalidCheckpoint(f"{ckpt.name} has no {PREPROCESSOR_CONFIG}",
                                    "image and audio checkpoints ship one; copy it from the base model")
        if not isinstance(combined, dict):
            raise InvalidCheckpoint(f"{PROCESSOR_CONFIG} is not a JSON object", "fix the file")
        parts = [combined[k] for k in PROCESSOR_PARTS if k in combined]
        settings = parts[0] if parts else combined
    if not isinstance(settings, dict):
        raise InvalidCheckpoint(f"{source} is not a JSON object", "fix the file")
    return settings


def load_processor(ckpt, model_type: str | None = None):
    """The checkpoint's image processor or feature extractor, paired with its tokenizer when the family's row
    names a combined processor."""
    fam = registry.family(model_type) if model_type else None
    if fam is not None and fam.combined and not fam.processor:  # a tokenizer-side processor only (LayoutLM v1)
        from autocli.tokenizer import load_tokenizer

        return processor_class(fam.combined)(None, load_tokenizer(ckpt))
    settings = processor_settings(ckpt)
    name = processor_type(settings, model_type)
    if name is None:
        raise InvalidCheckpoint(f"{PREPROCESSOR_CONFIG} names no image_processor_type or feature_extractor_type",
                                "add the type transformers saves there, e.g. \"image_processor_type\": \"ViTImageProcessor\"")
    inner = processor_class(name).from_config(settings, PREPROCESSOR_CONFIG)
    if fam is None or not fam.combined:
        return inner
    from autocli.tokenizer import load_tokenizer

    return processor_class(fam.combined)(inner, load_tokenizer(ckpt))


def processor_class(name: str):
    """PROCESSORS[name]'s class; its module's optional libraries checked first, so a missing extra stops the
    command once, before any input."""
    target = PROCESSORS.get(name)
    if target is None:
        raise Unsupported(f"preprocessor {name!r} is not supported", f"supported: {', '.join(sorted(PROCESSORS))}")
    module, cls = target.split(":")
    mod = importlib.import_module(f"autocli.preprocess.{module}")
    for library, extra in getattr(mod, "NEEDS", ()):
        need(library, extra)
    return getattr(mod, cls)
