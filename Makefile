# indexmux: the two commands a newcomer needs.
#   make run   - install missing build dependencies, build, serve the embedded default config
#   make test  - install missing dependencies, build with -Werror, run every test (ctest)
# Other targets: make build, make asan (sanitizer build + tests), make fuzz, make bench, make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# Debian 12 packages the build and the tests need.
DEPS = build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev liblmdb-dev \
       libjansson-dev libssl-dev libcriterion-dev libxml2-dev zlib1g-dev python3 python3-venv \
       python3-pip python3-packaging curl ca-certificates
BENCH_DEPS = wrk hyperfine nginx-light clang libclang-rt-14-dev
FUZZ_DEPS  = clang libclang-rt-14-dev

.PHONY: all deps build run test asan fuzz bench clean

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

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	$(call ensure_pkgs,clang libclang-rt-14-dev)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DIMX_WERROR=ON \
	  -DIMX_SANITIZE="address;undefined" >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -LE fuzz

fuzz: deps
	$(call ensure_pkgs,$(FUZZ_DEPS))
	./tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: build
	$(call ensure_pkgs,$(BENCH_DEPS))
	./bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-tsan
