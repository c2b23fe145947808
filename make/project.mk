# The targets of every projects/<name>/Makefile, which sets PROJECT and includes this file.
# Each target runs the monorepo's Invoke task of the same name from the repo root
# (docs/project-structure.md says why). Extra task options go in ARGS:
#   make train ARGS="--set train.epochs=2"
#   make predict INPUT=image OUTPUT=result
ifndef PROJECT
$(error set PROJECT (the folder name under projects/) before including project.mk)
endif
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
INVOKE := cd "$(ROOT)" && uv run invoke
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install train evaluate predict serve build deploy rollback test lint typecheck check requirements

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## install the workspace (every project, shared library, dev tools) from uv.lock
	cd "$(ROOT)" && uv sync --locked

train:  ## train, track in MLflow, register the model as challenger
	$(INVOKE) train --project=$(PROJECT) $(ARGS)

evaluate:  ## evaluate the registered model: metrics with 95% CIs, plots, all in MLflow
	$(INVOKE) evaluate --project=$(PROJECT) $(ARGS)

predict:  ## run the registered model on INPUT, write OUTPUT
	@test -n "$(INPUT)" -a -n "$(OUTPUT)" || { echo "usage: make predict INPUT=path OUTPUT=path"; exit 2; }
	$(INVOKE) predict --project=$(PROJECT) --input="$(abspath $(INPUT))" --output="$(abspath $(OUTPUT))" $(ARGS)

serve:  ## serve the registered model over HTTP (FastAPI)
	$(INVOKE) serve --project=$(PROJECT) $(ARGS)

build:  ## build the serve and train images (printed without a Docker engine) and print the manifests
	$(INVOKE) build --project=$(PROJECT) --env=$(or $(ENV),staging) $(ARGS)

deploy:  ## promote the challenger if it beats the champion (ENV=staging|production)
	$(INVOKE) deploy --project=$(PROJECT) --env=$(or $(ENV),staging) $(ARGS)

rollback:  ## point the champion alias back at the previous champion
	$(INVOKE) rollback --project=$(PROJECT) $(ARGS)

test:  ## this project's tests in a venv of its own locked dependencies (nox)
	$(INVOKE) test --project=$(PROJECT) $(ARGS)

lint:  ## ruff lint and format check
	$(INVOKE) lint --project=$(PROJECT)

typecheck:  ## mypy --strict
	$(INVOKE) typecheck --project=$(PROJECT)

check:  ## the standard-layout check of this project
	$(INVOKE) check --project=$(PROJECT)

requirements:  ## regenerate requirements.txt and requirements-dev.txt from uv.lock
	$(INVOKE) requirements --project=$(PROJECT)
