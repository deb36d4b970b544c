# FHIRGate — the two commands a newcomer needs:
#   make demo   set up and run the gateway in demo mode
#   make test   set up and run the tests
SWIFT ?= swift
APT_PACKAGES := libhiredis-dev redis-server pkg-config
SCRATCH ?= .build

.PHONY: deps build release test policy-test demo check fuzz fuzz-build fuzz-smoke bench load-bench clean

# Installs the system packages the build and tests need (when root), or says how.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing packages:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build --scratch-path $(SCRATCH)

release: deps
	$(SWIFT) build -c release --scratch-path $(SCRATCH)

test: deps
	$(SWIFT) build --build-tests --scratch-path $(SCRATCH)
	$(SWIFT) test --skip-build --scratch-path $(SCRATCH)
	$(SCRATCH)/debug/fhirgate policy test Policies

# Runs every *.tests.yaml in Policies/ against its policy.
policy-test: build
	$(SCRATCH)/debug/fhirgate policy test Policies

demo: build
	$(SCRATCH)/debug/fhirgate demo

check: build
	$(SCRATCH)/debug/fhirgate check --config Config/fhirgate.yaml

# Fuzzing with libFuzzer (see Fuzz/): request-side parsers and decisions, the policy
# loader, the RESP reader glue. `make fuzz` runs each for FUZZ_SECONDS; CI runs a smoke.
FUZZ_SCRATCH ?= .build-fuzz
FUZZ_TARGETS = FuzzRequest FuzzPolicy FuzzRESP
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_STAMP = $(FUZZ_SCRATCH)/release/FuzzRESP

$(FUZZ_STAMP): $(wildcard Sources/*/*.swift Sources/*/*/*.swift Sources/*/*/*/*.swift Fuzz/Sources/*/*.swift)
	rm -f $(FUZZ_SCRATCH)/*/release/description.json
	$(SWIFT) build --package-path Fuzz --scratch-path $(FUZZ_SCRATCH) -c release -Xswiftc -sanitize=fuzzer,address

fuzz-build: $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	for t in $(FUZZ_TARGETS); do mkdir -p .fuzz-corpus/$$t; \
	  SWIFT_BACKTRACE=enable=no $(FUZZ_SCRATCH)/release/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    .fuzz-corpus/$$t Fuzz/corpus/$$(echo $$t | sed 's/Fuzz//' | tr A-Z a-z) || exit 1; done

fuzz-smoke: $(FUZZ_STAMP)
	for t in $(FUZZ_TARGETS); do tmp=$$(mktemp -d); \
	  SWIFT_BACKTRACE=enable=no $(FUZZ_SCRATCH)/release/$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=1 \
	    $$tmp Fuzz/corpus/$$(echo $$t | sed 's/Fuzz//' | tr A-Z a-z); rc=$$?; rm -rf $$tmp; [ $$rc = 0 ] || exit $$rc; done

# Hot-path micro-benchmarks (release build).
bench: deps
	Benchmarks/run.sh

# Load benchmark next to nginx and HAProxy, then the scale figures (release build;
# needs nginx, haproxy, wrk, h2load, redis-server). Results: Benchmarks/RESULTS.md.
load-bench: deps
	Benchmarks/load/run.sh

clean:
	rm -rf $(SCRATCH) .build-fuzz .build-bench .fuzz-corpus .fhirgate-demo
