# convtransposed - build, test and run. `make run` and `make test` work on a fresh Debian
# bookworm: missing packages are installed first (see scripts/deps.sh).
CC ?= gcc
BUILD ?= build
SANITIZE ?=
OPT ?= -O2
OPENMP ?= -fopenmp
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) $(OPENMP) -MMD -MP $(SANITIZE)
# The layering, enforced by what each layer can include: compute/ sees only the public header
# (include/) and itself; api/ sees include/ and itself, not compute's internals; server/ sees
# the api too. Tests and benchmarks look inside every layer.
INCLUDES = -Iinclude -Icompute -Iapi -Iserver -Itests
$(BUILD)/obj/compute/%.o: INCLUDES = -Iinclude -Icompute
$(BUILD)/obj/api/%.o: INCLUDES = -Iinclude -Iapi
$(BUILD)/obj/server/%.o: INCLUDES = -Iinclude -Iapi -Iserver
KERNEL_FLAGS = -O3 -ffp-contract=fast
LDFLAGS_COMMON = $(OPENMP) $(SANITIZE)
LIBS = -lmicrohttpd -lgnutls -ljansson -lz -lpthread -lm

COMPUTE_SRC = $(wildcard compute/*.c compute/run/*.c compute/algo/*.c)
KERNEL_SRC = $(wildcard compute/kernels/*.c)
API_SRC = $(wildcard api/*.c)
SERVER_SRC = $(filter-out server/main.c,$(wildcard server/*.c server/handlers/*.c)) server/assets.S
TEST_SRC = $(wildcard tests/*.c tests/faults/test_*.c)

obj = $(patsubst %.S,$(BUILD)/obj/%.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(1)))
COMPUTE_OBJ = $(call obj,$(COMPUTE_SRC) $(KERNEL_SRC))
API_OBJ = $(call obj,$(API_SRC))
SERVER_OBJ = $(call obj,$(SERVER_SRC))

.PHONY: all deps run test asan bench clean docker-test bare-test fuzz fuzzers soak
all: $(BUILD)/convtransposed $(BUILD)/ctbench $(BUILD)/ctabi $(BUILD)/tests

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(INCLUDES) -c $< -o $@

# The served files (server/www/) are compiled in with .incbin.
$(BUILD)/obj/server/assets.o: server/assets.S server/www/openapi.json server/www/docs.html
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

# Kernels: one file per ISA, each compiled for its own instruction set; dispatch.c calls
# only what the CPU supports. The generic one uses the baseline x86-64 (or host) ISA.
ISA_FLAGS_generic =
# (F16C widens float16 weights: every AVX2 and AVX-512 CPU has it.)
ISA_FLAGS_avx2 = -mavx2 -mfma -mf16c
ISA_FLAGS_avx512 = -mavx512f -mfma -mf16c
ISA_FLAGS_avx512_ymm = -mavx512f -mavx512vl -mfma -mf16c
$(BUILD)/obj/compute/kernels/igemm_%.o: compute/kernels/igemm_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(INCLUDES) $(KERNEL_FLAGS) $(ISA_FLAGS_$*) -c $< -o $@

# Rebuilt from scratch: a member of a moved or deleted source must not linger.
$(BUILD)/libctcompute.a: $(COMPUTE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libctapi.a: $(API_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/convtransposed: $(call obj,server/main.c) $(SERVER_OBJ) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ $(LIBS) -o $@

$(BUILD)/ctbench: $(call obj,bench/ctbench.c bench/suite.c) $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ -lm -o $@

# Times two builds of the compute library against each other (bench/abi.sh makes them).
$(BUILD)/ctabi: $(call obj,bench/abi.c bench/suite.c) $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ -ldl -lm -o $@

$(BUILD)/ctpayload: $(call obj,bench/payload.c) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ $(LIBS) -lcurl -o $@

# Every float32 through the JSON formatter (bench/float_exhaustive.c; minutes, not in make test).
$(BUILD)/ctfloatcheck: $(call obj,bench/float_exhaustive.c) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ $(LIBS) -o $@

# The JSON number parser against strtof on 20M random numbers (bench/parse_check.c; seconds).
$(BUILD)/ctparsecheck: $(call obj,bench/parse_check.c) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) $^ $(LIBS) -o $@

# The machine's FMA peak (bench/fma_peak.c), to read the kernels' GFLOP/s against.
$(BUILD)/ctfmapeak: $(call obj,bench/fma_peak.c)
	$(CC) $(LDFLAGS_COMMON) $^ -o $@

$(BUILD)/ctsoak: $(call obj,bench/soak.c)
	$(CC) $(LDFLAGS_COMMON) $^ -lcurl -o $@

# 5 minutes of mixed traffic (not part of make test); SOAK_SECONDS to change.
soak:
	@bench/soak.sh $${SOAK_SECONDS:-300}

$(BUILD)/hello: $(call obj,bench/hello.c)
	$(CC) $(LDFLAGS_COMMON) $^ $(LIBS) -o $@

$(BUILD)/tests: $(call obj,$(TEST_SRC)) $(SERVER_OBJ) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a $(BUILD)/libctfault.so $(BUILD)/libctoom.so \
               $(BUILD)/libctclock.so
	$(CC) $(LDFLAGS_COMMON) $(filter-out %.so,$^) $(LIBS) -lcurl -o $@

# The fault-injection tests' LD_PRELOAD shim (a full disk under one folder); never sanitized:
# it is preloaded into the daemon, whatever the daemon was built with.
$(BUILD)/libctfault.so: tests/faults/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared $< -ldl -o $@
$(BUILD)/libctoom.so: tests/faults/oom_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared $< -o $@
$(BUILD)/libctclock.so: tests/faults/clock_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared $< -ldl -o $@

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/convtransposed
	$(BUILD)/convtransposed --port $${PORT:-8080}

# Every test: unit, differential, fixtures, integration over HTTP. Ends with "N passed, M failed".
test: deps
	@scripts/web-deps.sh
	@$(MAKE) --no-print-directory all
	@CT_DAEMON=$(BUILD)/convtransposed CT_BUILD=$(BUILD) $(BUILD)/tests

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	    SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" test

bench: $(BUILD)/ctbench
	$(BUILD)/ctbench ../shared/bench/suite.tsv

# libFuzzer harnesses (tests/fuzz/) for every parser and the compute validation, built with
# clang + ASan + UBSan (OpenMP off: the same code runs serially); each runs FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZERS = json_request npy multipart params oip raw layer
fuzz:
	@scripts/deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPENMP= OPT=-O1 \
	    SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-unknown-pragmas" fuzzers
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZERS)

fuzzers: $(patsubst %,$(BUILD)/fuzz_%,$(FUZZERS))
$(BUILD)/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(BUILD)/libctapi.a $(BUILD)/libctcompute.a
	$(CC) $(LDFLAGS_COMMON) -fsanitize=fuzzer $^ -ljansson -lm -o $@

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# The image built and run for real with buildah/podman (../shared/tools/oci); ends with "N passed, M failed".
docker-test:
	@docker/test.sh

# make test from a fresh clone in a bare debian:bookworm-slim (only make and git installed).
bare-test:
	@docker/bare-test.sh
