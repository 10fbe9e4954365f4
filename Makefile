# The two commands a newcomer needs are `make demo` and `make test`; each bootstraps first, so
# either works on a fresh Debian machine. Everything else here serves those two.
BUILD      ?= build
SAN_BUILD  ?= build-asan
TSAN_BUILD ?= build-tsan
GCC_BUILD  ?= build-gcc
DEB_OUT    ?= build-deb
JOBS       ?= 2
CMAKE_GEN  := -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
CTEST_ARGS ?=

.PHONY: all bootstrap build build-san build-tsan build-gcc test bench lint demo clean deb

all: build

bootstrap:
	@scripts/bootstrap

build-san: bootstrap
	@cmake -S . -B $(SAN_BUILD) $(CMAKE_GEN) -DANYLB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

# ThreadSanitizer: only the concurrency tests (a few seconds to build).
build-tsan: bootstrap
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DANYLB_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)

# Debian 12's default compiler (GCC 12, what dh_auto_build uses), Release as a packager builds:
# the unit tests (target unit_tests, which the default tree's ctest runs: label gcc), anylbd and
# anylbctl, with -Werror.
build-gcc: bootstrap
	@cmake -S . -B $(GCC_BUILD) -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
	  -DCMAKE_BUILD_TYPE=Release -DANYLB_WERROR=ON >/dev/null
	@cmake --build $(GCC_BUILD) -j $(JOBS) --target unit_tests anylbd anylbctl

build: bootstrap
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DANYLB_SANITIZE_DIR=$(abspath $(SAN_BUILD)) \
	  -DANYLB_TSAN_DIR=$(abspath $(TSAN_BUILD)) -DANYLB_GCC_DIR=$(abspath $(GCC_BUILD)) \
	  -DANYLB_DEB_DIR=$(abspath $(DEB_OUT)) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Every test: unit (plain, under ASan+UBSan, under GCC 12, the concurrency ones under TSan),
# fuzz smoke, integration, kernel-module and package suites. `make test CTEST_ARGS="-L unit"` runs a subset;
# `-LE slow` skips the slow labels.
test: build-san build-tsan build-gcc build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@scripts/bench

lint: bootstrap build
	@scripts/lint

demo: build
	@tools/demo

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(GCC_BUILD) $(DEB_OUT)

# The Debian packages anylb and anylb-toa-dkms (dpkg-buildpackage -us -uc -b, then lintian),
# in $(DEB_OUT)/. docs/operations.md says how to install them.
deb: bootstrap
	@scripts/deb $(DEB_OUT)

# The Ansible roles (ansible/) applied for real to debootstrapped Debian 12 chroots, checked
# inside, and run twice (the second run must change nothing). Needs root; caches the root
# file systems in /var/cache/anylb-ansible. Not part of `make test` yet.
.PHONY: test-ansible
test-ansible: build
	@tests/ansible/run.sh $(BUILD)
