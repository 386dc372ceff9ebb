# weft: the two commands of the README, and a few more.
#
#   make demo      build and run the examples (the news twins first)
#   make test      build and run the test suite (SANITIZE=address|thread)
#   make bench     build and run the benchmarks (they print tables)
#   make install   PREFIX=/usr/local
#   make valgrind  the test suite under valgrind
#   make fuzz      build fuzz/*.c as libFuzzer targets, run each FUZZ_SECONDS
#   make analyze   scan-build and cppcheck over src/ (fails on a finding)
#   make coverage  line and branch coverage of src/ by the suite (lcov HTML
#                  in build-coverage/coverage, a table per module)
#   make soak      a mixed load for MINUTES (default 5) with RSS, descriptors
#                  and errors sampled; fails if they grow (tests/soak.c)
#   make faults    every allocation failing, every wait cancelled and every
#                  deadline expiring in turn (tests/faults; SANITIZE=address)
#
# Each target first installs the Debian packages it needs (as root), or
# prints the apt-get line to run.

PREFIX ?= /usr/local
SANITIZE ?=
WERROR ?= 0
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
TESTS ?=
LABELS ?=
CORO ?= auto
COVERAGE ?= 0

ifeq ($(SANITIZE),)
BUILD_DIR ?= build
else
BUILD_DIR ?= build-$(SANITIZE)
endif
ifneq ($(CORO),auto)
BUILD_DIR := $(BUILD_DIR)-$(CORO)
endif

# cmake --build runs make inside make: keep it from announcing directories.
export GNUMAKEFLAGS := --no-print-directory

CMAKE_ARGS = -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DWEFT_SANITIZE=$(SANITIZE) \
	-DWEFT_WERROR=$(if $(filter 1,$(WERROR)),ON,OFF) -DWEFT_CORO=$(CORO) \
	-DCMAKE_INSTALL_PREFIX=$(PREFIX) \
	-DWEFT_COVERAGE=$(if $(filter 1,$(COVERAGE)),ON,OFF)

.PHONY: all build demo test bench install valgrind fuzz faults soak analyze coverage clean

all: build

build:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

# The twins of the teaching page's last examples (what async is for), then
# its timer examples, shortened.
EX = $(BUILD_DIR)/examples
demo: build
	@echo "== get_news: how often a word appears in today's news, one source after"
	@echo "   another, then a task per source, gathered (an embedded API, 100-300 ms a request)"
	@$(EX)/get_news --both
	@echo
	@echo "== nba_stats --naive: every player at once; the picky API answers 429"
	@$(EX)/nba_stats --naive
	@echo
	@echo "== nba_stats --polite: a semaphore and the retry middleware (Retry-After)"
	@$(EX)/nba_stats --polite
	@echo
	@echo "== async_time: four tasks print the time at random intervals; shutdown after 1.5 s"
	@$(EX)/async_time 1 1.5 0.5
	@echo
	@echo "== gather: run several tasks at once, collect their results in order (0.1 s a step)"
	@$(EX)/gather 0.1
	@echo
	@echo "== async_executor: a blocking function on the loop stalls the small tasks (1.5 s)"
	@$(EX)/async_executor 1.5 0.5 0.5 1
	@echo
	@echo "== async_executor -e: the same function in the executor; the small tasks keep going (1.5 s)"
	@$(EX)/async_executor -e 1.5 0.5 0.5 1

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) \
		$(if $(TESTS),-R '$(TESTS)') $(if $(LABELS),-L '$(LABELS)')

valgrind:
	@scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory build BUILD_DIR=build-valgrind \
		BUILD_TYPE=Debug
	@# on epoll unless asked: memcheck models neither the kernel's writes
	@# through io_uring (uring.c marks them) nor signals that come while a
	@# thread waits in io_uring_enter (test_signal, test_loop time out)
	@cd build-valgrind && WEFT_TEST_VALGRIND=1 \
		WEFT_BACKEND=$${WEFT_BACKEND:-epoll} ctest --output-on-failure \
		-j$(JOBS) -L valgrind $(if $(TESTS),-R '$(TESTS)')

bench:
	@scripts/deps.sh bench
	@cmake -S . -B build $(CMAKE_ARGS) -DWEFT_BUILD_BENCH=ON >/dev/null
	@cmake --build build -j$(JOBS)
	@build/bench/run_all.sh build/bench

# Each fuzz/*.c is a libFuzzer target (clang, ASan + UBSan); fuzz/run.sh
# says what else it reads (FUZZ_RUNS, FUZZ_TARGETS, FUZZ_JOBS).
FUZZ_SECONDS ?= 10
fuzz:
	@scripts/deps.sh fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

# Every point of every scenario (ctest runs a stride of the large ones).
faults: build
	@for m in alloc cancel deadline; do \
		$(BUILD_DIR)/tests/faults -f -m $$m $(FAULTS_ARGS) || exit 1; done

MINUTES ?= 5
soak: build
	@$(BUILD_DIR)/tests/soak -m $(MINUTES) $(SOAK_ARGS)

analyze:
	@scripts/deps.sh analyze
	@JOBS=$(JOBS) scripts/analyze.sh

# The suite with gcov counters, then the report (tests that fail still
# count what they ran).
coverage:
	@scripts/deps.sh coverage
	@$(MAKE) --no-print-directory build BUILD_DIR=build-coverage \
		BUILD_TYPE=Debug COVERAGE=1
	@find build-coverage -name '*.gcda' -delete
	@cd build-coverage && ctest -j$(JOBS) $(if $(TESTS),-R '$(TESTS)') \
		>ctest.log 2>&1 || echo "coverage: some tests failed (build-coverage/ctest.log)"
	@scripts/coverage.sh build-coverage

install: build
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	rm -rf build build-*
