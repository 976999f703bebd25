"""CLIP: the processor against transformers' CLIPProcessor (pixels <= 1e-6 on every image format, ids exact), the
model rows against transformers' CLIPModel / CLIPForImageClassification (<= 1e-4), zero-shot classification
against transformers' zero-shot-image-classification pipeline (labels and scores <= 1e-4), and `classify
--labels`, `embed` (images and --text) and `similar` through the console script."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from autocli.models import load_model_from_dir
from autocli.preprocess import load_processor
from autocli.preprocess.clip import CLIPProcessor
from autocli.preprocess.image import CLIPImageProcessor
from tests.fx_clip import clip_checkpoints, oracle_pipeline, vision_images  # noqa: F401

LABELS = ["a cat", "a dog", "a car", "a bird on a tree"]
TEXTS = ["a cat", "This is a photo of a dog running.", "Café crème, naïve!", "x"]


def _processor(folder):
    from autocli.checkpoint import Checkpoint

    ckpt = Checkpoint.resolve(str(folder))
    return load_processor(ckpt, ckpt.config().model_type)


def _oracle_processor(folder):
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPProcessor as Oracle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Oracle(CLIPImageProcessorPil.from_pretrained(str(folder)), AutoTokenizer.from_pretrained(str(folder)))


# --- the processor ---------------------------------------------------------------------------------

def test_processor_is_the_image_processor_and_the_tokenizer(clip_checkpoints):
    pre = _processor(clip_checkpoints["clip"])
    assert isinstance(pre, CLIPProcessor) and isinstance(pre.image_processor, CLIPImageProcessor)
    assert pre.input == "image" and pre.settings()["size"] == "shortest edge 36"
    assert any("center crop to 32x32" in s for s in pre.steps())


def test_pixel_values_equal_transformers_on_every_image(clip_checkpoints, vision_images):
    from transformers.image_utils import load_image

    folder = clip_checkpoints["clip"]
    pre, oracle = _processor(folder), _oracle_processor(folder)
    for name, path in vision_images.items():
        want = oracle(images=[load_image(str(path))], return_tensors="np")["pixel_values"]  # (1, 3, 32, 32)
        got = pre([pre.load(str(path))])["pixel_values"]
        assert got.shape == want.shape == (1, 3, 32, 32), name
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0, err_msg=name)


def test_text_ids_and_mask_equal_transformers(clip_checkpoints):
    folder = clip_checkpoints["clip"]
    got = _processor(folder).text(TEXTS)
    want = _oracle_processor(folder)(text=TEXTS, padding=True, return_tensors="np")
    np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
    np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])


# --- the model rows --------------------------------------------------------------------------------

def _pixels(seed: int = 0):
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name,task", [("clip", "base"), ("clip", "zero-shot-image-classification"),
                                       ("clip-legacy-eos", "base")])
def test_embeddings_equal_transformers(clip_checkpoints, name, task):
    from transformers import CLIPModel

    folder = clip_checkpoints[name]
    ours = load_model_from_dir(folder, task, device="cpu")
    oracle = CLIPModel.from_pretrained(str(folder)).eval()
    text = _oracle_processor(folder)(text=TEXTS, padding=True, return_tensors="pt")
    x = _pixels()
    with torch.no_grad():
        out = oracle(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=x)
        image = oracle.get_image_features(pixel_values=x)
        words = oracle.get_text_features(**text)
    image, words = getattr(image, "pooler_output", image), getattr(words, "pooler_output", words)
    got_image, got_words = ours(pixel_values=x.numpy()), ours(text["input_ids"], text["attention_mask"])
    torch.testing.assert_close(got_image, image, atol=1e-4, rtol=0)
    torch.testing.assert_close(got_words, words, atol=1e-4, rtol=0)
    scale = ours.module.logit_scale.exp()
    logits = scale * torch.nn.functional.normalize(got_image, dim=-1) @ torch.nn.functional.normalize(got_words, dim=-1).T
    torch.testing.assert_close(logits, out.logits_per_image, atol=1e-4, rtol=0)


def test_image_classification_equals_transformers(clip_checkpoints):
    from transformers import CLIPForImageClassification

    folder = clip_checkpoints["clip-cls"]
    ours = load_model_from_dir(folder, "image-classification", device="cpu")
    oracle = CLIPForImageClassification.from_pretrained(str(folder)).eval()
    x = _pixels(1)
    with torch.no_grad():
        torch.testing.assert_close(ours(pixel_values=x), oracle(pixel_values=x).logits, atol=1e-4, rtol=0)


def test_a_model_checkpoint_has_no_classifier_and_a_classifier_no_text_tower(clip_checkpoints):
    from autocli.errors import AutocliError

    with pytest.raises(AutocliError):
        load_model_from_dir(clip_checkpoints["clip"], "image-classification", device="cpu")
    with pytest.raises(AutocliError, match="backbone weight"):
        load_model_from_dir(clip_checkpoints["clip-cls"], "zero-shot-image-classification", device="cpu")


# --- zero-shot: the pipeline -----------------------------------------------------------------------

def _zero_shot(folder, paths, labels, template, batch_size=2):
    from autocli.inputs import Item
    from autocli.tasks.zero_shot import ZeroShotOptions, zero_shot

    model = load_model_from_dir(folder, "zero-shot-image-classification", device="cpu")
    items = [Item(i, {"image": str(p)}) for i, p in enumerate(paths)]
    return list(zero_shot(model, _processor(folder), items, labels, template, ZeroShotOptions(batch_size, quiet=True)))


@pytest.mark.parametrize("name,template", [("clip", "This is a photo of {}."), ("clip-legacy-eos", "{}")])
def test_zero_shot_equals_the_pipeline(clip_checkpoints, vision_images, name, template):
    folder = clip_checkpoints[name]
    paths = list(vision_images.values())
    records = _zero_shot(folder, paths, LABELS, template)
    pipe = oracle_pipeline(folder)
    for rec, path in zip(records, paths):
        want = pipe(str(path), candidate_labels=LABELS, hypothesis_template=template)
        assert [s.label for s in rec.scores] == [w["label"] for w in want], path.name
        np.testing.assert_allclose([s.score for s in rec.scores], [w["score"] for w in want], atol=1e-4, rtol=0)
    assert max(s.score for r in records for s in r.scores) > 0.4  # 4 labels: uniform is 0.25; the scale makes the rows far from uniform


def test_label_texts_run_through_the_text_tower_once(clip_checkpoints, vision_images, monkeypatch):
    from autocli.models import clip

    calls = []
    real = clip.TextTransformer.pooled
    monkeypatch.setattr(clip.TextTransformer, "pooled", lambda self, *a: calls.append(a[0].shape) or real(self, *a))
    records = _zero_shot(clip_checkpoints["clip"], list(vision_images.values()), LABELS, "{}", batch_size=1)
    assert len(records) == len(vision_images) and sum(rows for rows, _ in calls) == len(LABELS)  # not per image


# --- the commands ----------------------------------------------------------------------------------

def _jsonl(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_classify_labels_through_the_console_script(script, clip_checkpoints, vision_images):
    folder = clip_checkpoints["clip"]
    paths = [vision_images["jpeg"], vision_images["png_rgba"]]
    r = script(["classify", folder, *paths, "--labels", ",".join(LABELS), "--batch-size", "1"])
    assert r.exit_code == 0, r.stderr
    pipe = oracle_pipeline(folder)
    for rec, path in zip(_jsonl(r), paths):
        want = pipe(str(path), candidate_labels=LABELS)
        assert rec["label"] == want[0]["label"] and len(rec["scores"]) == len(LABELS)
        assert rec["score"] == pytest.approx(want[0]["score"], abs=1e-4)
    r = script(["classify", folder, paths[0], "--labels", "cat,dog", "--template", "a {} photo", "--top-k", "1", "--logits"])
    rec = _jsonl(r)[0]
    assert r.exit_code == 0 and len(rec["scores"]) == 1 and len(rec["logits"]) == 2
    assert rec["score"] == pytest.approx(oracle_pipeline(folder)(str(paths[0]), candidate_labels=["cat", "dog"],
                                                                 hypothesis_template="a {} photo")[0]["score"], abs=1e-4)


def test_embed_images_and_texts_share_one_space(script, clip_checkpoints, vision_images):
    from transformers import CLIPModel

    folder = clip_checkpoints["clip"]
    image = _jsonl(script(["embed", folder, vision_images["jpeg"]]))[0]["embedding"]
    texts = _jsonl(script(["embed", folder, "--text", "a cat", "a dog", "--normalize"]))
    assert [len(t["embedding"]) for t in texts] == [24, 24] and len(image) == 24
    oracle, pre = CLIPModel.from_pretrained(str(folder)).eval(), _oracle_processor(folder)
    from transformers.image_utils import load_image

    inputs = pre(text=["a cat", "a dog"], images=[load_image(str(vision_images["jpeg"]))], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = oracle(**inputs)
    np.testing.assert_allclose([t["embedding"] for t in texts], out.text_embeds.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.array(image) / np.linalg.norm(image), out.image_embeds[0].numpy(), atol=1e-4, rtol=0)


def test_similar_ranks_a_folder_against_a_text_and_texts_against_an_image(script, clip_checkpoints, vision_images):
    folder = clip_checkpoints["clip"]
    images = vision_images["jpeg"].parent
    r = script(["similar", folder, "--text", "a cat", images, "--top-k", "3"])
    assert r.exit_code == 0, r.stderr
    ranked = _jsonl(r)
    assert [m["rank"] for m in ranked] == [1, 2, 3] and all(a["score"] >= b["score"] for a, b in zip(ranked, ranked[1:]))
    everything = _jsonl(script(["similar", folder, "--text", "a cat", images]))
    assert len(everything) == len(vision_images) and everything[:3] == ranked
    # the scores are the cosines of `embed`'s vectors
    text = np.array(_jsonl(script(["embed", folder, "--text", "a cat", "--normalize"]))[0]["embedding"])
    best = np.array(_jsonl(script(["embed", folder, ranked[0]["input"], "--normalize"]))[0]["embedding"])
    assert ranked[0]["score"] == pytest.approx(float(text @ best), abs=1e-4)
    r = script(["similar", folder, "--image", vision_images["jpeg"], "a cat", "a dog", "a car", "--format", "json"])
    texts = json.loads(r.stdout)
    assert r.exit_code == 0 and sorted(m["input"] for m in texts) == ["a car", "a cat", "a dog"]


def test_closed_pipe_is_not_an_error(script, clip_checkpoints, vision_images):
    paths = [str(vision_images["jpeg"])] * 40
    r = script(["classify", clip_checkpoints["clip"], *paths, "--labels", "a,b", "--batch-size", "2"], pipefail_head=1)
    assert r.exit_code == 0 and r.stderr == ""
