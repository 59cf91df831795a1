# Front door. `make check` and `make demo` install missing Debian packages
# themselves (scripts/install-deps.sh), then build with CMake.
BUILD       ?= build
CHECK_BUILD ?= build-check
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 10
DEMO_CLIENTS ?= 10
# ccache, when installed, makes rebuilds cheap; nothing needs it.
LAUNCHER    := $(if $(shell command -v ccache 2>/dev/null),-DCMAKE_C_COMPILER_LAUNCHER=ccache)

.PHONY: all deps build check demo demo-foundation bench install clean format

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

# The test command: everything under ASan+UBSan, each fuzz target briefly;
# warnings are errors here (VMESH_WERROR), not in user builds.
check: deps
	cmake -S . -B $(CHECK_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DVMESH_WERROR=ON \
	      -DVMESH_SANITIZE=ON -DVMESH_FUZZ=ON -DVMESH_FUZZ_SECONDS=$(FUZZ_SECONDS) $(LAUNCHER)
	cmake --build $(CHECK_BUILD) -j$(JOBS)
	cd $(CHECK_BUILD) && ctest --output-on-failure -j$(JOBS)

# The SASE scenario on this machine (vmesh demo sase --help); DEMO_ARGS adds
# options, e.g. make demo DEMO_ARGS=--netns. Builds only what the demo runs:
# the vmesh command.
demo: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS) --target vmesh
	$(BUILD)/src/cli/vmesh demo sase --clients $(DEMO_CLIENTS) $(DEMO_ARGS)

# The first slice: attest, appraise, verify an EAR with the CLI alone.
demo-foundation: build
	bash scripts/demo.sh $(BUILD)/src/cli/vmesh

bench: build
	bash bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(CHECK_BUILD)
