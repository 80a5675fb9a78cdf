# Conveniences over the scripts the README names; the scripts work without make.
.PHONY: setup demo test lint typecheck bench stack-start stack-stop

setup:
	./scripts/setup.sh

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

lint:
	.venv/bin/ruff check include dags tests bench scripts devservices

typecheck:
	.venv/bin/mypy

bench:
	.venv/bin/python bench/sync.py
	.venv/bin/python bench/upsert.py
	.venv/bin/python bench/rotate.py
	.venv/bin/python bench/export.py
	.venv/bin/python bench/parse_logs.py

stack-start:
	./scripts/stack.sh start

stack-stop:
	./scripts/stack.sh stop
