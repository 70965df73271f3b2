# The two commands of a fresh machine: `make demo` (main job) and `make test` (every test).
SHELL := /bin/bash
SWIFT_LCM_CACHE ?= $(HOME)/.cache/swift-lcm
PYTHON := $(SWIFT_LCM_CACHE)/py/bin/python
export SWIFT_LCM_PYTHON ?= $(PYTHON)

.PHONY: demo run test setup bench fixtures help-texts

setup:
	@scripts/setup.sh

# Main job on the built-in default: a short real distillation of the tiny teacher fixture on
# shards it generates, with before/after images (scripts/demo.sh).
demo: setup
	scripts/demo.sh

# The earlier main job's name: the same demo, after the op-level self test.
run: setup
	.build/release/lcm selftest
	scripts/demo.sh

test: setup
	swift build --build-tests
	swift test --skip-build

# Per-op overhead and matmul, Swift beside Python torch on this machine.
bench: setup
	scripts/bench_ops.sh

# Regenerates the committed parity fixtures (pinned versions in scripts/requirements-test.txt).
fixtures:
	$(PYTHON) scripts/fixtures/make_op_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_unet_fixtures.py Tests/Fixtures/unet
	$(PYTHON) scripts/fixtures/make_vae_clip_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_arch_keys.py Tests/Fixtures/arch
	$(PYTHON) scripts/fixtures/make_lora_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_clip_tokenizer_fixtures.py Tests/Fixtures/clip_tokenizer
	$(PYTHON) scripts/fixtures/make_scheduler_fixtures.py Tests/Fixtures/schedulers
	$(PYTHON) scripts/fixtures/make_pipeline_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_lcd_step_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_text_to_image_step_fixtures.py Tests/Fixtures
	$(PYTHON) scripts/fixtures/make_lr_fixtures.py Tests/Fixtures

# The launcher's help texts (Sources/LCMLauncher/HelpTexts.swift), after a change to any flag.
help-texts:
	swift build --product lcm-core
	.build/debug/lcm-core __dump-help-swift > Sources/LCMLauncher/HelpTexts.swift
