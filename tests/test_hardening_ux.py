"""Usage mistakes a demanding user makes, each answered by one `error:` line, a hint that names what to do, and
the documented exit code: a checkpoint asked for a head it lacks says what it is for (a CLIP checkpoint classifies
zero-shot), column options that do not fit the model's inputs are refused before any row runs, a file of the
wrong kind where a text or a path goes is named as such, and `inspect` counts heads tied to the embeddings."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error, run_script
from tests.fx_clip import clip_checkpoints, vision_images  # noqa: F401
from tests.fx_vision import vision_checkpoints  # noqa: F401


def _record_errors(res) -> list[dict]:
    return [r["error"] for r in res.jsonl() if "error" in r]


# --- a checkpoint asked for a head it lacks says what it is for ------------------------------------

@pytest.mark.parametrize("name", ["clip", "clip-legacy-eos"])
def test_clip_without_labels_says_it_classifies_zero_shot(cli, clip_checkpoints, vision_images, name):
    res = cli(["classify", clip_checkpoints[name], vision_images["jpeg"]])
    assert_one_line_error(res, 5)
    assert "zero-shot" in res.stderr and '--labels "cat,dog"' in res.stderr, res.stderr


def test_clip_without_labels_in_a_real_process(script, clip_checkpoints, vision_images):
    res = script(["classify", clip_checkpoints["clip"], vision_images["jpeg"]])
    assert_one_line_error(res, 5)
    assert "zero-shot" in res.stderr and "--labels" in res.stderr and res.stdout == ""


def test_an_image_classifier_given_labels_says_it_classifies_with_its_own(cli, clip_checkpoints, vision_images):
    """CLIPForImageClassification has no text tower: zero-shot labels cannot be scored, its own labels can."""
    res = cli(["classify", clip_checkpoints["clip-cls"], vision_images["jpeg"], "--labels", "a cat,a dog"])
    assert_one_line_error(res, 4)
    assert "classifies images" in res.stderr and f"autocli classify {clip_checkpoints['clip-cls']} IMAGE" in res.stderr
    res = cli(["embed", clip_checkpoints["clip-cls"], vision_images["jpeg"]])
    assert_one_line_error(res, 4)
    assert "classifies images" in res.stderr


def test_a_speech_model_asked_to_classify_says_it_transcribes(cli, whisper_ckpt, tmp_path):
    from tests.fx_audio import write_audio

    res = cli(["classify", whisper_ckpt, write_audio(tmp_path / "a.wav")])
    assert_one_line_error(res, 5)
    assert "transcribes speech" in res.stderr and "autocli transcribe" in res.stderr


def test_a_text_classifier_asked_to_tag_says_it_classifies(cli, tiny_checkpoints):
    res = cli(["tag", tiny_checkpoints[("bert", "sequence-classification")], "Ada was here."])
    assert_one_line_error(res, 5)
    assert "classifies texts" in res.stderr and "autocli classify" in res.stderr and "--allow-random-head" in res.stderr


def test_a_head_less_checkpoint_keeps_the_plain_refusal(cli, tiny_checkpoints):
    res = cli(["classify", tiny_checkpoints[("bert", "base")], "a text"])
    assert_one_line_error(res, 5)
    assert "pick a checkpoint fine-tuned for sequence-classification" in res.stderr


# --- image-text usage mistakes ----------------------------------------------------------------------

def test_clip_embed_of_a_text_without_text_flag_points_at_it(cli, clip_checkpoints):
    res = cli(["embed", clip_checkpoints["clip"], "a cat on a mat", "--format", "jsonl"])
    assert res.exit_code == 7
    [err] = _record_errors(res)
    assert "reads image files here, not text" in err["message"] and "embed --text" in err["hint"]


def test_clip_embed_text_of_an_image_path_is_refused(cli, clip_checkpoints, vision_images):
    res = cli(["embed", clip_checkpoints["clip"], "--text", vision_images["jpeg"], "a cat", "--format", "jsonl"])
    assert res.exit_code == 7
    recs = res.jsonl()
    assert "is an image file" in recs[0]["error"]["message"] and "embedding" in recs[1]


# --- wrong-modality inputs ---------------------------------------------------------------------------

def test_an_image_file_given_to_a_text_model_is_its_own_error_record(cli, tiny_checkpoints, vision_images, tmp_path):
    from tests.fx_audio import write_audio

    model = tiny_checkpoints[("bert", "sequence-classification")]
    res = cli(["classify", model, vision_images["jpeg"], "a plain text", write_audio(tmp_path / "a.wav"), "--format", "jsonl"])
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2]
    assert "is an image file" in recs[0]["error"]["message"] and "label" in recs[1]
    assert "is an audio file" in recs[2]["error"]["message"]


def test_a_text_given_to_an_image_model_says_it_reads_files(cli, vision_checkpoints, tmp_path):
    res = cli(["classify", vision_checkpoints["vit-cls"], "a sunny beach", tmp_path / "gone.png", "--format", "jsonl"])
    assert res.exit_code == 7
    first, second = _record_errors(res)
    assert "reads image files here, not text" in first["message"] and first["hint"] == "pass the paths of image files"
    assert second["message"].endswith("no such file") and second["hint"] == "check the path"


def test_a_directory_given_to_an_audio_model_is_named(cli, audio_root, tmp_path):
    from tests.fx_audio import build_audio_checkpoint

    res = cli(["classify", build_audio_checkpoint(audio_root, "wav2vec2", "audio-classification"), tmp_path, "--format", "jsonl"])
    assert res.exit_code == 7
    [err] = _record_errors(res)
    assert "is a directory, not an audio file" in err["message"]


@pytest.mark.parametrize("name, what", [("jpeg", "a JPEG image"), ("png_rgba", "a PNG image")])
def test_an_image_as_input_file_is_refused_whole(cli, tiny_checkpoints, vision_images, name, what):
    res = cli(["classify", tiny_checkpoints[("bert", "sequence-classification")], "--input", vision_images[name]])
    assert_one_line_error(res, 2)
    assert what in res.stderr and "pass the file's path as an argument" in res.stderr


def test_a_parquet_file_as_input_points_at_the_engine(cli, tiny_checkpoints, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "rows.parquet")
    res = cli(["classify", tiny_checkpoints[("bert", "sequence-classification")], "--input", tmp_path / "rows.parquet"])
    assert_one_line_error(res, 2)
    assert "Parquet" in res.stderr and "--output DIR" in res.stderr


def test_an_image_piped_to_stdin_is_refused_in_a_real_process(script, vision_checkpoints, vision_images):
    res = script(["classify", vision_checkpoints["vit-cls"]], input=vision_images["jpeg"].read_bytes())
    assert_one_line_error(res, 2)
    assert "stdin is a JPEG image" in res.stderr and res.stdout == ""


def test_text_lines_and_an_empty_stdin_still_work(cli, tiny_checkpoints):
    model = tiny_checkpoints[("bert", "sequence-classification")]
    ok = cli(["classify", model, "--format", "jsonl"], input="RIFF is a word\nGIF8 too\n")
    assert ok.exit_code == 0 and len(ok.jsonl()) == 2
    assert_one_line_error(cli(["classify", model], input=""), 2)


def test_generate_refuses_an_image_path_as_a_prompt(cli, decoder_root, vision_images):
    from tests.fx_decoders import build_decoder

    model = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["generate", model, vision_images["jpeg"], "--max-new-tokens", "2", "--format", "jsonl"])
    assert res.exit_code == 7
    assert "is an image file" in res.jsonl()[0]["error"]["message"]


# --- column options against the model's inputs --------------------------------------------------------

@pytest.fixture
def listing(tmp_path, vision_images):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": ["good", "bad"], "path": [str(vision_images["jpeg"]), str(vision_images["gray"])]}), path)
    return path


def _job(cli, model, listing, out, *options):
    return cli(["classify", model, "--input", listing, "--output", out, "--format", "jsonl", *options])


@pytest.mark.parametrize("option, column, says", [
    ("--image-column", "path", "reads texts, not image files"),
    ("--audio-column", "path", "reads texts, not audio files"),
])
def test_a_media_column_for_a_text_model_is_one_usage_error(cli, tiny_checkpoints, listing, tmp_path, option, column, says):
    res = _job(cli, tiny_checkpoints[("bert", "sequence-classification")], listing, tmp_path / "out", option, column)
    assert_one_line_error(res, 2)
    assert says in res.stderr and "(bert)" in res.stderr and "--text-column NAME" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_text_column_for_an_image_model_is_one_usage_error(cli, vision_checkpoints, listing, tmp_path):
    res = _job(cli, vision_checkpoints["vit-cls"], listing, tmp_path / "out", "--text-column", "body")
    assert_one_line_error(res, 2)
    assert "(vit) reads image files, not texts" in res.stderr and "--image-column NAME" in res.stderr


def test_an_image_model_over_a_listing_without_image_column(cli, vision_checkpoints, listing, tmp_path):
    res = _job(cli, vision_checkpoints["vit-cls"], listing, tmp_path / "out")
    assert_one_line_error(res, 2)
    assert "no 'image' column" in res.stderr and "--image-column NAME (its columns: body, path)" in res.stderr
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(json.dumps({"body": "good", "path": "x.jpg"}) + "\n")
    res = _job(cli, vision_checkpoints["vit-cls"], jsonl, tmp_path / "out2", "--jsonl")
    assert_one_line_error(res, 2)
    assert "--image-column NAME" in res.stderr


def test_a_text_model_over_a_listing_without_text_column(cli, tiny_checkpoints, listing, tmp_path):
    res = _job(cli, tiny_checkpoints[("bert", "sequence-classification")], listing, tmp_path / "out")
    assert_one_line_error(res, 2)
    assert "no 'text' column" in res.stderr and "--text-column NAME" in res.stderr


def test_the_right_columns_still_run(cli, vision_checkpoints, tiny_checkpoints, listing, tmp_path):
    from tests.fx_engine import read_output

    res = _job(cli, vision_checkpoints["vit-cls"], listing, tmp_path / "img", "--image-column", "path")
    assert res.exit_code == 0, res.stderr
    assert len(read_output(tmp_path / "img")) == 2
    res = _job(cli, tiny_checkpoints[("bert", "sequence-classification")], listing, tmp_path / "txt", "--text-column", "body")
    assert res.exit_code == 0, res.stderr


def test_a_wrong_column_in_a_real_process(script, tiny_checkpoints, listing, tmp_path):
    res = script(["classify", tiny_checkpoints[("bert", "sequence-classification")], "--input", listing, "--image-column", "path",
                  "--output", tmp_path / "out"])
    assert_one_line_error(res, 2)
    assert "reads texts, not image files" in res.stderr


# --- inspect: heads tied to the embeddings are in the weights ------------------------------------------

def _tied_checkpoint(kind: str, request):
    """A checkpoint saved by transformers whose head is (or is not) tied to its embeddings."""
    if kind == "whisper":
        return request.getfixturevalue("whisper_ckpt")
    if kind == "whisper-base":
        from tests.fx_whisper import build_whisper

        return build_whisper(request.getfixturevalue("whisper_root"), "base")
    if kind in ("gpt2", "llama", "llama-tied-bias"):
        from tests.fx_decoders import build_decoder

        return build_decoder(request.getfixturevalue("decoder_root"), kind, "causal-lm")
    if kind in ("t5", "t5-v1_1", "bart"):
        from tests.fx_seq2seq import build_seq2seq

        return build_seq2seq(request.getfixturevalue("seq2seq_root"), kind, "seq2seq-lm")
    family, task = kind.split(":")
    return request.getfixturevalue("tiny_checkpoints")[(family, task)]


@pytest.mark.parametrize("kind, head", [
    ("whisper", "speech-seq2seq"), ("whisper-base", "speech-seq2seq"), ("gpt2", "causal-lm"), ("llama", "causal-lm"),
    ("llama-tied-bias", "causal-lm"), ("t5", "seq2seq-lm"), ("t5-v1_1", "seq2seq-lm"), ("bart", "seq2seq-lm"),
    ("bert:masked-lm", "masked-lm"), ("bert:base", None),
])
def test_inspect_heads_are_the_heads_the_loader_accepts(cli, request, kind, head):
    """heads_in_weights lists a task exactly when its model loads without --allow-random-head: a head tied to the
    embeddings (Whisper's proj_out, GPT-2's and T5's lm_head) is there, BERT's tied decoder alone is not."""
    from autocli import registry
    from autocli.errors import AutocliError
    from autocli.models import load_model_from_dir

    folder = _tied_checkpoint(kind, request)
    res = cli(["inspect", folder, "--json"])
    assert res.exit_code == 0, res.stderr
    shown = set(res.json()["heads_in_weights"])
    if head is not None:
        assert head in shown
    fam = registry.family(json.loads((folder / "config.json").read_text())["model_type"])
    loads = set()
    for task in fam.heads:
        if task in fam.not_run:
            continue
        try:
            load_model_from_dir(folder, task)
        except AutocliError:
            continue
        loads.add(task)
    assert shown == loads


# --- a command for the other modality ------------------------------------------------------------------

def test_a_text_command_on_an_image_model_names_the_task_not_a_flag(cli, vision_checkpoints):
    """qa passes its own --max-length default: the refusal is about the task, with what the checkpoint is for."""
    model = vision_checkpoints["vit-cls"]
    res = cli(["qa", model, "--question", "Who?", "--context", "Ada."])
    assert_one_line_error(res, 5)
    assert "no question-answering head" in res.stderr and "--max-length" not in res.stderr
    assert f"classifies images: autocli classify {model} IMAGE" in res.stderr


@pytest.mark.parametrize("command, says", [
    (["tokenize", "vit", "hello"], "(vit) reads image files, not text: it has no tokenizer"),
    (["preprocess", "bert", "photo"], "(bert) reads text, not image or audio files"),
])
def test_tokenize_an_image_model_or_preprocess_a_text_model(tiny_checkpoints, vision_checkpoints, vision_images, command, says):
    """Torch-free, one error line, exit 5 (what `inspect`/`tokenize`/`preprocess` promise)."""
    from tests.test_cli import _modules_after

    folders = {"vit": vision_checkpoints["vit-cls"], "bert": tiny_checkpoints[("bert", "sequence-classification")]}
    name, model, arg = command
    res = run_script([name, folders[model], str(vision_images["jpeg"]) if arg == "photo" else arg])
    assert_one_line_error(res, 5)
    assert says in res.stderr
    assert _modules_after([name, str(folders[model]), arg]) == "NO-TORCH 5"


def test_generate_on_an_audio_model_says_it_reads_audio(cli, audio_root):
    from tests.fx_audio import build_audio_checkpoint

    res = cli(["generate", build_audio_checkpoint(audio_root, "wav2vec2", "ctc"), "hello"])
    assert_one_line_error(res, 5)
    assert "(wav2vec2) reads audio files, not text" in res.stderr


def test_a_utf16_input_file_is_refused_with_the_conversion(cli, tiny_checkpoints, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes("first\nsecond\n".encode("utf-16"))
    res = cli(["classify", tiny_checkpoints[("bert", "sequence-classification")], "--input", path])
    assert_one_line_error(res, 2)
    assert "is UTF-16 text" in res.stderr and "iconv" in res.stderr


def test_an_audio_model_over_a_csv_without_audio_column(cli, audio_root, tmp_path):
    from tests.fx_audio import build_audio_checkpoint

    listing = tmp_path / "clips.csv"
    listing.write_text("file,speaker\na.wav,s1\n")
    model = build_audio_checkpoint(audio_root, "wav2vec2", "ctc")
    res = cli(["transcribe", model, "--input", listing, "--output", tmp_path / "out"])
    assert_one_line_error(res, 2)
    assert f"{listing} has no 'audio' column" in res.stderr and "--audio-column NAME (its columns: file, speaker)" in res.stderr


def test_eval_of_a_directory_says_so(cli, tiny_checkpoints, tmp_path):
    res = cli(["eval", tiny_checkpoints[("bert", "sequence-classification")], tmp_path])
    assert_one_line_error(res, 2)
    assert f"{tmp_path} is a directory, not a data file" in res.stderr


def test_similar_against_an_image_reads_texts_not_more_images(cli, clip_checkpoints, vision_images):
    res = cli(["similar", clip_checkpoints["clip"], "--image", vision_images["jpeg"], vision_images["gray"], "a cat", "--format", "jsonl"])
    assert res.exit_code == 7
    [err] = _record_errors(res)
    assert f"{vision_images['gray']} is an image file" in err["message"]
    assert sum("score" in r for r in res.jsonl()) == 1
