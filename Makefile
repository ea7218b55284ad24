# BMS firmware bench. Two commands for a newcomer: `make demo` and `make test`.
# Everything Python runs from the virtualenv in .venv (created on first use).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REFERENCE ?= tests/data/reference/chen2020-25c
OUT ?= out

CORE_SRC := $(wildcard native/src/*.c)
CORE_HDR := $(wildcard native/include/bms/*.h)
CFLAGS_STRICT := -std=c11 -O2 -Wall -Wextra -Wconversion -Wshadow -Wdouble-promotion \
                 -Wfloat-conversion -Wpedantic -Wcast-qual -Wstrict-prototypes -Werror \
                 -ffp-contract=off -Inative/include

.PHONY: all venv test demo demo-replay bench lint lint-c lint-py core-lib clean mutation

all: test

$(STAMP): setup.py pyproject.toml bms/_native_build.py $(CORE_SRC) $(CORE_HDR)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,mdf]'
	@touch $@

venv: $(STAMP)

test: $(STAMP) lint
	@mkdir -p build
	$(BIN)/python -m pytest -q --junitxml=build/junit.xml

# The main job: a 10 -> 80 % fast charge of a 96s pack, liquid-cooled NMC811/graphite beside
# the sulfide solid-state cell, firmware in the loop; summary, CSV log and plot in out/demo.
demo: $(STAMP)
	$(BIN)/bms simulate --scenario fastcharge-10-80 --chemistry nmc811-graphite \
		--chemistry sulfide-assb --out $(OUT)/demo

# The estimators alone on the PyBaMM reference logs: fit, replay, accuracy table and plot.
demo-replay: $(STAMP)
	@mkdir -p $(OUT)/replay
	$(BIN)/bms fit $(REFERENCE)/char.csv.gz -o $(OUT)/replay/cell.toml
	$(BIN)/bms replay $(REFERENCE)/valid.csv.gz --cell $(OUT)/replay/cell.toml \
		--truth $(REFERENCE)/truth.csv.gz -o $(OUT)/replay/est.csv

# PyBaMM (optional extra) gives the bench its physics-model reference column.
bench: $(STAMP)
	-$(BIN)/python -m pip install -q -e '.[pybamm]' || echo "PyBaMM unavailable: its column is skipped"
	$(BIN)/bms bench --data $(REFERENCE)

# --- static checks -----------------------------------------------------------
lint: lint-py lint-c

lint-py: $(STAMP)
	$(BIN)/ruff check bms tests
	$(BIN)/ruff format --check bms tests

build/core/libbmscore.a: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build/core
	@for f in $(CORE_SRC); do \
		gcc $(CFLAGS_STRICT) -c $$f -o build/core/$$(basename $$f .c).o || exit 1; \
	done
	ar rcs $@ build/core/*.o

core-lib: build/core/libbmscore.a

lint-c: build/core/libbmscore.a
	cppcheck --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem -Inative/include -q native/src
	@# the core must not link dynamic memory or stdio
	@nm -u build/core/*.o | awk '{print $$2}' | sort -u > build/core/undefined.txt; \
	nm --defined-only build/core/*.o | awk 'NF==3 {print $$3}' | sort -u > build/core/defined.txt; \
	ext=$$(comm -23 build/core/undefined.txt build/core/defined.txt); \
	bad=$$(echo "$$ext" | grep -E '^(malloc|calloc|realloc|free|printf|fprintf|sprintf|snprintf|puts|putchar|fputs|fwrite|exit|abort|exp|expf|log|logf|pow|powf|sqrt|sqrtf)$$' || true); \
	if [ -n "$$bad" ]; then echo "core links forbidden symbols: $$bad"; exit 1; fi; \
	echo "core links only: [$$(echo $$ext | tr '\n' ' ')] -- no malloc/free, no stdio, no libm"

clean:
	rm -rf build out *.egg-info bms/_native*.so bms/_native.c

# Mutation check of the safety / current-limit C code (not part of `make test`: ~minutes)
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation --jobs 2
