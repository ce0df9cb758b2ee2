# indexmux: the two commands a newcomer needs.
#   make run   - install missing build dependencies, build, serve the embedded default config
#   make test  - install missing dependencies, build with -Werror, run every test (ctest)
# Other targets: make build, make asan (sanitizer build + tests), make tsan, make fuzz, make bench, make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# Debian 12 packages the build and the tests need.
DEPS = build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev liblmdb-dev \
       libjansson-dev libssl-dev libcriterion-dev libxml2-dev zlib1g-dev python3 python3-venv \
       python3-pip python3-packaging python3-yaml curl ca-certificates
BENCH_DEPS = wrk hyperfine nginx-light clang libclang-rt-14-dev
FUZZ_DEPS  = clang libclang-rt-14-dev

.PHONY: all deps build run test asan asan-build tsan fuzz bench clean

all: build

# Install what is missing: with apt-get as root, otherwise print the line and stop.
define ensure_pkgs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing packages; run as root:"; \
	    echo "  apt-get update && apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call ensure_pkgs,$(DEPS))

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMX_WERROR=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/server/indexmux serve

# Sanitizer runs: any report fails the test. ASan/UBSan/LSan exit 86 (a
# crashing criterion test or an indexmux that does not exit 0 is a failure);
# allocator_may_return_null lets xmalloc's own abort() path run on huge sizes.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=86:allocator_may_return_null=1:strict_string_checks=1 \
          LSAN_OPTIONS=exitcode=86 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86
TSAN_REPORTS = $(abspath $(TSAN_BUILD))/tsan-reports
TSAN_ENV = TSAN_OPTIONS=halt_on_error=0:exitcode=66:second_deadlock_stack=1:log_path=$(TSAN_REPORTS)/tsan
# Which tests the ASan build runs inside `make test` (ctest arguments): all
# of them (unit, integration and the fuzz corpus replays).
ASAN_TESTS ?=

# `make test`: the -Werror build first, then the same suite built with clang
# and -fsanitize=address,undefined in $(ASAN_BUILD); ends with ctest's summary.
test: build asan-build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) $(ASAN_TESTS)

asan-build: deps
	$(call ensure_pkgs,clang libclang-rt-14-dev)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIMX_WERROR=ON \
	  -DIMX_SANITIZE="address;undefined" >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

asan: asan-build
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) $(ASAN_TESTS)

# ThreadSanitizer: only the binary (criterion does not run under TSan here),
# then the integration suite against it. A race report makes indexmux exit 66,
# and every report is also written under $(TSAN_REPORTS)/ and fails the run
# (this catches the tests that do not check indexmux's exit code).
tsan: deps
	$(call ensure_pkgs,clang libclang-rt-14-dev)
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIMX_WERROR=ON \
	  -DIMX_SANITIZE=thread >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target indexmux
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) -L integration; rc=$$?; \
	  if grep -l "ThreadSanitizer" $(TSAN_REPORTS)/* 2>/dev/null; then \
	    cat $(TSAN_REPORTS)/*; echo "ThreadSanitizer reports above (files in $(TSAN_REPORTS))"; exit 1; \
	  fi; exit $$rc

# `make fuzz [FUZZ_SECONDS=30]`: every libFuzzer target for FUZZ_SECONDS each.
fuzz: deps
	$(call ensure_pkgs,$(FUZZ_DEPS))
	./tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: build
	$(call ensure_pkgs,$(BENCH_DEPS))
	./bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-tsan
